"""Writes of the core domain. Keyword-only, synchronous, one concern each.

The gateway calls these inside its group-commit transaction (one savepoint per station
message, see ocpp_gateway.committer); the API and admin call them directly. None of them
commits on its own: callers own the transaction.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from csms import batching, selectors
from csms.models import (
    ChargePoint,
    ChargingProfile,
    Command,
    CompositeSchedule,
    ConnectionAttempt,
    Connector,
    DataTransfer,
    DiagnosticsRequest,
    DiagnosticsStatusEvent,
    FirmwareStatusEvent,
    FirmwareUpdate,
    IdTag,
    MessageLog,
    RegistrationStatus,
    Reservation,
    StatusNotification,
    Transaction,
    UnmatchedStopTransaction,
)
from csms.station_auth import MIN_PASSWORD_LENGTH, hash_station_password

logger = logging.getLogger(__name__)

INT32_MAX = 2**31 - 1

# Standard BootNotification fields → ChargePoint columns.
BOOT_FIELDS = {
    "chargePointVendor": "vendor",
    "chargePointModel": "model",
    "chargePointSerialNumber": "charge_point_serial_number",
    "chargeBoxSerialNumber": "charge_box_serial_number",
    "firmwareVersion": "firmware_version",
    "iccid": "iccid",
    "imsi": "imsi",
    "meterType": "meter_type",
    "meterSerialNumber": "meter_serial_number",
}


# --- Charge points -------------------------------------------------------------------------


def charge_point_register(
    *,
    identity: str,
    name: str = "",
    password: str | None = None,
    registration_status: str = RegistrationStatus.ACCEPTED,
    **fields: Any,
) -> ChargePoint:
    """Create a station. Validates the identity; raises django ValidationError when it is bad."""
    charge_point = ChargePoint(
        identity=identity, name=name, registration_status=registration_status, **fields
    )
    if password:
        charge_point_set_password_hash(charge_point=charge_point, password=password)
    charge_point.full_clean()
    charge_point.save()
    return charge_point


def charge_point_set_password_hash(*, charge_point: ChargePoint, password: str | None) -> None:
    """Set (or with None/empty, clear) the station's Basic-auth password. Does not save."""
    if not password:
        charge_point.password_hash = ""
        return
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            {"password": f"Station passwords must be at least {MIN_PASSWORD_LENGTH} characters."}
        )
    charge_point.password_hash = hash_station_password(password)


def connection_attempt_record(
    *, identity: str, reason: str, remote_address: str = "", detail: str = ""
) -> ConnectionAttempt:
    return ConnectionAttempt.objects.create(
        identity=identity[:200],
        reason=reason,
        remote_address=remote_address[:100],
        detail=detail[:255],
    )


def charge_point_register_from_attempt(*, attempt: ConnectionAttempt) -> ChargePoint:
    """One-step registration of a refused station; clears its refused attempts."""
    charge_point, _ = ChargePoint.objects.get_or_create(identity=attempt.identity)
    ConnectionAttempt.objects.filter(
        identity=attempt.identity, reason=ConnectionAttempt.Reason.UNKNOWN
    ).delete()
    return charge_point


def charge_point_connected(
    *, charge_point: ChargePoint, channel_name: str, remote_address: str, timestamp: datetime
) -> str:
    """Mark the station online on this channel. Returns the channel of a connection it replaces
    ('' if none), which the caller must close."""
    previous = (
        ChargePoint.objects.select_for_update()
        .filter(pk=charge_point.pk)
        .values_list("ws_channel_name", flat=True)
        .first()
    )
    ChargePoint.objects.filter(pk=charge_point.pk).update(
        connected=True,
        ws_channel_name=channel_name,
        connected_at=timestamp,
        last_seen=timestamp,
        remote_address=remote_address[:100],
    )
    return previous if previous and previous != channel_name else ""


def charge_point_disconnected(
    *, charge_point_id: int, channel_name: str, timestamp: datetime
) -> bool:
    """Mark offline, unless a newer connection has already taken the station over."""
    updated = ChargePoint.objects.filter(pk=charge_point_id, ws_channel_name=channel_name).update(
        connected=False, ws_channel_name="", disconnected_at=timestamp
    )
    return bool(updated)


def charge_points_touch(*, last_seen: dict[int, datetime]) -> None:
    """Batch 'last seen' update for many stations (one statement)."""
    if not last_seen:
        return
    # One plain UPDATE with the batch's latest time: a batch spans milliseconds, and
    # bulk_update's CASE per station cost ~8 ms per batch in the profile (bench/README.md).
    ChargePoint.objects.filter(pk__in=list(last_seen)).update(last_seen=max(last_seen.values()))


def charge_point_boot(
    *, charge_point: ChargePoint, payload: dict[str, Any], timestamp: datetime
) -> tuple[str, int]:
    """Store BootNotification device data; returns (registration status, interval)."""
    charge_point.refresh_from_db(fields=["registration_status", "heartbeat_interval"])
    values: dict[str, Any] = {column: payload.get(key, "") for key, column in BOOT_FIELDS.items()}
    extras = {k: v for k, v in payload.items() if k not in BOOT_FIELDS}
    values["vendor_extras"] = extras
    values["last_boot_at"] = timestamp
    values["last_seen"] = timestamp
    ChargePoint.objects.filter(pk=charge_point.pk).update(**values)
    for attr, value in values.items():
        setattr(charge_point, attr, value)
    return charge_point.registration_status, charge_point.effective_heartbeat_interval


def connector_status_update(
    *,
    charge_point: ChargePoint,
    connector_id: int,
    status: str,
    error_code: str,
    info: str = "",
    vendor_id: str = "",
    vendor_error_code: str = "",
    timestamp: datetime | None,
) -> Connector:
    """Record a StatusNotification: history row plus the connector's current state. A
    notification older than the state we hold (late retry) goes to history only."""
    now = timezone.now()
    StatusNotification.objects.create(
        charge_point=charge_point,
        connector_id=connector_id,
        status=status,
        error_code=error_code,
        info=info,
        vendor_id=vendor_id,
        vendor_error_code=vendor_error_code,
        timestamp=timestamp,
        received_at=now,
    )
    connector, created = Connector.objects.get_or_create(
        charge_point=charge_point,
        connector_id=connector_id,
        defaults={
            "status": status,
            "error_code": error_code,
            "info": info,
            "vendor_id": vendor_id,
            "vendor_error_code": vendor_error_code,
            "status_timestamp": timestamp or now,
        },
    )
    if not created:
        stamp = timestamp or now
        if connector.status_timestamp is None or stamp >= connector.status_timestamp:
            connector.status = status
            connector.error_code = error_code
            connector.info = info
            connector.vendor_id = vendor_id
            connector.vendor_error_code = vendor_error_code
            connector.status_timestamp = stamp
            connector.save()
    return connector


# --- Authorization ------------------------------------------------------------------------


def _id_tag_info(tag: IdTag | None, *, now: datetime) -> dict[str, Any]:
    if tag is None:
        return {"status": IdTag.Status.INVALID.value}
    status = tag.status
    if status == IdTag.Status.ACCEPTED and tag.expiry_date and tag.expiry_date <= now:
        status = IdTag.Status.EXPIRED
    info: dict[str, Any] = {"status": str(status)}
    if tag.expiry_date:
        info["expiryDate"] = tag.expiry_date
    if tag.parent_id:
        assert tag.parent is not None
        info["parentIdTag"] = tag.parent.id_tag
    return info


def id_tag_lookup(*, id_tag: str) -> IdTag | None:
    return selectors.id_tag_get(id_tag=id_tag)


def id_tag_authorize(
    *, id_tag: str, exclude_transaction_id: int | None = None, check_concurrent: bool = True
) -> tuple[IdTag | None, dict[str, Any]]:
    """idTagInfo for a tag: registry status, expiry, parent; ConcurrentTx when the tag (case-
    insensitively) already has an active transaction anywhere."""
    now = timezone.now()
    tag = id_tag_lookup(id_tag=id_tag)
    info = _id_tag_info(tag, now=now)
    if check_concurrent and info["status"] == IdTag.Status.ACCEPTED and tag is not None:
        active = Transaction.objects.filter(id_tag_ref=tag, stopped_at__isnull=True)
        if exclude_transaction_id is not None:
            active = active.exclude(pk=exclude_transaction_id)
        if active.exists():
            info["status"] = "ConcurrentTx"
    return tag, info


# --- Transactions -------------------------------------------------------------------------


def transaction_start(
    *,
    charge_point: ChargePoint,
    connector_id: int,
    id_tag: str,
    meter_start: int,
    timestamp: datetime,
    reservation_id: int | None = None,
) -> tuple[Transaction, dict[str, Any]]:
    """Open a session; idempotent on (station, connector, tag, meterStart, timestamp), so a
    retried StartTransaction gets the same transaction id back. The station has already
    started charging, so the transaction is recorded whatever the tag's status."""
    existing = Transaction.objects.filter(
        charge_point=charge_point,
        connector_id=connector_id,
        id_tag=id_tag,
        meter_start=meter_start,
        started_at=timestamp,
    ).first()
    if existing is not None:
        tag = existing.id_tag_ref
        info = _id_tag_info(tag, now=timezone.now()) if tag else {"status": "Invalid"}
        info["status"] = existing.start_status
        return existing, info

    tag, info = id_tag_authorize(id_tag=id_tag)
    # The savepoint only serves to survive a concurrent twin's IntegrityError. In a gateway
    # batch (optimistic, no savepoints) that error fails the attempt and the committer replays
    # each message in its own savepoint, where this path runs with one: skip two round trips.
    guard = transaction.atomic() if batching.current() is None else contextlib.nullcontext()
    try:
        with guard:
            tx = Transaction.objects.create(
                charge_point=charge_point,
                connector_id=connector_id,
                id_tag=id_tag,
                id_tag_ref=tag,
                meter_start=meter_start,
                started_at=timestamp,
                reservation_id=reservation_id,
                start_status=info["status"],
                last_meter_wh=meter_start,
                last_meter_at=timestamp,
            )
    except IntegrityError:
        # A concurrent twin won the race (two processes got the retry): return its id.
        tx = Transaction.objects.get(
            charge_point=charge_point,
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start=meter_start,
            started_at=timestamp,
        )
        info["status"] = tx.start_status
        return tx, info
    if reservation_id is not None:
        reservation_consume(charge_point=charge_point, reservation_id=reservation_id, tx=tx)
    return tx, info


def reservation_consume(*, charge_point: ChargePoint, reservation_id: int, tx: Transaction) -> None:
    """A StartTransaction carrying a reservationId uses that reservation up."""
    Reservation.objects.filter(
        pk=reservation_id,
        charge_point=charge_point,
        state__in=[Reservation.State.ACTIVE, Reservation.State.REQUESTED],
    ).update(state=Reservation.State.USED, transaction=tx, updated_at=timezone.now())


def transaction_stop(
    *,
    charge_point: ChargePoint,
    transaction_id: int,
    meter_stop: int,
    timestamp: datetime,
    reason: str = "",
    id_tag: str = "",
    transaction_data: list[dict[str, Any]] | None = None,
    transaction_data_raw: list[dict[str, Any]] | None = None,
) -> tuple[Transaction | None, dict[str, Any] | None]:
    """Close a session (locks the transaction row). Idempotent: a retried stop changes nothing.
    An unknown id is recorded as UnmatchedStopTransaction and still answered."""
    id_tag_info = None
    if id_tag:
        _, id_tag_info = id_tag_authorize(id_tag=id_tag, check_concurrent=False)

    tx = None
    if 0 <= transaction_id <= INT32_MAX:
        tx = (
            Transaction.objects.select_for_update()
            .filter(pk=transaction_id, charge_point=charge_point)
            .first()
        )
    if tx is None:
        UnmatchedStopTransaction.objects.create(
            charge_point=charge_point,
            transaction_id=transaction_id,
            id_tag=id_tag,
            meter_stop=meter_stop,
            timestamp=timestamp,
            reason=reason,
            transaction_data=transaction_data_raw,
        )
        logger.warning(
            "StopTransaction for unknown transaction %s from %s", transaction_id, charge_point
        )
        return None, id_tag_info
    if tx.stopped_at is not None:
        return tx, id_tag_info

    tx.meter_stop = meter_stop
    tx.stopped_at = timestamp
    # OCPP 1.6 StopTransaction.req: reason "MAY only be omitted when the Reason is Local".
    tx.stop_reason = reason or "Local"
    tx.stop_id_tag = id_tag
    tx.transaction_data = transaction_data_raw
    energy = meter_stop - tx.meter_start
    # Both readings are int64; their difference may not be (a broken meter). Keep the readings.
    tx.energy_wh = energy if abs(energy) < 2**63 else None
    tx.last_meter_wh = meter_stop
    tx.last_meter_at = timestamp
    tx.save()
    if transaction_data:
        meter_values_record(
            charge_point=charge_point,
            connector_id=tx.connector_id,
            transaction=tx,
            meter_values=transaction_data,
        )
    return tx, id_tag_info


# --- Meter values -------------------------------------------------------------------------

_ENERGY = "Energy.Active.Import.Register"
_POWER = "Power.Active.Import"
_SOC = "SoC"
_MAX_POWER_W = Decimal(10) ** 11  # Transaction.last_power_w is numeric(12, 1)


def _to_decimal(value: str) -> Decimal | None:
    try:
        parsed = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    if not parsed.is_finite() or abs(parsed) >= Decimal(10) ** 14:
        return None
    return parsed.quantize(Decimal("0.000001"))


def meter_values_record(
    *,
    charge_point: ChargePoint,
    connector_id: int,
    meter_values: Iterable[dict[str, Any]],
    transaction: Transaction | None = None,
    transaction_id: int | None = None,
) -> int:
    """Store every sampled value in one INSERT and refresh the session's live figures.

    ``meter_values`` are validated MeterValue dicts with ``timestamp`` already a datetime.
    Duplicates (a retried message) are ignored by the table's unique key.
    """
    tx_pk: int | None = transaction.pk if transaction is not None else None
    if tx_pk is None and transaction_id is not None:
        tx_pk = _owned_transaction(charge_point.pk, transaction_id)
    rows: list[batching.MeterRow] = []
    live: dict[str, Any] = {}
    latest: datetime | None = None
    for meter_value in meter_values:
        stamp = meter_value["timestamp"]
        for sample in meter_value.get("sampledValue", ()):
            measurand = sample.get("measurand", _ENERGY)
            unit = sample.get("unit", "")
            raw = sample["value"]
            number = _to_decimal(raw) if sample.get("format", "Raw") == "Raw" else None
            rows.append(
                (
                    charge_point.pk,
                    connector_id,
                    tx_pk,
                    stamp,
                    raw[:2500],
                    number,
                    measurand,
                    sample.get("phase", ""),
                    unit,
                    sample.get("context", ""),
                    sample.get("location", ""),
                    sample.get("format", ""),
                )
            )
            if number is None or sample.get("phase") or (latest and stamp < latest):
                continue
            if measurand == _ENERGY:
                live["last_meter_wh"] = int(number * 1000 if unit == "kWh" else number)
            elif measurand == _POWER:
                watts = (number * 1000 if unit == "kW" else number).quantize(Decimal("0.1"))
                if abs(watts) >= _MAX_POWER_W:  # a broken meter; the sample is kept as sent
                    continue
                live["last_power_w"] = watts
            elif measurand == _SOC:
                live["last_soc"] = max(0, min(100, int(number)))
            else:
                continue
            latest = stamp
    # In a gateway batch the rows join every other station's in one INSERT, and the live view
    # one UPDATE (csms.batching); otherwise they are written now.
    batch = batching.current()
    if batch is not None:
        batch.meter_values.extend(rows)
        if tx_pk is not None and live and latest is not None:
            batch.add_live(tx_pk, latest, live)
        return len(rows)
    if rows:
        batching.meter_values_insert(rows)
    if tx_pk is not None and live and latest is not None:
        batching.live_views_update({tx_pk: (latest, live)})
    return len(rows)


# Transaction ids verified to belong to a station: a MeterValues names its transaction every
# few seconds for hours, and a transaction never changes station, so one SELECT per session
# replaces one per message. Bounded; cleared wholesale when full (cheap to rebuild).
_OWNED_CACHE_SIZE = 100_000
_owned_transactions: dict[int, int] = {}


def _owned_transaction(charge_point_id: int, transaction_id: int) -> int | None:
    """``transaction_id`` if it is a transaction of that station, else None (samples are
    then kept without a transaction)."""
    if not 0 <= transaction_id <= INT32_MAX:
        return None
    if _owned_transactions.get(transaction_id) == charge_point_id:
        return transaction_id
    if not Transaction.objects.filter(pk=transaction_id, charge_point_id=charge_point_id).exists():
        return None
    if len(_owned_transactions) >= _OWNED_CACHE_SIZE:
        _owned_transactions.clear()
    _owned_transactions[transaction_id] = charge_point_id
    return transaction_id


# --- Other station messages ---------------------------------------------------------------


def data_transfer_record(
    *,
    charge_point: ChargePoint,
    vendor_id: str,
    message_id: str = "",
    data: str = "",
    response_status: str = "",
    response_data: str = "",
    direction: str = DataTransfer.Direction.IN,
) -> DataTransfer:
    return DataTransfer.objects.create(
        charge_point=charge_point,
        direction=direction,
        vendor_id=vendor_id,
        message_id=message_id,
        data=data,
        response_status=response_status,
        response_data=response_data,
    )


# Statuses that end an UpdateFirmware / GetDiagnostics request. A notification after one of
# them (typically Idle, e.g. on TriggerMessage) is about no request and must not rewrite it.
_FIRMWARE_FINAL = {"Installed", "InstallationFailed", "DownloadFailed"}
_DIAGNOSTICS_FINAL = {"Uploaded", "UploadFailed"}


def firmware_status_record(*, charge_point: ChargePoint, status: str) -> None:
    """Station state plus history; progress of the latest UpdateFirmware still under way."""
    now = timezone.now()
    FirmwareStatusEvent.objects.create(charge_point=charge_point, status=status, received_at=now)
    ChargePoint.objects.filter(pk=charge_point.pk).update(
        firmware_status=status, firmware_status_at=now
    )
    latest = (
        FirmwareUpdate.objects.filter(charge_point=charge_point).order_by("-created_at").first()
    )
    if latest is not None and status != "Idle" and latest.status not in _FIRMWARE_FINAL:
        FirmwareUpdate.objects.filter(pk=latest.pk).update(status=status, updated_at=now)


def diagnostics_status_record(*, charge_point: ChargePoint, status: str) -> None:
    """Station state plus history; progress of the latest GetDiagnostics still under way."""
    now = timezone.now()
    DiagnosticsStatusEvent.objects.create(charge_point=charge_point, status=status, received_at=now)
    ChargePoint.objects.filter(pk=charge_point.pk).update(
        diagnostics_status=status, diagnostics_status_at=now
    )
    latest = (
        DiagnosticsRequest.objects.filter(charge_point=charge_point).order_by("-created_at").first()
    )
    if latest is not None and status != "Idle" and latest.status not in _DIAGNOSTICS_FINAL:
        DiagnosticsRequest.objects.filter(pk=latest.pk).update(status=status, updated_at=now)


def message_log_purge(*, older_than_days: int | None = None) -> int:
    """Delete message-log rows past the retention (OCPP_MESSAGE_LOG_RETENTION_DAYS)."""
    days = settings.OCPP_MESSAGE_LOG_RETENTION_DAYS if older_than_days is None else older_than_days
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = MessageLog.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- Commands (central-system-initiated calls) ---------------------------------------------
#
# Lifecycle: command_create (queued) → command_mark_sent (sent, by the consumer holding the
# station's socket) → command_record_answer (answered / failed) or command_mark_timed_out.
# command_apply_answer hooks give each action its effect on our state (configuration
# snapshot, local list version, reservations, charging profiles, ...).

CommandEffect = Any  # Callable[[Command, dict[str, Any]], None]
COMMAND_EFFECTS: dict[str, CommandEffect] = {}


def command_effect(action: str) -> Any:
    """Register ``fn(command, response)``: run in the transaction that stores an Accepted-or-
    otherwise CALLRESULT for ``action``."""

    def register(fn: Any) -> Any:
        COMMAND_EFFECTS[action] = fn
        return fn

    return register


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
    the action's effect. Ignored if the command is already final (a late answer)."""
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
    effect = COMMAND_EFFECTS.get(command.action)
    if effect is not None and response is not None:
        # The answer is stored whatever happens to its effect: a bug in one effect must not
        # lose what the station said (the savepoint keeps a half-applied effect out).
        try:
            with transaction.atomic():
                effect(command, response)
        except Exception as exc:
            logger.exception(
                "applying the answer of command %s (%s) failed", command.pk, command.action
            )
            command.error_description = f"Answer stored; applying it failed: {exc}"[:255]
            command.save(update_fields=["error_description"])
    return command


def command_mark_timed_out(*, command_id: Any, description: str = "") -> Command | None:
    command = Command.objects.select_for_update().filter(pk=command_id).first()
    if command is None or command.is_final:
        return command
    never_sent = command.state == Command.State.QUEUED
    command.state = Command.State.TIMED_OUT
    command.completed_at = timezone.now()
    command.error_description = (description or "The station did not answer in time.")[:255]
    command.save(update_fields=["state", "completed_at", "error_description"])
    if never_sent:
        # The station never saw it: undo what was prepared for it. A call that was sent and
        # went unanswered stays as it is; the station may have acted on it.
        _command_not_done(command)
    return command


def command_fail(*, command_id: Any, description: str, code: str = "") -> Command | None:
    """A command that could not be delivered (station gone, socket closed)."""
    command = Command.objects.select_for_update().filter(pk=command_id).first()
    if command is None or command.is_final:
        return command
    never_sent = command.state == Command.State.QUEUED
    command.state = Command.State.FAILED
    command.completed_at = timezone.now()
    command.error_code = code
    command.error_description = description[:255]
    command.save(update_fields=["state", "completed_at", "error_code", "error_description"])
    if never_sent:
        # The station never saw it: undo what was prepared for it (a requested reservation).
        _command_not_done(command)
    return command


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


def _command_not_done(command: Command) -> None:
    """The station did not act on ``command`` (CALLERROR, or never delivered)."""
    hook = COMMAND_NOT_DONE.get(command.action)
    if hook is not None:
        hook(command)


COMMAND_NOT_DONE: dict[str, CommandEffect] = {}


def command_create(
    *,
    charge_point: ChargePoint,
    action: str,
    request: dict[str, Any],
    issued_by: Any = None,
    source: str = "api",
    timeout: float | None = None,
) -> Command:
    """Store a queued command. ``request`` is the schema-valid, JSON-ready payload (see
    ocpp_gateway.calls, the only caller that sends it). Runs the action's preparer first, in
    the caller's transaction: ReserveNow gets its Reservation (and reservationId) here."""
    preparer = COMMAND_PREPARERS.get(action)
    if preparer is not None:
        request = preparer(charge_point=charge_point, request=request, issued_by=issued_by)
    return Command.objects.create(
        charge_point=charge_point,
        action=action,
        request=request,
        issued_by=issued_by if getattr(issued_by, "pk", None) else None,
        source=source[:20],
        timeout=settings.OCPP_COMMAND_TIMEOUT if timeout is None else timeout,
    )


COMMAND_PREPARERS: dict[str, Any] = {}


def command_preparer(action: str) -> Any:
    """Register ``fn(*, charge_point, request, issued_by) -> request``, run when a command for
    ``action`` is created (same transaction)."""

    def register(fn: Any) -> Any:
        COMMAND_PREPARERS[action] = fn
        return fn

    return register


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


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _when(value: Any) -> datetime | None:
    """A date-time of a stored (JSON) request or answer; they were schema-checked already."""
    if not value:
        return None
    parsed = parse_datetime(str(value))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _required_when(value: Any) -> datetime:
    parsed = _when(value)
    if parsed is None:
        raise ValidationError(f"Not a date-time: {value!r}.")
    return parsed


def _charge_point_update(command: Command, **values: Any) -> None:
    # update(), never save(): the gateway writes last_seen/connected on this row concurrently.
    ChargePoint.objects.filter(pk=command.charge_point_id).update(
        updated_at=timezone.now(), **values
    )


# Local authorization list -----------------------------------------------------------------


def local_list_entries(
    *, update_type: str, id_tags: list[str] | None = None
) -> list[dict[str, Any]]:
    """SendLocalList entries from the id-tag registry, each with the idTagInfo Authorize would
    give (status, expiry, parent; no ConcurrentTx: the list is for offline use).

    ``id_tags`` None: every registered tag. Otherwise those tags: for a Full list an unknown
    tag is an error (ValidationError); for a Differential update an unknown tag is sent
    without idTagInfo, which removes it from the station's list."""
    now = timezone.now()
    tags = IdTag.objects.select_related("parent").order_by("key")
    if id_tags is not None:
        wanted = {IdTag.normalize(tag): tag for tag in id_tags if tag and tag.strip()}
        tags = tags.filter(key__in=wanted)
    entries: list[dict[str, Any]] = []
    found: set[str] = set()
    for tag in tags:
        found.add(tag.key)
        info = _id_tag_info(tag, now=now)
        if isinstance(info.get("expiryDate"), datetime):
            info["expiryDate"] = _iso(info["expiryDate"])
        entries.append({"idTag": tag.id_tag, "idTagInfo": info})
    if id_tags is not None:
        missing = [wanted[key] for key in wanted if key not in found]
        if missing and update_type == "Full":
            raise ValidationError(
                {"id_tags": f"Not in the id-tag registry: {', '.join(sorted(missing))}."}
            )
        entries.extend({"idTag": tag.strip()} for tag in sorted(missing))
    return entries


def local_list_next_version(*, charge_point: ChargePoint) -> int:
    """One above the version the station last accepted (1 for its first list)."""
    current = (
        ChargePoint.objects.filter(pk=charge_point.pk)
        .values_list("local_list_version", flat=True)
        .first()
    )
    return max(current or 0, 0) + 1


@command_effect("SendLocalList")
def _send_local_list_answered(command: Command, response: dict[str, Any]) -> None:
    status = response.get("status")
    version = command.request.get("listVersion")
    if status == "Accepted":
        _charge_point_update(
            command,
            local_list_version=version,
            local_list_reported_version=version,
            local_list_checked_at=timezone.now(),
            local_list_mismatch=False,
        )
    elif status == "VersionMismatch":
        _charge_point_update(command, local_list_mismatch=True)


@command_effect("GetLocalListVersion")
def _get_local_list_version_answered(command: Command, response: dict[str, Any]) -> None:
    reported = response.get("listVersion")
    sent = (
        ChargePoint.objects.filter(pk=command.charge_point_id)
        .values_list("local_list_version", flat=True)
        .first()
    )
    if reported == -1:  # the station has no local list feature
        mismatch = sent is not None
    else:
        mismatch = reported != (sent or 0)
    _charge_point_update(
        command,
        local_list_reported_version=reported,
        local_list_checked_at=timezone.now(),
        local_list_mismatch=mismatch,
    )


# Configuration ------------------------------------------------------------------------------


@command_effect("GetConfiguration")
def _get_configuration_answered(command: Command, response: dict[str, Any]) -> None:
    charge_point = (
        ChargePoint.objects.select_for_update()
        .only("configuration", "configuration_unknown_keys")
        .get(pk=command.charge_point_id)
    )
    received = {
        item["key"]: {"value": item.get("value"), "readonly": bool(item.get("readonly"))}
        for item in response.get("configurationKey") or []
    }
    unknown = list(response.get("unknownKey") or [])
    if command.request.get("key"):
        # A partial read refreshes the keys asked for and keeps the rest of the snapshot.
        snapshot = {**(charge_point.configuration or {}), **received}
        unknown = sorted(
            (set(charge_point.configuration_unknown_keys or []) - set(received)) | set(unknown)
        )
        for key in unknown:
            snapshot.pop(key, None)
    else:
        snapshot = received
    _charge_point_update(
        command,
        configuration=snapshot,
        configuration_unknown_keys=unknown,
        configuration_at=timezone.now(),
    )


@command_effect("ChangeConfiguration")
def _change_configuration_answered(command: Command, response: dict[str, Any]) -> None:
    status = response.get("status")
    if status not in ("Accepted", "RebootRequired"):
        return
    charge_point = (
        ChargePoint.objects.select_for_update()
        .only("configuration")
        .get(pk=command.charge_point_id)
    )
    key, value = command.request["key"], command.request["value"]
    snapshot = dict(charge_point.configuration or {})
    entry = dict(snapshot.get(key) or {"readonly": False})
    entry["value"] = value
    snapshot[key] = entry
    values: dict[str, Any] = {"configuration": snapshot}
    if status == "RebootRequired":
        values["reboot_required"] = True
    _charge_point_update(command, **values)


@command_effect("Reset")
def _reset_answered(command: Command, response: dict[str, Any]) -> None:
    # A reset applies the changes that were waiting for a reboot.
    if response.get("status") == "Accepted":
        _charge_point_update(command, reboot_required=False)


# Reservations -------------------------------------------------------------------------------

OPEN_RESERVATION_STATES = (Reservation.State.REQUESTED, Reservation.State.ACTIVE)


@command_preparer("ReserveNow")
def _reserve_now_prepare(
    *, charge_point: ChargePoint, request: dict[str, Any], issued_by: Any
) -> dict[str, Any]:
    """The reservationId is ours to assign: it is the Reservation's primary key. Without one a
    new reservation is made; with one, it must be an open reservation of this station, which
    the station then replaces (OCPP 1.6 §5.13), updated here once Accepted."""
    reservation_id = request.get("reservationId")
    if reservation_id is None:
        created = Reservation.objects.create(
            charge_point=charge_point,
            connector_id=request["connectorId"],
            id_tag=request["idTag"],
            parent_id_tag=request.get("parentIdTag", ""),
            expiry_date=_required_when(request["expiryDate"]),
            created_by=issued_by if getattr(issued_by, "pk", None) else None,
        )
        return {**request, "reservationId": created.pk}
    reservation = (
        Reservation.objects.select_for_update()
        .filter(pk=reservation_id, charge_point=charge_point)
        .first()
    )
    if reservation is None:
        raise ValidationError(
            {
                "reservationId": f"No reservation {reservation_id} for this station. Leave "
                "reservationId out to make a new reservation; it is assigned by the CSMS."
            }
        )
    if reservation.state not in OPEN_RESERVATION_STATES:
        raise ValidationError(
            {"reservationId": f"Reservation {reservation_id} is {reservation.state}."}
        )
    return request


@command_effect("ReserveNow")
def _reserve_now_answered(command: Command, response: dict[str, Any]) -> None:
    status = response.get("status", "")
    reservation = (
        Reservation.objects.select_for_update()
        .filter(pk=command.request.get("reservationId"), charge_point_id=command.charge_point_id)
        .first()
    )
    if reservation is None:
        return
    reservation.station_status = status[:16]
    if status == "Accepted":
        if reservation.state in OPEN_RESERVATION_STATES:
            reservation.state = Reservation.State.ACTIVE
            reservation.connector_id = command.request["connectorId"]
            reservation.id_tag = command.request["idTag"]
            reservation.parent_id_tag = command.request.get("parentIdTag", "")
            reservation.expiry_date = _required_when(command.request["expiryDate"])
    elif reservation.state == Reservation.State.REQUESTED:
        # Replacing an active reservation failed: the old one still stands.
        reservation.state = Reservation.State.REJECTED
    reservation.save()


def _reserve_now_not_done(command: Command) -> None:
    Reservation.objects.filter(
        pk=command.request.get("reservationId"),
        charge_point_id=command.charge_point_id,
        state=Reservation.State.REQUESTED,
    ).update(state=Reservation.State.REJECTED, updated_at=timezone.now())


COMMAND_NOT_DONE["ReserveNow"] = _reserve_now_not_done


@command_effect("CancelReservation")
def _cancel_reservation_answered(command: Command, response: dict[str, Any]) -> None:
    if response.get("status") != "Accepted":
        return
    Reservation.objects.filter(
        pk=command.request.get("reservationId"),
        charge_point_id=command.charge_point_id,
        state__in=OPEN_RESERVATION_STATES,
    ).update(state=Reservation.State.CANCELLED, updated_at=timezone.now())


def reservations_expire(*, now: datetime | None = None) -> int:
    """Close reservations past their expiry date (the station drops them itself)."""
    now = now or timezone.now()
    return Reservation.objects.filter(
        state__in=OPEN_RESERVATION_STATES, expiry_date__lte=now
    ).update(state=Reservation.State.EXPIRED, updated_at=now)


# Smart charging -----------------------------------------------------------------------------


def charging_profile_install(
    *,
    charge_point_id: int,
    connector_id: int,
    profile: dict[str, Any],
    command: Command | None = None,
) -> ChargingProfile:
    """Record a profile the station accepted. As on the station (OCPP 1.6 §3.13.2), it
    replaces an installed profile with the same chargingProfileId, or with the same stackLevel
    and purpose on the same connector."""
    now = timezone.now()
    profile_id = profile["chargingProfileId"]
    stack_level = profile["stackLevel"]
    purpose = profile["chargingProfilePurpose"]
    ChargingProfile.objects.filter(charge_point_id=charge_point_id, active=True).filter(
        Q(profile_id=profile_id)
        | Q(connector_id=connector_id, stack_level=stack_level, purpose=purpose)
    ).update(active=False, cleared_at=now)
    schedule = profile["chargingSchedule"]
    transaction_id = profile.get("transactionId")
    tx = (
        Transaction.objects.filter(pk=transaction_id, charge_point_id=charge_point_id).first()
        if transaction_id is not None and 0 <= transaction_id <= INT32_MAX
        else None
    )
    min_rate = schedule.get("minChargingRate")
    return ChargingProfile.objects.create(
        charge_point_id=charge_point_id,
        connector_id=connector_id,
        profile_id=profile_id,
        transaction=tx,
        stack_level=stack_level,
        purpose=purpose,
        kind=profile["chargingProfileKind"],
        recurrency_kind=profile.get("recurrencyKind", ""),
        valid_from=_when(profile.get("validFrom")),
        valid_to=_when(profile.get("validTo")),
        charging_rate_unit=schedule["chargingRateUnit"],
        duration=schedule.get("duration"),
        start_schedule=_when(schedule.get("startSchedule")),
        min_charging_rate=(
            Decimal(str(min_rate)).quantize(Decimal("0.1")) if min_rate is not None else None
        ),
        schedule_periods=schedule["chargingSchedulePeriod"],
        active=True,
        command=command,
        created_at=now,
    )


@command_effect("SetChargingProfile")
def _set_charging_profile_answered(command: Command, response: dict[str, Any]) -> None:
    if response.get("status") == "Accepted":
        charging_profile_install(
            charge_point_id=command.charge_point_id,
            connector_id=command.request["connectorId"],
            profile=command.request["csChargingProfiles"],
            command=command,
        )


@command_effect("RemoteStartTransaction")
def _remote_start_answered(command: Command, response: dict[str, Any]) -> None:
    profile = command.request.get("chargingProfile")
    if response.get("status") == "Accepted" and profile:
        charging_profile_install(
            charge_point_id=command.charge_point_id,
            connector_id=command.request.get("connectorId", 0),
            profile=profile,
            command=command,
        )


@command_effect("ClearChargingProfile")
def _clear_charging_profile_answered(command: Command, response: dict[str, Any]) -> None:
    if response.get("status") != "Accepted":
        return
    request = command.request
    profiles = ChargingProfile.objects.filter(charge_point_id=command.charge_point_id, active=True)
    if request.get("id") is not None:
        profiles = profiles.filter(profile_id=request["id"])
    else:
        if request.get("connectorId") is not None:
            profiles = profiles.filter(connector_id=request["connectorId"])
        if request.get("chargingProfilePurpose"):
            profiles = profiles.filter(purpose=request["chargingProfilePurpose"])
        if request.get("stackLevel") is not None:
            profiles = profiles.filter(stack_level=request["stackLevel"])
    profiles.update(active=False, cleared_at=timezone.now())


@command_effect("GetCompositeSchedule")
def _get_composite_schedule_answered(command: Command, response: dict[str, Any]) -> None:
    CompositeSchedule.objects.create(
        charge_point_id=command.charge_point_id,
        connector_id=response.get("connectorId", command.request["connectorId"]),
        status=response.get("status", "")[:16],
        schedule_start=_when(response.get("scheduleStart")),
        charging_schedule=response.get("chargingSchedule"),
        command=command,
    )


# Firmware, diagnostics, data transfer -------------------------------------------------------


@command_effect("UpdateFirmware")
def _update_firmware_answered(command: Command, response: dict[str, Any]) -> None:
    request = command.request
    FirmwareUpdate.objects.create(
        charge_point_id=command.charge_point_id,
        location=request["location"][:512],
        retrieve_date=_required_when(request["retrieveDate"]),
        retries=request.get("retries"),
        retry_interval=request.get("retryInterval"),
        command=command,
    )


@command_effect("GetDiagnostics")
def _get_diagnostics_answered(command: Command, response: dict[str, Any]) -> None:
    DiagnosticsRequest.objects.create(
        charge_point_id=command.charge_point_id,
        location=command.request["location"][:512],
        file_name=(response.get("fileName") or "")[:255],
        command=command,
    )


@command_effect("DataTransfer")
def _data_transfer_answered(command: Command, response: dict[str, Any]) -> None:
    DataTransfer.objects.create(
        charge_point_id=command.charge_point_id,
        direction=DataTransfer.Direction.OUT,
        vendor_id=command.request["vendorId"][:255],
        message_id=(command.request.get("messageId") or "")[:50],
        data=command.request.get("data") or "",
        response_status=(response.get("status") or "")[:24],
        response_data=response.get("data") or "",
    )


# --- Charge points and id tags: operator writes (API, admin) -------------------------------

CHARGE_POINT_EDITABLE_FIELDS = frozenset(
    {"name", "description", "location", "registration_status", "heartbeat_interval", "tariff"}
)


class ChargePointInUse(Exception):
    """The station has transactions: charging history is kept (Transaction FK is PROTECT)."""


def charge_point_update(*, charge_point: ChargePoint, **fields: Any) -> ChargePoint:
    """Change operator-editable fields. ``password`` sets the Basic-auth password (None or ''
    clears it). The identity is what the station connects with and cannot change here.

    Saves only the fields it changes: the gateway writes connection state on the same row
    concurrently, and a full save would roll last_seen / connected back."""
    unknown = set(fields) - CHARGE_POINT_EDITABLE_FIELDS - {"password"}
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    update_fields = ["updated_at"]
    if "password" in fields:
        charge_point_set_password_hash(charge_point=charge_point, password=fields.pop("password"))
        update_fields.append("password_hash")
    for name, value in fields.items():
        setattr(charge_point, name, value)
        update_fields.append(name)
    charge_point.full_clean(validate_unique=False, validate_constraints=False)
    charge_point.save(update_fields=update_fields)
    return charge_point


def charge_point_delete(*, charge_point: ChargePoint) -> None:
    """Delete a station and what hangs off it (connectors, logs, history). Refused with
    ChargePointInUse when it has transactions. A connected station's socket is closed after
    commit, so it cannot keep writing for a row that no longer exists."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.db.models import ProtectedError

    count = Transaction.objects.filter(charge_point=charge_point).count()
    if count:
        raise ChargePointInUse(
            f"Charge point {charge_point.identity} has {count} transaction(s); charging history "
            "is kept, so it cannot be deleted. Set its registration_status to Rejected to stop "
            "it from operating instead."
        )
    channel = charge_point.ws_channel_name
    try:
        with transaction.atomic():
            charge_point.delete()
    except ProtectedError as exc:  # a transaction started meanwhile
        raise ChargePointInUse(
            f"Charge point {charge_point.identity} has transactions and cannot be deleted."
        ) from exc
    layer = get_channel_layer()
    if channel and layer is not None:
        transaction.on_commit(lambda: async_to_sync(layer.send)(channel, {"type": "ocpp.replaced"}))


def _id_tag_parent(*, parent_id_tag: str | None, own_key: str) -> IdTag | None:
    if not parent_id_tag:
        return None
    key = IdTag.normalize(parent_id_tag)
    if key == own_key:
        raise ValidationError({"parent_id_tag": "A tag cannot be its own parent."})
    parent = IdTag.objects.filter(key=key).first()
    if parent is None:
        raise ValidationError({"parent_id_tag": f"Unknown id tag {parent_id_tag!r}."})
    return parent


def _id_tag_save(tag: IdTag) -> IdTag:
    tag.key = IdTag.normalize(tag.id_tag)
    clash = IdTag.objects.filter(key=tag.key).exclude(pk=tag.pk).first()
    if clash is not None:
        raise ValidationError(
            {
                "id_tag": f"Id tag {clash.id_tag!r} already exists; tags are case-insensitive, "
                f"so {tag.id_tag!r} is the same tag."
            }
        )
    tag.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            tag.save()
    except IntegrityError as exc:  # created concurrently
        raise ValidationError({"id_tag": f"Id tag {tag.id_tag!r} already exists."}) from exc
    return tag


def id_tag_create(
    *,
    id_tag: str,
    status: str = IdTag.Status.ACCEPTED,
    expiry_date: datetime | None = None,
    parent_id_tag: str | None = None,
    note: str = "",
    user: Any = None,
) -> IdTag:
    """Register a tag. Unique case-insensitively; ``parent_id_tag`` names an existing tag."""
    id_tag = id_tag.strip()
    parent = _id_tag_parent(parent_id_tag=parent_id_tag, own_key=IdTag.normalize(id_tag))
    tag = IdTag(
        id_tag=id_tag, status=status, expiry_date=expiry_date, parent=parent, note=note, user=user
    )
    return _id_tag_save(tag)


def id_tag_update(*, tag: IdTag, **fields: Any) -> IdTag:
    """Change status, expiry_date, note, user or parent (``parent_id_tag``: a tag string, None
    or '' clears). ``id_tag`` may only change its spelling's case: stations and transactions
    know the tag by its value."""
    if "id_tag" in fields:
        new = fields.pop("id_tag").strip()
        if IdTag.normalize(new) != tag.key:
            raise ValidationError(
                {"id_tag": "A tag's value cannot change (only its case); create a new tag."}
            )
        tag.id_tag = new
    if "parent_id_tag" in fields:
        tag.parent = _id_tag_parent(parent_id_tag=fields.pop("parent_id_tag"), own_key=tag.key)
    unknown = set(fields) - {"status", "expiry_date", "note", "user"}
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    for name, value in fields.items():
        setattr(tag, name, value)
    return _id_tag_save(tag)
