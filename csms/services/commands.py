"""The durable command lifecycle: every call we send a station is a Command row.

command_create (queued) → command_mark_sent (sent, by the consumer holding the station's
socket) → command_record_answer (answered / failed), or command_mark_timed_out / command_fail.
What an answer (or a call that never completes) does to the rest of our state is not here: it
belongs to the operation (ocpp_gateway.operations), which hears of it through
``csms.signals.command_answered`` / ``command_not_done`` in the same transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from csms import signals
from csms.models import ChargePoint, Command

logger = logging.getLogger(__name__)


def command_mark_sent(*, command_id: Any) -> Command | None:
    """Claim a queued command for sending (row lock). None if it is already final, e.g. timed
    out by the sweeper while it waited in the station's queue."""
    command = Command.objects.select_for_update().filter(pk=command_id).first()
    if command is None or command.state != Command.State.QUEUED:
        return None
    deadline = command.deadline
    now = timezone.now()
    if now >= deadline:
        command.state = Command.State.TIMED_OUT
        command.completed_at = now
        command.error_description = "Timed out while queued for the station."
        command.save(update_fields=["state", "completed_at", "error_description"])
        _command_not_done(command)  # never sent: undo what was prepared for it
        return None
    command.state = Command.State.SENT
    command.sent_at = now
    command.save(update_fields=["state", "sent_at"])
    return command


def command_record_answer(
    *,
    command_id: Any,
    response: dict[str, Any] | None = None,
    error_code: str = "",
    error_description: str = "",
    error_details: dict[str, Any] | None = None,
) -> Command | None:
    """Store the station's CALLRESULT (``response``) or CALLERROR (``error_code``) and apply
    the action's effect (``command_answered``; a CALLERROR sends ``command_not_done``). Ignored
    if the command is already final (a late answer)."""
    command = Command.objects.select_for_update().filter(pk=command_id).first()
    if command is None or command.is_final:
        return command
    command.completed_at = timezone.now()
    if error_code:
        command.state = Command.State.FAILED
        command.error_code = error_code[:40]
        command.error_description = error_description[:255]
        command.error_details = error_details or {}
        command.response = None
    else:
        command.state = Command.State.ANSWERED
        command.response = response
    command.save()
    if error_code:
        _command_not_done(command)
        return command
    if response is not None and signals.command_answered.has_listeners(Command):
        # The answer is stored whatever happens to its effect: a bug in one effect must not
        # lose what the station said (the savepoint keeps a half-applied effect out).
        try:
            with transaction.atomic():
                signals.command_answered.send(sender=Command, command=command, response=response)
        except Exception as exc:
            logger.exception(
                "applying the answer of command %s (%s) failed", command.pk, command.action
            )
            command.error_description = f"Answer stored; applying it failed: {exc}"[:255]
            command.save(update_fields=["error_description"])
    return command


def _command_close(
    *, command_id: Any, state: str, description: str, code: str = ""
) -> Command | None:
    """End a command that got no answer (row lock): timed out, or failed undelivered. A no-op
    on a final one. If the station never saw it, what was prepared for it is undone; a call
    that was sent and went unanswered stays as it is: the station may have acted on it."""
    command = Command.objects.select_for_update().filter(pk=command_id).first()
    if command is None or command.is_final:
        return command
    never_sent = command.state == Command.State.QUEUED
    command.state = state
    command.completed_at = timezone.now()
    command.error_code = code
    command.error_description = description[:255]
    command.save(update_fields=["state", "completed_at", "error_code", "error_description"])
    if never_sent:
        _command_not_done(command)
    return command


def command_mark_timed_out(*, command_id: Any, description: str = "") -> Command | None:
    """The station did not answer in time (or the call never left its queue in time)."""
    return _command_close(
        command_id=command_id,
        state=Command.State.TIMED_OUT,
        description=description or "The station did not answer in time.",
    )


def command_fail(*, command_id: Any, description: str, code: str = "") -> Command | None:
    """A command that could not be delivered (station gone, socket closed)."""
    return _command_close(
        command_id=command_id, state=Command.State.FAILED, description=description, code=code
    )


def command_fail_if_undeliverable(*, command_id: Any, channel_name: str) -> bool:
    """For an issuer still waiting: True if ``command`` is final, or could no longer be
    delivered and is now failed: still queued while its station's connection is no longer
    ``channel_name`` (the call event reached a consumer that was closing, and was dropped).
    False while it may still be delivered or answered."""
    command = Command.objects.select_for_update().filter(pk=command_id).first()
    if command is None or command.is_final:
        return True
    if command.state != Command.State.QUEUED:
        return False
    connection = (
        ChargePoint.objects.filter(pk=command.charge_point_id)
        .values_list("connected", "ws_channel_name")
        .first()
    )
    if connection == (True, channel_name):
        return False
    command_fail(
        command_id=command.pk, description="The station disconnected before the call was sent."
    )
    return True


def command_create(
    *,
    charge_point: ChargePoint,
    action: str,
    request: dict[str, Any],
    issued_by: Any = None,
    source: str = "api",
    timeout: float | None = None,
    new_password_hash: str = "",
) -> Command:
    """Store a queued command. ``request`` is the schema-valid, JSON-ready payload, already
    completed and prepared by its operation, with its secrets masked: what may be stored and
    shown (see ocpp_gateway.calls, the only caller that sends it, which does all three in the
    same transaction and sends the whole request). ``new_password_hash``: the hash of the
    station password the call installs (ChangeConfiguration AuthorizationKey)."""
    return Command.objects.create(
        charge_point=charge_point,
        action=action,
        request=request,
        new_password_hash=new_password_hash,
        issued_by=issued_by if getattr(issued_by, "pk", None) else None,
        source=source[:20],
        timeout=settings.OCPP_COMMAND_TIMEOUT if timeout is None else timeout,
    )


def commands_time_out_stale(*, grace_seconds: float = 10.0, now: datetime | None = None) -> int:
    """Close queued/sent commands whose answer can no longer come: past created_at + timeout +
    grace. The gateway times its own calls out; this covers a gateway process that died with
    calls in flight, or a call event lost with it. Returns how many were closed."""
    now = now or timezone.now()
    candidates = Command.objects.filter(
        state__in=[Command.State.QUEUED, Command.State.SENT],
        created_at__lt=now - timedelta(seconds=grace_seconds),
    ).values_list("pk", "created_at", "timeout")
    closed = 0
    for pk, created_at, timeout in candidates.iterator():
        if created_at + timedelta(seconds=timeout + grace_seconds) > now:
            continue
        with transaction.atomic():
            command = command_mark_timed_out(
                command_id=pk,
                description="No answer was recorded: the gateway process holding the station's "
                "connection did not complete the call (restarted?).",
            )
        if command is not None and command.state == Command.State.TIMED_OUT:
            closed += 1
    return closed


def _command_not_done(command: Command) -> None:
    """The station did not act on ``command`` (CALLERROR, or never delivered): its operation
    undoes what was prepared for it, in this transaction."""
    signals.command_not_done.send(sender=Command, command=command)
