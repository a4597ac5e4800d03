"""ASGI entry point: HTTP (Django, admin, API, static files) and WebSocket (/ocpp/<identity>).

Served by daphne; see the runplatform command and docker-compose.yml for the flags that keep
stations connected for months (no daily websocket timeout).
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from csms.proxy import TrustedProxyMiddleware  # noqa: E402
from ocpp_gateway.presence import starting_presence  # noqa: E402
from ocpp_gateway.routing import websocket_urlpatterns  # noqa: E402
from wallet.routing import websocket_urlpatterns as app_websocket_urlpatterns  # noqa: E402

# Outermost: forwarded headers are trusted, or stripped, before anything reads them. Then
# starting_presence: the process registers its heartbeat and clears what a dead gateway process
# held before it serves anything (ocpp_gateway.presence).
application = TrustedProxyMiddleware(
    starting_presence(
        ProtocolTypeRouter(
            {
                # Static files (admin, API docs) from the app itself: no separate web server
                # needed for a platform whose HTTP traffic is operators, not the public.
                "http": ASGIStaticFilesHandler(django_asgi_app),
                # No origin check: charge points are not browsers and send no Origin header;
                # the app's sockets authenticate with a token, not a cookie. The driver app's
                # routes (/ws/app/...) come first: the gateway's last route takes any path.
                "websocket": URLRouter(app_websocket_urlpatterns + websocket_urlpatterns),
            }
        )
    )
)


def _settle_heap() -> None:
    """Compile the OCPP validators and move everything loaded so far out of the collector's
    reach. A full garbage collection walks every live object: with Django, DRF and the gateway
    loaded that took long enough to stall every station at once every second or two under
    load (bench/README.md). Objects that live as long as the process need no collecting."""
    import gc

    from ocpp_gateway.schemas import warm_up

    warm_up()
    gc.collect()
    gc.freeze()


_settle_heap()
