"""The driver app's live view of a session: WebSocket ``/ws/app/sessions/<id>/``.

Authentication: the JWT access token (browsers cannot set headers on a WebSocket), in one of
two forms:

- recommended: two subprotocols, ``app.v1`` and ``bearer.<access>``:
  ``new WebSocket(url, ["app.v1", "bearer." + access])``. The server answers ``app.v1``; a
  browser fails any handshake whose answer names no protocol it offered (or names none when
  it offered some), so ``app.v1`` is what we answer, never the token (echoing it would put the
  credential in the response and in ``socket.protocol``). The token stays out of URLs, which
  reverse proxies log;
- ``?token=<access>`` in the URL, for clients that cannot send subprotocols (it ends up in
  the proxy's access log: prefer the subprotocols).

Subprotocols offered without ``app.v1`` (``bearer.<access>`` alone, or anything else) close
with 4400: there is no protocol we could answer that the client asked for. A missing, wrong
or expired token closes with 4401; a session that is not the driver's (or no session) with
4404. All of these close before the handshake is accepted, which the ASGI server answers
with an HTTP 403 (a browser reports a failed handshake, 1006): the codes name the reason in
the code and in Channels' test communicator, not on the wire. The token is checked once at
connect: an open socket outlives its 5-minute token, as a stream should.

On connect the socket gets the session's snapshot, then one message per change: every stored
meter batch and state change is pushed by ``wallet.services.sessions.app_session_push`` to
the channel-layer group ``app-session-<id>``. Messages are ``{"type": "session", ...}`` with
the fields of ``GET /api/v1/app/sessions/<id>/``. The socket only listens: what the client
sends is ignored (``{"type": "ping"}`` gets ``{"type": "pong"}``).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken

from wallet.models import AppSession
from wallet.selectors.sessions import app_session_snapshot
from wallet.services.sessions import group_name

logger = logging.getLogger(__name__)

CLOSE_BAD_SUBPROTOCOL = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
SUBPROTOCOL = "app.v1"
BEARER_PREFIX = "bearer."


def _token_from(scope: dict[str, Any]) -> tuple[str, str | None]:
    """(token, subprotocol to answer with) from the subprotocols or the query string. Call
    only when the client offered no subprotocols or ``app.v1`` among them."""
    offered = scope.get("subprotocols") or []
    chosen = SUBPROTOCOL if SUBPROTOCOL in offered else None
    for protocol in offered:
        if protocol.startswith(BEARER_PREFIX):
            return protocol[len(BEARER_PREFIX) :], chosen
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (query.get("token") or [""])[0], chosen


def _user_id(raw: str) -> Any:
    if not raw:
        return None
    try:
        token = AccessToken(raw)  # type: ignore[arg-type]
    except TokenError:
        return None
    return token.get(api_settings.USER_ID_CLAIM)


def _snapshot(session_id: int, user_id: Any) -> dict[str, Any] | None:
    session = (
        AppSession.objects.select_related("transaction", "wallet", "charge_point")
        .filter(pk=session_id, wallet__user_id=user_id, wallet__user__is_active=True)
        .first()
    )
    return None if session is None else app_session_snapshot(session)


class AppSessionConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    group: str | None = None

    async def connect(self) -> None:
        offered = self.scope.get("subprotocols") or []
        if offered and SUBPROTOCOL not in offered:
            # Accepting with no protocol fails the browser's handshake anyway; say why.
            logger.warning(
                "app WebSocket refused: subprotocols offered without %s (%d offered)",
                SUBPROTOCOL,
                len(offered),
            )
            await self.close(code=CLOSE_BAD_SUBPROTOCOL)
            return
        raw, subprotocol = _token_from(self.scope)
        user_id = _user_id(raw)
        if user_id is None:
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        try:
            session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        except (KeyError, ValueError):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        snapshot = await database_sync_to_async(_snapshot)(session_id, user_id)
        if snapshot is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = group_name(session_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept(subprotocol=subprotocol)
        await self.send_json({"type": "session", **snapshot})

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def session_push(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "session", **event["message"]})
