"""The driver app's live view of a session: WebSocket ``/ws/app/sessions/<id>/``.

Authentication: the JWT access token, as ``?token=<access>`` in the URL (browsers cannot set
headers on a WebSocket) or as a subprotocol ``bearer.<access>`` beside ``app.v1`` (kept out
of URLs and their logs). A missing, wrong or expired token closes with 4401; a session that is
not the driver's (or no session) with 4404, in both cases before the handshake is accepted
(the client sees the close code; browsers report a failed handshake as 1006). The token is
checked once at connect: an open socket outlives its 5-minute token, as a stream should.

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

CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
SUBPROTOCOL = "app.v1"
BEARER_PREFIX = "bearer."


def _token_from(scope: dict[str, Any]) -> tuple[str, str | None]:
    """(token, subprotocol to answer with) from the query string or the subprotocols."""
    for protocol in scope.get("subprotocols") or []:
        if protocol.startswith(BEARER_PREFIX):
            chosen = SUBPROTOCOL if SUBPROTOCOL in scope["subprotocols"] else None
            return protocol[len(BEARER_PREFIX) :], chosen
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    chosen = SUBPROTOCOL if SUBPROTOCOL in (scope.get("subprotocols") or []) else None
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
