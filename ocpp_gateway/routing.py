from __future__ import annotations

from django.urls import re_path

from ocpp_gateway.consumers import OcppConsumer

# Every WebSocket path reaches the consumer, which refuses malformed identities (and any path
# outside /ocpp/) at the handshake with a 403 and records the attempt, instead of a routing
# error surfacing as HTTP 500.
websocket_urlpatterns = [
    re_path(r"^ocpp/(?P<identity>.*?)/?$", OcppConsumer.as_asgi()),
    re_path(r"^(?P<path>.*)$", OcppConsumer.as_asgi()),
]
