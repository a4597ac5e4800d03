"""The WebSocket endpoint a charge point talks to: ``/ocpp/<identity>``.

A thin adapter: it authenticates the handshake, parses frames, looks up the handler, awaits it
through the group committer and sends the answer. Calls *to* the station arrive on this
consumer's channel (from any process, see ocpp_gateway.calls) and go out one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from csms.models import IDENTITY_PATTERN, ChargePoint, ConnectionAttempt, MessageLog
from csms.models import RegistrationStatus as Registration
from csms.services.commands import (
    command_fail,
    command_mark_sent,
    command_mark_timed_out,
    command_record_answer,
)
from csms.services.stations import (
    charge_point_connected,
    charge_point_disconnected,
    connection_attempt_record,
)
from csms.station_auth import check_station_password, parse_basic_auth
from ocpp_gateway import protocol
from ocpp_gateway.committer import get_committer, log_row
from ocpp_gateway.handlers import HANDLERS, StationContext
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
    validate_request,
    validate_response,
)

logger = logging.getLogger(__name__)
_IDENTITY = re.compile(IDENTITY_PATTERN)
REPLACED_CLOSE_CODE = 4000


def _authenticate(
    identity: str, authorization: bytes | None, remote: str
) -> tuple[ChargePoint | None, str]:
    """Runs in the DB thread. Returns (station, '') or (None, refusal reason)."""
    charge_point = ChargePoint.objects.filter(identity=identity).first()
    if charge_point is None:
        if not settings.OCPP_ALLOW_UNKNOWN_CHARGE_POINTS:
            connection_attempt_record(
                identity=identity, reason=ConnectionAttempt.Reason.UNKNOWN, remote_address=remote
            )
            return None, "unknown identity"
        charge_point, _ = ChargePoint.objects.get_or_create(identity=identity)
    if charge_point.password_hash:
        credentials = parse_basic_auth(authorization)
        detail = ""
        if credentials is None:
            detail = "no Basic credentials"
        elif credentials[0] != identity:
            detail = "user name is not the identity"
        elif not check_station_password(credentials[1], charge_point.password_hash):
            detail = "wrong password"
        if detail:
            connection_attempt_record(
                identity=identity,
                reason=ConnectionAttempt.Reason.BAD_CREDENTIALS,
                remote_address=remote,
                detail=detail,
            )
            return None, detail
    return charge_point, ""


def _call_of(event: dict[str, Any]) -> tuple[str, dict[str, Any], float] | None:
    """(action, request, deadline as epoch seconds) when the ocpp.call event carries them
    (ocpp_gateway.calls sends them, saving a database read before the call goes out)."""
    action, request, deadline = event.get("action"), event.get("request"), event.get("deadline")
    if isinstance(action, str) and isinstance(request, dict) and isinstance(deadline, float):
        return action, request, deadline
    return None


class OcppConsumer(AsyncWebsocketConsumer):
    charge_point: ChargePoint | None = None
    identity: str = ""
    _offline_done = False

    # --- Connection lifecycle ---------------------------------------------------------------

    async def connect(self) -> None:
        self.identity = self.scope["url_route"]["kwargs"].get("identity", "")
        self.remote = self._remote_address()
        self.committer = get_committer()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._awaiting: tuple[str, asyncio.Future[list[Any]]] | None = None
        self._awaiting_action = ""
        self._in_flight: dict[str, Any] | None = None
        self._sender: asyncio.Task[None] | None = None
        offered = self.scope.get("subprotocols") or []

        if not _IDENTITY.fullmatch(self.identity):
            path = str(self.scope.get("path", ""))[:200]
            await self._refuse(ConnectionAttempt.Reason.MALFORMED, f"malformed identity: {path!r}")
            return
        if offered and protocol.SUBPROTOCOL not in offered:
            await self._refuse(ConnectionAttempt.Reason.SUBPROTOCOL, f"offered {offered}")
            return
        headers = dict(self.scope.get("headers") or [])
        charge_point, reason = await database_sync_to_async(_authenticate)(
            self.identity, headers.get(b"authorization"), self.remote
        )
        if charge_point is None:
            logger.warning("refused %s from %s: %s", self.identity, self.remote, reason)
            await self.close()
            return
        self.charge_point = charge_point
        self.ctx = StationContext(charge_point)
        replaced = await self.committer.run(
            lambda: charge_point_connected(
                charge_point=charge_point,
                channel_name=self.channel_name,
                remote_address=self.remote,
                timestamp=timezone.now(),
            )
        )
        if replaced:
            # The station reconnected while its old socket looked alive (half-open TCP, or
            # another process): close the old one so only this connection speaks for it.
            await self.channel_layer.send(replaced, {"type": "ocpp.replaced"})
        await self.accept(protocol.SUBPROTOCOL if offered else None)
        self._sender = asyncio.get_running_loop().create_task(self._send_calls())
        logger.info("%s connected from %s", self.identity, self.remote)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the consumer; if it dies on an unexpected error (a channel-layer failure, say),
        daphne closes the socket but Channels never calls disconnect(): do it here, so the
        station does not stay 'connected' with a dead channel and its commands fail now."""
        try:
            await super().__call__(scope, receive, send)
        except BaseException:
            if self.charge_point is not None and not self._offline_done:
                logger.exception("%s: consumer failed; marking the station offline", self.identity)
                try:
                    await asyncio.shield(self.disconnect(1011))
                except Exception:
                    logger.exception("%s: could not mark the station offline", self.identity)
            raise

    async def disconnect(self, code: int) -> None:
        charge_point = self.charge_point
        if charge_point is None or self._offline_done:
            return
        self._offline_done = True
        if self._sender is not None:
            self._sender.cancel()
        if self._awaiting is not None and not self._awaiting[1].done():
            self._awaiting[1].cancel()
        # The call in flight (sent, or being claimed) and those still queued end as failed now,
        # not at their timeout: their issuers learn at once. An answer stored just before
        # makes command_fail a no-op; the committer runs jobs in order, so it is seen.
        in_flight = self._in_flight
        undelivered = []
        while not self._outbox.empty():
            undelivered.append(self._outbox.get_nowait())
        channel_name = self.channel_name
        now = timezone.now()

        def went_offline() -> None:
            charge_point_disconnected(
                charge_point_id=charge_point.pk, channel_name=channel_name, timestamp=now
            )
            if in_flight is not None:
                command_fail(
                    command_id=in_flight["command_id"],
                    description="The station disconnected before answering.",
                )
            for event in undelivered:
                command_fail(
                    command_id=event["command_id"],
                    description="The station disconnected before the call was sent.",
                )

        await self.committer.run(went_offline)
        for event in [in_flight, *undelivered]:
            if event is not None:
                await self._notify_issuer(event)
        logger.info("%s disconnected (code %s)", self.identity, code)

    async def ocpp_replaced(self, event: dict[str, Any]) -> None:
        await self.close(code=REPLACED_CLOSE_CODE)

    async def _refuse(self, reason: str, detail: str) -> None:
        logger.warning("refused %r from %s: %s", self.identity, self.remote, detail)
        await database_sync_to_async(connection_attempt_record)(
            identity=self.identity, reason=reason, remote_address=self.remote, detail=detail
        )
        await self.close()

    def _remote_address(self) -> str:
        headers = dict(self.scope.get("headers") or [])
        forwarded = headers.get(b"x-forwarded-for")
        if forwarded:
            return forwarded.decode("latin-1").split(",")[0].strip()
        client = self.scope.get("client")
        return f"{client[0]}:{client[1]}" if client else ""

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
        """A Command for this station, from any process: {"command_id", "reply_channel"?}.

        Queued, not awaited here: the consumer must keep reading frames (the answer among
        them) while a call is outstanding."""
        self._outbox.put_nowait(event)

    async def _send_calls(self) -> None:
        # OCPP-J allows one outstanding CALL per direction: send, await answer, next.
        while True:
            event = await self._outbox.get()
            self._in_flight = event
            try:
                await self._perform_call(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s: sending command %s failed", self.identity, event)
            self._in_flight = None
            await self._notify_issuer(event)

    async def _perform_call(self, event: dict[str, Any]) -> None:
        command_id = event["command_id"]
        sent = self.committer.run(lambda: command_mark_sent(command_id=command_id))
        call = _call_of(event)
        if call is None:
            # An event without the call itself: read it (claiming the command) first.
            command = await sent
            if command is None:  # already final: timed out while queued, or a duplicate
                return
            deadline = command.deadline.timestamp()
            call = (command.action, command.request, deadline)
            claim: asyncio.Future[Any] | None = None
        elif time.time() >= call[2]:
            await sent  # marks it timed out while queued
            return
        else:
            # The event carries the call: send it now and let the claim (state "sent") commit
            # meanwhile; the committer runs jobs in order, so the answer is stored after it.
            claim = asyncio.ensure_future(sent)
        action, request, deadline = call
        message_id = str(command_id)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._awaiting = (message_id, future)
        self._awaiting_action = action
        try:
            try:
                await self._send(
                    protocol.call(message_id, action, request), protocol.CALL, action, message_id
                )
            except Exception as exc:
                logger.warning("%s: could not send %s: %s", self.identity, action, exc)
                reason = f"Could not send the call: {exc}"
                if claim is not None:
                    await claim
                await self.committer.run(
                    lambda: command_fail(command_id=command_id, description=reason)
                )
                return
            answer = await asyncio.wait_for(future, timeout=max(deadline - time.time(), 0.01))
        except TimeoutError:
            if claim is not None:
                await claim
            await self.committer.run(lambda: command_mark_timed_out(command_id=command_id))
            return
        finally:
            self._awaiting = None
        if claim is not None and await claim is None:
            return  # closed meanwhile (timed out or failed elsewhere): the answer is late
        await self.committer.run(self._store_answer, command_id, action, answer)

    @staticmethod
    def _store_answer(command_id: Any, action: str, answer: list[Any]) -> None:
        if answer[0] == protocol.CALLERROR:
            details = answer[4] if len(answer) > 4 and isinstance(answer[4], dict) else {}
            code = str(answer[2]) if len(answer) > 2 and answer[2] else "GenericError"
            command_record_answer(
                command_id=command_id,
                error_code=code,
                error_description=str(answer[3]) if len(answer) > 3 else "",
                error_details=details,
            )
            return
        payload = answer[2] if len(answer) > 2 else None
        try:
            validate_response(action, payload)
        except OcppError as exc:
            command_record_answer(
                command_id=command_id,
                error_code=exc.code,
                error_description=f"Station answered with an invalid payload: {exc.description}",
                error_details={"response": payload},
            )
            return
        command_record_answer(command_id=command_id, response=payload)

    def _handle_answer(self, frame: list[Any], text: str) -> None:
        message_id = protocol.readable_message_id(frame)
        action = ""
        awaiting = self._awaiting
        if awaiting is not None and awaiting[0] == message_id and not awaiting[1].done():
            action = self._awaiting_action
            awaiting[1].set_result(frame)
        else:
            logger.warning("%s answered a call we are not waiting for: %.200s", self.identity, text)
        self._log(
            MessageLog.Direction.IN,
            text,
            frame[0],
            action,
            message_id if message_id is not None else "",
        )

    async def _notify_issuer(self, event: dict[str, Any]) -> None:
        reply_channel = event.get("reply_channel")
        if not reply_channel:
            return
        try:
            await self.channel_layer.send(
                reply_channel, {"type": "ocpp.command_done", "command_id": event["command_id"]}
            )
        except Exception as exc:  # the issuer reads the stored Command at its deadline anyway
            logger.warning("%s: could not notify %s: %s", self.identity, reply_channel, exc)

    # --- Output -----------------------------------------------------------------------------

    async def _send_error(self, message_id: Any, error: OcppError, action: str = "") -> None:
        await self._send(
            protocol.call_error(message_id, error.code, error.description, error.details),
            protocol.CALLERROR,
            action,
            message_id,
        )

    async def _send(self, text: str, message_type: int, action: str, message_id: Any) -> None:
        await self.send(text_data=text)
        self._log(MessageLog.Direction.OUT, text, message_type, action, message_id)

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
