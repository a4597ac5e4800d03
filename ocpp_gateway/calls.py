"""Sending OCPP calls to stations: the one path, from any process.

An API request on any web worker, an admin action, a Celery task or a management command calls
``command_send`` (or ``acommand_send`` from async code). It checks the call, stores a queued
:class:`~csms.models.Command` and, once that is committed, sends a channel-layer event to the
channel of the consumer holding the station's socket (``ChargePoint.ws_channel_name``), on
whichever daphne process that is: the in-memory layer within one process, Redis across
processes. That consumer sends the calls of its station one at a time, stores each answer and
tells the issuer on a reply channel; the issuer then reads the stored Command.

Nothing is left pending: the consumer times a call out at ``created_at + timeout``; an issuer
that hears nothing by then (the gateway process died) marks it timed out itself; and the
``commands_time_out_stale`` task closes what no issuer waited for.

One module past ~400 lines on purpose: check, store, dispatch and wait are one protocol, read
top to bottom, and the errors above it are its vocabulary (callers name them ``calls.X``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from csms.models import ChargePoint, Command, RegistrationStatus
from csms.permissions import command_refusal
from csms.services.commands import (
    command_create,
    command_fail,
    command_fail_if_undeliverable,
    command_mark_timed_out,
)
from ocpp_gateway.operations import OPERATIONS, Operation, request_redacted
from ocpp_gateway.protocol import jsonable
from ocpp_gateway.schemas import CENTRAL_ACTIONS, OcppError, validate_request

logger = logging.getLogger(__name__)

# Beyond the call's own deadline, how long an issuer waits for the gateway to report before it
# concludes the gateway is gone and closes the command itself.
ISSUER_GRACE_SECONDS = 1.0
# How often a waiting issuer with no news checks that its command can still be delivered.
CHECK_INTERVAL_SECONDS = 1.0
# Operations a station in Pending registration may not receive (OCPP 1.6 §4.2.1: while
# Pending, the central system may only configure and query the station).
NOT_WHILE_PENDING = frozenset({"RemoteStartTransaction", "RemoteStopTransaction"})
MAX_TIMEOUT_SECONDS = 300.0


class CommandError(Exception):
    """A command refused before anything was sent. ``status_code`` is the HTTP status the API
    answers with; ``field`` names the offending payload field, when there is one."""

    status_code = 400
    code = "invalid_command"

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UnknownAction(CommandError):
    code = "unknown_action"


class InvalidPayload(CommandError):
    code = "invalid_payload"


class CommandForbidden(CommandError):
    """The issuer's role may not send this operation (csms.permissions.command_refusal)."""

    status_code = 403
    code = "permission_denied"


class StationOffline(CommandError):
    status_code = 409
    code = "station_offline"


class CommandNotAllowed(CommandError):
    status_code = 409
    code = "not_allowed"


class CommandGone(CommandError):
    """The command's record vanished while its issuer waited (its station was deleted)."""

    status_code = 410
    code = "command_deleted"


class GatewayUnavailable(CommandError):
    """The call could not be handed to the station's gateway (channel layer down or full)."""

    status_code = 503
    code = "gateway_unavailable"


@dataclass(slots=True)
class Outcome:
    """One station's result in a multi-station send: a Command, or why none was sent."""

    charge_point: ChargePoint
    command: Command | None = None
    error: CommandError | None = None


# --- Checking and storing -----------------------------------------------------------------


def command_check(
    *, charge_point: ChargePoint, action: str, payload: Any, issued_by: Any = None
) -> tuple[dict[str, Any], Operation]:
    """Validate a call before anything is stored: whether ``issued_by`` may send it
    (csms.permissions.command_refusal; None is the platform itself), then the operation fills
    in what the CSMS assigns (ocpp_gateway.operations), then the OCPP schema decides. Returns
    the JSON-ready request and its operation. Raises CommandError subclasses
    (CommandForbidden before the schema check: a refused caller learns nothing more)."""
    operation = OPERATIONS.get(action)
    if operation is None or action not in CENTRAL_ACTIONS:
        raise UnknownAction(
            f"{action!r} is not an OCPP 1.6 operation of the central system. "
            f"Use one of: {', '.join(sorted(CENTRAL_ACTIONS))}.",
            field="action",
        )
    if not isinstance(payload, dict):
        raise InvalidPayload("payload must be a JSON object", field="payload")
    # Here, in the one path every caller takes, so the API, the admin, tasks and management
    # commands cannot disagree about who sends what.
    refusal = command_refusal(issued_by, action, payload)
    if refusal is not None:
        logger.warning(
            "command %s to %s refused for %s: %s",
            action,
            charge_point.identity,
            getattr(issued_by, "username", issued_by),
            refusal,
        )
        raise CommandForbidden(refusal)
    payload = dict(payload)
    if operation.complete is not None:
        payload = operation.complete(charge_point, payload)
    # A field the operation assigns when the command is stored (ReserveNow's reservationId):
    # a placeholder keeps the schema check honest about everything else.
    assigned = operation.assigned_field
    placeholder = assigned is not None and assigned not in payload
    candidate = {**payload, assigned: 0} if placeholder and assigned else payload
    try:
        validated = validate_request(action, candidate)
    except OcppError as exc:
        field = str(exc.details.get("field", ""))
        raise InvalidPayload(
            f"{action} payload is not valid: {exc.description}", field=field
        ) from None
    request = jsonable(validated)
    if placeholder and assigned:
        request.pop(assigned)
    if (
        action in NOT_WHILE_PENDING
        and charge_point.registration_status != RegistrationStatus.ACCEPTED
    ):
        raise CommandNotAllowed(
            f"{charge_point.identity} is in {charge_point.registration_status} registration: "
            f"{action} is allowed only once its registration is Accepted."
        )
    return request, operation


def _check_online(charge_point: ChargePoint) -> None:
    if not (charge_point.connected and charge_point.ws_channel_name and charge_point.is_online):
        if charge_point.connected and charge_point.last_seen is not None:
            detail = f"not heard from since {charge_point.last_seen:%Y-%m-%d %H:%M:%S %Z}"
        else:
            detail = "not connected"
        raise StationOffline(f"Charge point {charge_point.identity} is offline ({detail}).")


def _timeout(timeout: float | None) -> float:
    value = settings.OCPP_COMMAND_TIMEOUT if timeout is None else float(timeout)
    if not 0 < value <= MAX_TIMEOUT_SECONDS:
        raise CommandError(
            f"timeout must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g} seconds.",
            field="timeout",
        )
    return value


def _create(
    *,
    charge_point: ChargePoint,
    action: str,
    payload: Any,
    issued_by: Any,
    source: str,
    timeout: float | None,
) -> tuple[Command, str, dict[str, Any]]:
    """Check, then store the queued Command in its own transaction. Returns it with the
    station's channel name read in the same transaction, and the request to send.

    The stored request is the operation's redacted one (secrets masked); the one to send is
    whole and lives only in this process and the ocpp.call event (encrypted on the Redis
    layer, csms.settings), never in the database."""
    seconds = _timeout(timeout)
    charge_point.refresh_from_db()
    request, operation = command_check(
        charge_point=charge_point, action=action, payload=payload, issued_by=issued_by
    )
    _check_online(charge_point)
    try:
        with transaction.atomic():
            if operation.prepare is not None:
                request = operation.prepare(
                    charge_point=charge_point, request=request, issued_by=issued_by
                )
            command = command_create(
                charge_point=charge_point,
                action=action,
                request=request_redacted(action, request),
                issued_by=issued_by,
                source=source,
                timeout=seconds,
                new_password_hash=(
                    operation.password_hash(request) if operation.password_hash else ""
                ),
            )
    except ValidationError as exc:
        messages = exc.message_dict if hasattr(exc, "error_dict") else {"payload": exc.messages}
        field, problems = next(iter(messages.items()))
        raise InvalidPayload(" ".join(problems), field=field) from None
    return command, charge_point.ws_channel_name, request


def _finish(command: Command) -> Command:
    """Read back what the gateway stored; if it is still not final after the deadline and the
    grace, the gateway is gone: close it here."""
    try:
        command.refresh_from_db()
        deadline = command.deadline + timedelta(seconds=ISSUER_GRACE_SECONDS)
        if not command.is_final and timezone.now() >= deadline:
            with transaction.atomic():
                command_mark_timed_out(
                    command_id=command.pk,
                    description="The station's gateway did not report an answer in time.",
                )
            command.refresh_from_db()
    except Command.DoesNotExist:
        raise CommandGone(
            "The station was deleted, with its command log, while the command waited."
        ) from None
    return command


def _fail_undelivered(command: Command, exc: BaseException) -> GatewayUnavailable:
    if isinstance(exc, ChannelFull):
        description = "The station's call queue is full; try again shortly."
    else:
        description = f"Could not reach the station's gateway: {exc}"
    logger.error("command %s to %s not delivered: %s", command.pk, command.charge_point, exc)
    with transaction.atomic():
        command_fail(command_id=command.pk, description=description)
    return GatewayUnavailable(description)


# --- Channel layer ----------------------------------------------------------------------------


async def _dispatch(
    channel: str, command: Command, request: dict[str, Any], reply_channel: str | None = None
) -> None:
    """The ocpp.call event: the command's id, and the call itself (``request``, whole: the
    stored one may be masked) so the gateway can send it without reading the database first
    (it still records the command as sent)."""
    deadline = command.deadline
    event: dict[str, Any] = {
        "type": "ocpp.call",
        "command_id": str(command.pk),
        "action": command.action,
        "request": request,
        "deadline": deadline.timestamp(),
    }
    if reply_channel:
        event["reply_channel"] = reply_channel
    await get_channel_layer().send(channel, event)


async def _dispatch_and_wait(
    items: Sequence[tuple[str, Command, dict[str, Any]]],
) -> list[BaseException | None]:
    """Send each command to its station's channel and wait, concurrently, until each is
    reported done or its deadline (+ grace) passes. Returns a send error per item, if any.

    While waiting, every CHECK_INTERVAL_SECONDS without news it checks that the command can
    still be delivered: an event that reached a consumer whose station was disconnecting is
    dropped with it, and the command is then failed at once instead of timing out."""
    layer = get_channel_layer()

    async def reply(channel: str, command_id: str) -> None:
        try:
            while (await layer.receive(channel)).get("command_id") != command_id:
                pass
        except Exception as exc:
            # The layer went down while we wait: the database check below, every
            # CHECK_INTERVAL_SECONDS, still sees the answer when the gateway stores it.
            logger.warning("lost the reply channel of command %s: %s", command_id, exc)
            await asyncio.Event().wait()

    async def one(channel: str, command: Command, request: dict[str, Any]) -> BaseException | None:
        # The default prefix: with Redis, all process-specific channels must share one list,
        # which one receiver at a time reads for the whole process; another prefix would be
        # a list nobody reads while that receiver waits.
        reply_channel = await layer.new_channel()
        try:
            await _dispatch(channel, command, request, reply_channel)
        except Exception as exc:
            return exc
        deadline = command.deadline + timedelta(seconds=ISSUER_GRACE_SECONDS)
        answered = asyncio.ensure_future(reply(reply_channel, str(command.pk)))
        try:
            while True:
                remaining = (deadline - timezone.now()).total_seconds()
                if remaining <= 0:
                    return None
                done, _ = await asyncio.wait(
                    {answered}, timeout=min(CHECK_INTERVAL_SECONDS, remaining)
                )
                if done:
                    return None
                if await database_sync_to_async(_undeliverable)(command.pk, channel):
                    return None
        finally:
            # Let the receive clean up before we return: with Redis it holds the process's
            # receive lock, which must not be left to a loop that may be about to close.
            answered.cancel()
            await asyncio.gather(answered, return_exceptions=True)

    return list(await asyncio.gather(*(one(*item) for item in items)))


def _undeliverable(command_id: Any, channel: str) -> bool:
    with transaction.atomic():
        return command_fail_if_undeliverable(command_id=command_id, channel_name=channel)


# --- Public API ---------------------------------------------------------------------------


def command_send(
    *,
    charge_point: ChargePoint,
    action: str,
    payload: Any,
    issued_by: Any = None,
    source: str = "api",
    timeout: float | None = None,
    wait: bool = True,
) -> Command:
    """Send ``action`` with ``payload`` to the station; from synchronous code (views, admin,
    tasks, management commands). With ``wait`` it returns the Command once answered, failed or
    timed out (at most ``timeout`` seconds, default OCPP_COMMAND_TIMEOUT, plus a second);
    without, as soon as it is queued.

    Raises UnknownAction / InvalidPayload / CommandForbidden (nothing stored), StationOffline,
    CommandNotAllowed, GatewayUnavailable. Must not run inside an atomic block when waiting:
    the station's gateway could not see the uncommitted command (without waiting, it is sent
    on commit)."""
    in_transaction = transaction.get_connection().in_atomic_block
    if in_transaction and wait:
        raise RuntimeError("command_send(wait=True) cannot run inside a transaction.")
    command, channel, request = _create(
        charge_point=charge_point,
        action=action,
        payload=payload,
        issued_by=issued_by,
        source=source,
        timeout=timeout,
    )
    if in_transaction:
        transaction.on_commit(lambda: _send_queued(command, channel, request), robust=True)
        return command
    if not wait:
        _send_queued(command, channel, request)
        return command
    (error,) = async_to_sync(_dispatch_and_wait)([(channel, command, request)])
    if error is not None:
        raise _fail_undelivered(command, error)
    return _finish(command)


def _send_queued(command: Command, channel: str, request: dict[str, Any]) -> None:
    try:
        async_to_sync(_dispatch)(channel, command, request)
    except Exception as exc:
        raise _fail_undelivered(command, exc) from exc


def command_send_many(
    *,
    targets: Iterable[tuple[ChargePoint, Any]],
    action: str,
    issued_by: Any = None,
    source: str = "admin",
    timeout: float | None = None,
) -> list[Outcome]:
    """Send ``action`` to several stations at once, each ``(charge_point, payload)``, and wait
    for all the answers concurrently: the whole call takes at most one timeout. A station that
    cannot take its command (offline, refused, invalid payload) gets an Outcome with the error;
    the others are still sent."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("command_send_many cannot run inside a transaction.")
    outcomes: list[Outcome] = []
    pending: list[tuple[str, Command, dict[str, Any], Outcome]] = []
    for charge_point, payload in targets:
        outcome = Outcome(charge_point=charge_point)
        outcomes.append(outcome)
        try:
            command, channel, request = _create(
                charge_point=charge_point,
                action=action,
                payload=payload,
                issued_by=issued_by,
                source=source,
                timeout=timeout,
            )
        except CommandError as exc:
            outcome.error = exc
            continue
        outcome.command = command
        pending.append((channel, command, request, outcome))
    if pending:
        errors = async_to_sync(_dispatch_and_wait)([item[:3] for item in pending])
        for (_, command, _, outcome), error in zip(pending, errors, strict=True):
            if error is not None:
                outcome.error = _fail_undelivered(command, error)
            try:
                outcome.command = _finish(command)
            except CommandGone as exc:
                outcome.error = exc
    return outcomes


async def acommand_send(
    *,
    charge_point: ChargePoint,
    action: str,
    payload: Any,
    issued_by: Any = None,
    source: str = "api",
    timeout: float | None = None,  # noqa: ASYNC109 - the command's deadline, stored with it
    wait: bool = True,
) -> Command:
    """``command_send`` for async code (consumers, async views, scripts on an event loop)."""
    command, channel, request = await database_sync_to_async(_create)(
        charge_point=charge_point,
        action=action,
        payload=payload,
        issued_by=issued_by,
        source=source,
        timeout=timeout,
    )
    if not wait:
        try:
            await _dispatch(channel, command, request)
        except Exception as exc:
            raise await database_sync_to_async(_fail_undelivered)(command, exc) from exc
        return command
    (error,) = await _dispatch_and_wait([(channel, command, request)])
    if error is not None:
        raise await database_sync_to_async(_fail_undelivered)(command, error)
    return await database_sync_to_async(_finish)(command)
