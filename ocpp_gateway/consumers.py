"""The WebSocket endpoint a charge point talks to: ``/ocpp/<identity>``.

A thin adapter: it authenticates the handshake, parses frames, looks up the handler, awaits it
through the group committer and sends the answer. Calls *to* the station arrive on this
consumer's channel (from any process, see ocpp_gateway.calls) and are handed to its
CallQueue (ocpp_gateway.call_queue), which sends them one at a time and matches the answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.conf import settings
from django.utils import timezone

from csms import throttling
from csms.models import IDENTITY_PATTERN, ChargePoint, ConnectionAttempt, MessageLog
from csms.models import RegistrationStatus as Registration
from csms.services.stations import (
    charge_point_authenticate,
    charge_point_connected,
    charge_point_disconnected,
    connection_attempt_record,
)
from csms.station_auth import parse_basic_auth
from ocpp_gateway import layer_watch, protocol
from ocpp_gateway.call_queue import CallQueue
from ocpp_gateway.committer import get_committer, log_row
from ocpp_gateway.handlers import HANDLERS, StationContext
from ocpp_gateway.operations import REDACTING_ACTIONS, request_redacted, response_redacted
from ocpp_gateway.presence import get_presence
from ocpp_gateway.schemas import (
    CENTRAL_ACTIONS,
    KNOWN_ACTIONS,
    STATION_ACTIONS,
    FormationViolation,
    InternalErr,
    NotImplementedErr,
    NotSupportedErr,
    OcppError,
    SecurityErr,
    TypeConstraintViolation,
    validate_request,
)

logger = logging.getLogger(__name__)
_IDENTITY = re.compile(IDENTITY_PATTERN)
REPLACED_CLOSE_CODE = 4000
_THROTTLED = "too many failed handshakes"


def _station_limits(identity: str, address: str) -> list[throttling.Check]:
    window = settings.OCPP_AUTH_THROTTLE_WINDOW
    return [
        (
            throttling.Limit("ocpp-address", settings.OCPP_AUTH_FAILURES_PER_ADDRESS, window),
            address,
        ),
        (
            throttling.Limit("ocpp-identity", settings.OCPP_AUTH_FAILURES_PER_IDENTITY, window),
            identity,
        ),
    ]


def _throttled(identity: str, address: str) -> str:
    """Runs in the DB thread, before anything else about the handshake is looked at. While the
    address or the identity is over its failure limit, returns the refusal reason ('' when not
    throttled) after tallying the attempt: one aggregated ConnectionAttempt write per identity
    and address every OCPP_CONNECTION_ATTEMPT_AGGREGATE_SECONDS, none in between."""
    wait = throttling.retry_after(_station_limits(identity, address))
    if not wait:
        return ""
    detail = f"{_THROTTLED}; retry in {wait} s"
    count = throttling.tally(
        f"ocpp:{identity}|{address}", every=settings.OCPP_CONNECTION_ATTEMPT_AGGREGATE_SECONDS
    )
    if count:
        # Logged when written, not per attempt: a flood must not flood the log either.
        logger.warning(
            "throttled %r from %s: %d handshake(s) refused unread; %s",
            identity,
            address or "?",
            count,
            detail,
        )
        connection_attempt_record(
            identity=identity,
            reason=ConnectionAttempt.Reason.THROTTLED,
            remote_address=address,
            detail=detail,
            count=count,
        )
    return detail


def _refusal_record(identity: str, address: str, reason: str, detail: str) -> None:
    """Runs in the DB thread: a refused handshake counts against its address and identity,
    and is recorded (aggregated with its repeats)."""
    throttling.failure_record(_station_limits(identity, address))
    connection_attempt_record(
        identity=identity, reason=reason, remote_address=address, detail=detail
    )


def _authenticate(
    identity: str, authorization: bytes | None, address: str
) -> tuple[ChargePoint | None, str]:
    """Runs in the DB thread. Returns (station, '') or (None, refusal reason)."""
    throttled = _throttled(identity, address)
    if throttled:
        return None, throttled
    charge_point = ChargePoint.objects.filter(identity=identity).first()
    if charge_point is None:
        if not settings.OCPP_ALLOW_UNKNOWN_CHARGE_POINTS:
            _refusal_record(identity, address, ConnectionAttempt.Reason.UNKNOWN, "")
            return None, "unknown identity"
        charge_point, _ = ChargePoint.objects.get_or_create(identity=identity)
    if charge_point.password_hash or charge_point.password_hash_next:
        credentials = parse_basic_auth(authorization)
        own = credentials is not None and credentials[0] == identity
        password = credentials[1] if credentials is not None and own else None
        detail = ""
        if not charge_point_authenticate(charge_point=charge_point, password=password):
            if credentials is None:
                detail = "no Basic credentials"
            else:
                detail = "wrong password" if own else "user name is not the identity"
        if detail:
            _refusal_record(identity, address, ConnectionAttempt.Reason.BAD_CREDENTIALS, detail)
            return None, detail
    return charge_point, ""


def _call_logged(text: str, action: str) -> str | None:
    """The CALL frame ``text`` as the message log may keep it: None when it carries nothing to
    mask (most actions: no parsing), else the frame with its secrets masked."""
    if action not in REDACTING_ACTIONS:
        return None
    frame = protocol.loads(text)
    redacted = request_redacted(action, frame[3])
    return None if redacted is frame[3] else protocol.call(frame[1], action, redacted)


def _answer_logged(
    frame: list[Any], action: str | None, text: str, *, ascii_only: bool = False
) -> str:
    """The CALLRESULT/CALLERROR ``text`` (``frame`` parsed) as the message log may keep it:
    with the secrets of ``action``'s answer masked, else as received. ``ascii_only`` for a
    frame holding values UTF-8 cannot carry (protocol.UnrepresentableValue): they are written
    as escapes, so the masked copy stays storable."""
    if action not in REDACTING_ACTIONS or frame[0] != protocol.CALLRESULT or len(frame) < 3:
        return text
    redacted = response_redacted(action, frame[2])
    if redacted is frame[2]:
        return text
    masked = [*frame[:2], redacted, *frame[3:]]
    return json.dumps(masked, ensure_ascii=True) if ascii_only else protocol.dumps(masked)


def _refuse_before_authentication(identity: str, address: str, reason: str, detail: str) -> str:
    """Runs in the DB thread: a handshake refused for its form (identity, subprotocol).
    Returns the throttling reason if it was throttled instead ('' if not)."""
    throttled = _throttled(identity, address)
    if not throttled:
        _refusal_record(identity, address, reason, detail)
    return throttled


class OcppConsumer(AsyncWebsocketConsumer):
    charge_point: ChargePoint | None = None
    identity: str = ""
    _offline_done = False

    # --- Connection lifecycle ---------------------------------------------------------------

    async def connect(self) -> None:
        self.identity = self.scope["url_route"]["kwargs"].get("identity", "")
        self.remote = self._remote_address()
        self.committer = get_committer()
        self.calls = CallQueue(
            name=self.identity,
            run=self.committer.run,
            send=lambda text, action, message_id: self._send(
                text, protocol.CALL, action, message_id, logged=_call_logged(text, action)
            ),
            # Looked up at each send, not bound now: the layer's send may be replaced later.
            notify=lambda channel, message: self.channel_layer.send(channel, message),
        )
        offered = self.scope.get("subprotocols") or []

        if not _IDENTITY.fullmatch(self.identity):
            path = str(self.scope.get("path", ""))[:200]
            await self._refuse(ConnectionAttempt.Reason.MALFORMED, f"malformed identity: {path!r}")
            return
        acceptable, subprotocol = protocol.choose_subprotocol(offered)
        if not acceptable:
            await self._refuse(ConnectionAttempt.Reason.SUBPROTOCOL, f"offered {offered}")
            return
        headers = dict(self.scope.get("headers") or [])
        charge_point, reason = await database_sync_to_async(_authenticate)(
            self.identity, headers.get(b"authorization"), self._client_host()
        )
        if charge_point is None:
            # A throttled refusal was logged, aggregated, by _throttled.
            level = logging.DEBUG if reason.startswith(_THROTTLED) else logging.WARNING
            logger.log(level, "refused %s from %s: %s", self.identity, self.remote, reason)
            await self.close()
            return
        self.charge_point = charge_point
        self.ctx = StationContext(charge_point)
        presence = self.presence = get_presence()
        await presence.ensure_started()
        replaced = await self.committer.run(
            lambda: charge_point_connected(
                charge_point=charge_point,
                channel_name=self.channel_name,
                remote_address=self.remote,
                timestamp=timezone.now(),
                gateway_process=presence.id,
            )
        )
        presence.held(charge_point.pk, self.channel_name)
        if replaced:
            # The station reconnected while its old socket looked alive (half-open TCP, or
            # another process): close the old one so only this connection speaks for it.
            try:
                await self.channel_layer.send(replaced, {"type": "ocpp.replaced"})
            except Exception as exc:
                # Channel layer down: the old consumer cannot be told, but the station row
                # names this channel now, so the old one neither receives calls nor marks the
                # station offline when it ends. Not a reason to refuse the station.
                logger.warning(
                    "%s: could not close its previous connection: %s", self.identity, exc
                )
        await self.accept(subprotocol)
        self.calls.start()
        logger.info("%s connected from %s", self.identity, self.remote)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the consumer; if it dies on an unexpected error, daphne closes the socket but
        Channels never calls disconnect(): do it here, so the station does not stay
        'connected' with a dead channel and its commands fail now."""
        try:
            await self._serve(scope, receive, send)
        except BaseException:
            if self.charge_point is not None and not self._offline_done:
                logger.exception("%s: consumer failed; marking the station offline", self.identity)
                try:
                    await asyncio.shield(self.disconnect(1011))
                except Exception:
                    logger.exception("%s: could not mark the station offline", self.identity)
            raise

    async def _serve(self, scope: Any, receive: Any, send: Any) -> None:
        """``AsyncConsumer.__call__`` with one change: the channel is read through
        ``layer_watch.receive``, which waits out an outage of the channel layer instead of
        raising. Channels' own version would end the consumer on the first failed read, so a
        Redis restart dropped every station (1011) though their path needs only the database.
        The dispatch loop is still Channels' ``await_many_dispatch``."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        sources = [receive]
        if self.channel_layer is not None:
            layer = self.channel_layer
            # Local to this process: no round trip to Redis, so connecting works during an
            # outage too (and the consumer has no groups to join).
            self.channel_name = await layer.new_channel()
            channel = self.channel_name
            sources.append(lambda: layer_watch.receive(layer, channel))
        try:
            await await_many_dispatch(sources, self.dispatch)
        except StopConsumer:
            pass

    async def disconnect(self, code: int) -> None:
        charge_point = self.charge_point
        if charge_point is None or self._offline_done:
            return
        self._offline_done = True
        channel_name = self.channel_name
        self.presence.released(charge_point.pk, channel_name)
        now = timezone.now()
        # Marking the station offline shares the job that fails its waiting calls.
        await self.calls.close(
            lambda: charge_point_disconnected(
                charge_point_id=charge_point.pk, channel_name=channel_name, timestamp=now
            )
        )
        logger.info("%s disconnected (code %s)", self.identity, code)

    async def ocpp_replaced(self, event: dict[str, Any]) -> None:
        await self.close(code=REPLACED_CLOSE_CODE)

    async def _refuse(self, reason: str, detail: str) -> None:
        throttled = await database_sync_to_async(_refuse_before_authentication)(
            self.identity, self._client_host(), reason, detail
        )
        level = logging.DEBUG if throttled else logging.WARNING
        logger.log(level, "refused %r from %s: %s", self.identity, self.remote, detail)
        await self.close()

    def _client_host(self) -> str:
        """The client's address without its port: what throttling counts and refused attempts
        record (a retry comes from a new port each time)."""
        client = self.scope.get("client")
        return str(client[0]) if client else ""

    def _remote_address(self) -> str:
        """The peer as csms.proxy left it: the real client behind a trusted proxy (port 0,
        unknown there), else the TCP peer. Never a header read here: any client can send one."""
        client = self.scope.get("client")
        if not client:
            return ""
        host, port = str(client[0]), client[1]
        return f"{host}:{port}" if port else host

    # --- Frames from the station ------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        assert self.charge_point is not None
        self.committer.touch(self.charge_point.pk, timezone.now())
        if text_data is None:
            # OCPP-J is text only; a binary frame has no readable id to answer to.
            self._log(MessageLog.Direction.IN, repr(bytes_data)[:2000])
            logger.warning("%s sent a binary frame; ignored", self.identity)
            return
        try:
            frame = protocol.loads(text_data)
        except protocol.UnrepresentableValue as exc:
            await self._handle_unrepresentable(exc, text_data)
            return
        except ValueError:
            self._log(MessageLog.Direction.IN, text_data)
            logger.warning("%s sent a frame that is not JSON: %.200s", self.identity, text_data)
            sniffed = protocol.sniff_message_id(text_data)
            if sniffed is not None:
                await self._send_error(sniffed, FormationViolation("Frame is not valid JSON"))
            return
        message_type = protocol.message_type_of(frame)
        if message_type is None:
            self._log(MessageLog.Direction.IN, text_data)
            logger.warning("%s sent a frame that is not OCPP: %.200s", self.identity, text_data)
            if isinstance(frame, list):
                message_id = protocol.readable_message_id(frame)
                if message_id is not None:
                    await self._send_error(
                        message_id,
                        FormationViolation("Frame is not an OCPP-J CALL/CALLRESULT/CALLERROR"),
                    )
            return
        if message_type == protocol.CALL:
            await self._handle_call(frame, text_data)
        else:
            self._handle_answer(frame, text_data)

    async def _handle_call(self, frame: list[Any], text: str) -> None:
        message_id = protocol.readable_message_id(frame)
        action = frame[2] if len(frame) > 2 and isinstance(frame[2], str) else ""
        self._log(MessageLog.Direction.IN, text, protocol.CALL, action, message_id)
        if len(frame) != 4 or not isinstance(frame[1], str) or not action:
            logger.warning("%s sent a malformed CALL: %.200s", self.identity, text)
            if message_id is not None:
                await self._send_error(
                    message_id,
                    FormationViolation('A CALL is [2, "<messageId>", "<action>", {<payload>}]'),
                )
            return
        assert isinstance(message_id, str)
        if len(message_id) > protocol.MAX_MESSAGE_ID_LENGTH:
            # OCPP-J 1.6 §4.1.4. Answered with the id as sent, so the station can match it.
            await self._send_error(
                message_id,
                FormationViolation(
                    f"A message id is at most {protocol.MAX_MESSAGE_ID_LENGTH} characters"
                ),
                action,
            )
            return
        try:
            result = await self._dispatch(action, frame[3])
        except OcppError as exc:
            logger.warning("%s %s %s: %s", self.identity, action, exc.code, exc.description)
            await self._send_error(message_id, exc, action)
        except Exception:
            logger.exception("%s %s failed", self.identity, action)
            await self._send_error(message_id, InternalErr("An internal error occurred"), action)
        else:
            await self._send(
                protocol.call_result(message_id, result), protocol.CALLRESULT, action, message_id
            )

    async def _handle_unrepresentable(self, exc: protocol.UnrepresentableValue, text: str) -> None:
        """A frame holding a value nothing can carry (see protocol.UnrepresentableValue). Only
        this frame is affected: it is logged (the raw text is valid UTF-8; the id and action
        columns get escapes) and answered where an answer can be written at all."""
        frame, where = exc.frame, exc.where
        message_type = protocol.message_type_of(frame)
        message_id = protocol.readable_message_id(frame) if isinstance(frame, list) else None
        answerable = message_id is not None and where[:1] != (1,)
        action = ""
        if message_type == protocol.CALL:
            raw_action = frame[2] if len(frame) > 2 else ""
            action = protocol.storable(raw_action) if isinstance(raw_action, str) else ""
        elif message_type is not None and answerable:
            # The answer to one of our calls: fail that command now (a stored answer could
            # not hold the value) rather than let it wait for its timeout.
            field = protocol.describe_path(where[1:])
            action = (
                self.calls.answer(
                    [
                        protocol.CALLERROR,
                        message_id,
                        TypeConstraintViolation.code,
                        f"Station answered with an invalid payload: {field} is {exc.what}",
                        {},
                    ],
                    text,
                )
                or ""
            )
            # An answer to a call whose answers may carry secrets (a GetConfiguration that
            # reports the AuthorizationKey) is logged masked, as _handle_answer does.
            text = _answer_logged(frame, action, text, ascii_only=True)
        logger.warning("%s sent %s: %.200s", self.identity, exc, text)
        self._log(
            MessageLog.Direction.IN,
            text,
            message_type,
            action,
            protocol.storable(str(message_id)) if message_id is not None else "",
        )
        if not answerable or message_type in (protocol.CALLRESULT, protocol.CALLERROR):
            # No id, or the id itself is the bad value (any answer would have to carry it),
            # or an answer, which is never answered.
            return
        error: OcppError
        if message_type != protocol.CALL:
            error = FormationViolation("Frame is not an OCPP-J CALL/CALLRESULT/CALLERROR")
        elif where[:1] == (3,) and len(frame) == 4:
            field = protocol.describe_path(where[1:])
            error = TypeConstraintViolation(f"{field} is {exc.what}", {"field": field})
        elif where[:1] == (2,):
            error = NotImplementedErr(f"Unknown action {action[:60]!r}")
        else:
            error = FormationViolation(f"The frame holds {exc.what}")
        await self._send_error(message_id, error, action)

    async def _dispatch(self, action: str, payload: Any) -> dict[str, Any]:
        assert self.charge_point is not None
        if action not in STATION_ACTIONS:
            if action in KNOWN_ACTIONS or action in CENTRAL_ACTIONS:
                raise NotSupportedErr(f"{action} is not supported from a charge point")
            raise NotImplementedErr(f"Unknown action {action[:60]!r}")
        if (
            self.charge_point.registration_status == Registration.REJECTED
            and action != "BootNotification"
        ):
            raise SecurityErr("The station's registration was rejected; send BootNotification")
        validated = validate_request(action, payload)
        return await self.committer.run(HANDLERS[action], self.ctx, validated)

    # --- Calls to the station ---------------------------------------------------------------

    async def ocpp_call(self, event: dict[str, Any]) -> None:
        """A Command for this station, from any process: {"command_id", "reply_channel"?}."""
        self.calls.enqueue(event)

    def _handle_answer(self, frame: list[Any], text: str) -> None:
        action = self.calls.answer(frame, text)
        message_id = protocol.readable_message_id(frame)
        text = _answer_logged(frame, action, text)
        self._log(
            MessageLog.Direction.IN,
            text,
            frame[0],
            action or "",
            message_id if message_id is not None else "",
        )

    # --- Output -----------------------------------------------------------------------------

    async def _send_error(self, message_id: Any, error: OcppError, action: str = "") -> None:
        await self._send(
            protocol.call_error(message_id, error.code, error.description, error.details),
            protocol.CALLERROR,
            action,
            message_id,
        )

    async def _send(
        self,
        text: str,
        message_type: int,
        action: str,
        message_id: Any,
        *,
        logged: str | None = None,
    ) -> None:
        """Send ``text``; log it, or ``logged`` instead (the frame with its secrets masked)."""
        await self.send(text_data=text)
        self._log(MessageLog.Direction.OUT, logged or text, message_type, action, message_id)

    def _log(
        self,
        direction: str,
        text: str,
        message_type: int | None = None,
        action: str = "",
        message_id: Any = "",
    ) -> None:
        if not settings.OCPP_MESSAGE_LOG_ENABLED:
            return
        self.committer.log(
            log_row(
                charge_point_id=self.charge_point.pk if self.charge_point else None,
                identity=self.identity,
                direction=direction,
                message_type=message_type,
                action=action[:64],
                message_id=str(message_id)[:64] if message_id is not None else "",
                payload=protocol.loggable(text),
            )
        )
