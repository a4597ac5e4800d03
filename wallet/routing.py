"""WebSocket routes of the driver app (mounted in csms.asgi before the gateway's catch-all)."""

from __future__ import annotations

from django.urls import re_path

from wallet.consumers import AppSessionConsumer

websocket_urlpatterns = [
    re_path(r"^ws/app/sessions/(?P<session_id>[0-9]+)/?$", AppSessionConsumer.as_asgi()),
]
