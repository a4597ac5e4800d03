"""Sessions: StartTransaction, StopTransaction and meter values (written through
``csms.batching`` inside a gateway batch)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from csms import batching, signals
from csms.metering import Register, energy_settle, meter_reading_wh, register_wh
from csms.models import (
    ChargePoint,
    ChargePointStatus,
    Connector,
    MeterValue,
    StaleStopReason,
    Transaction,
    UnmatchedStopTransaction,
)
from csms.services.authorization import id_tag_authorize, id_tag_info, id_tag_start_authorize
from csms.services.common import INT32_MAX, iso_utc
from csms.services.reservations import reservation_consume

logger = logging.getLogger(__name__)


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
    started charging, so the transaction is recorded whatever the tag's status, ConcurrentTx
    included (the tag's session limit, checked under a lock on the tag's row that is held
    until the caller's transaction commits: see ``id_tag_start_authorize``)."""
    # The lock needs a transaction to live in (the gateway's batch, or one of our own).
    outer = contextlib.nullcontext() if connection.in_atomic_block else transaction.atomic()
    with outer:
        return _transaction_start(
            charge_point=charge_point,
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start=meter_start,
            timestamp=timestamp,
            reservation_id=reservation_id,
        )


def _transaction_start(
    *,
    charge_point: ChargePoint,
    connector_id: int,
    id_tag: str,
    meter_start: int,
    timestamp: datetime,
    reservation_id: int | None,
) -> tuple[Transaction, dict[str, Any]]:
    # What a retry repeats exactly (the uniq_transaction_start constraint).
    key = {
        "charge_point": charge_point,
        "connector_id": connector_id,
        "id_tag": id_tag,
        "meter_start": meter_start,
        "started_at": timestamp,
    }
    existing = Transaction.objects.filter(**key).first()
    if existing is not None:
        tag = existing.id_tag_ref
        info = id_tag_info(tag, now=timezone.now()) if tag else {"status": "Invalid"}
        info["status"] = existing.start_status
        return existing, info

    # Before the tag is checked: the driver must not get ConcurrentTx for the very session
    # this start proves over. (Locks: these session rows, then the tag's; nothing takes them
    # the other way round.)
    transactions_close_stale(
        sessions=Transaction.objects.filter(
            charge_point=charge_point, connector_id=connector_id, stopped_at__isnull=True
        ),
        reason=StaleStopReason.NEW_SESSION,
        evidence_at=timestamp,
    )
    tag, info = id_tag_start_authorize(id_tag=id_tag, charge_point_id=charge_point.pk)
    # The savepoint only serves to survive a concurrent twin's IntegrityError. In a gateway
    # batch (optimistic, no savepoints) that error fails the attempt and the committer replays
    # each message in its own savepoint, where this path runs with one: skip two round trips.
    guard = transaction.atomic() if batching.current() is None else contextlib.nullcontext()
    try:
        with guard:
            tx = Transaction.objects.create(
                **key,
                id_tag_ref=tag,
                reservation_id=reservation_id,
                start_status=info["status"],
                last_meter_wh=meter_start,
                last_meter_at=timestamp,
            )
    except IntegrityError:
        # A concurrent twin won the race (two processes got the retry): return its id.
        tx = Transaction.objects.get(**key)
        info["status"] = tx.start_status
        return tx, info
    if reservation_id is not None:
        reservation_consume(charge_point=charge_point, reservation_id=reservation_id, tx=tx)
    signals.transaction_started.send(sender=Transaction, transaction=tx)
    return tx, info


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
        _, id_tag_info = id_tag_authorize(id_tag=id_tag, charge_point_id=charge_point.pk)

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
        if tx.stop_reason in StaleStopReason.values and tx.late_stop is None:
            _late_stop_record(
                tx=tx,
                meter_stop=meter_stop,
                timestamp=timestamp,
                reason=reason,
                id_tag=id_tag,
                transaction_data=transaction_data,
                transaction_data_raw=transaction_data_raw,
            )
        return tx, id_tag_info

    tx.meter_stop = meter_stop
    tx.stopped_at = timestamp
    # OCPP 1.6 StopTransaction.req: reason "MAY only be omitted when the Reason is Local".
    tx.stop_reason = reason or "Local"
    tx.stop_id_tag = id_tag
    tx.transaction_data = transaction_data_raw
    first, last = _register_bounds(tx, transaction_data or ())
    settled = energy_settle(
        meter_start=tx.meter_start,
        meter_stop=meter_stop,
        stopped_at=timestamp,
        first=first,
        last=last,
    )
    # The readings are int64, what we derive from them may not be (a broken meter, a kWh
    # reading scaled): keep the readings, leave the energy unknown.
    fits = abs(settled.energy_wh) < 2**63 and abs(settled.stop_wh) < 2**63
    tx.energy_wh = settled.energy_wh if fits else None
    tx.meter_stop_implausible = settled.implausible
    tx.energy_note = settled.note[:255]
    if settled.implausible:
        logger.warning("transaction %s: %s", tx.pk, settled.note)
    tx.last_meter_wh = int(settled.stop_wh) if fits else meter_stop
    tx.last_meter_at = timestamp
    tx.save()
    if transaction_data:
        meter_values_record(
            charge_point=charge_point,
            connector_id=tx.connector_id,
            transaction=tx,
            meter_values=transaction_data,
            live=False,
        )
    signals.transaction_stopped.send(sender=Transaction, transaction=tx, stale=False)
    return tx, id_tag_info


# --- Stale sessions -------------------------------------------------------------------------
# Only the station can say a session is over, and sometimes it never does: it lost power, or
# its StopTransaction was lost. Then the tag stays "in a session" everywhere (ConcurrentTx) and
# billing never sees an end. Three pieces of evidence close such a session (README, "Session
# and clock rules"): a new session on its connector, a new boot of its station, its connector
# reported Available for longer than OCPP_STALE_SESSION_GRACE.


def transactions_close_stale(
    *, sessions: QuerySet[Transaction], reason: str, evidence_at: datetime
) -> list[Transaction]:
    """Close the open ``sessions`` as stale (locks their rows; the caller's transaction).

    Each ends at its last reading: meter_stop is last_meter_wh (meter_start when it has none)
    and stopped_at the time of that reading, never after ``evidence_at`` (when the evidence
    says it was over at the latest) nor before it started. That never bills a driver for more
    than the session is known to have used; ``reason`` (a StaleStopReason) says why it
    ended. A StopTransaction the station sends later changes nothing (``transaction_stop``)."""
    closed = []
    for tx in sessions.filter(stopped_at__isnull=True).select_for_update().order_by("pk"):
        meter_stop = tx.last_meter_wh if tx.last_meter_wh is not None else tx.meter_start
        end = min(tx.last_meter_at or tx.started_at, evidence_at)
        tx.meter_stop = meter_stop
        tx.stopped_at = max(end, tx.started_at)
        tx.stop_reason = reason
        # last_meter_wh is in Wh whatever unit the samples came in; meterStart is as sent, so a
        # station whose registers are in kWh may have sent it in kWh (csms.metering).
        first, last = _register_bounds(tx, ())
        start_wh = meter_reading_wh(
            tx.meter_start,
            kwh_registers=bool((first and first.kwh) or (last and last.kwh)),
            near=first.wh if first else None,
        )
        energy = int((Decimal(meter_stop) - start_wh).to_integral_value())
        tx.energy_wh = energy if abs(energy) < 2**63 else None
        if start_wh != tx.meter_start:
            tx.energy_note = "meterStart read as kWh, like the station's register samples"
        tx.save(
            update_fields=[
                "meter_stop",
                "stopped_at",
                "stop_reason",
                "energy_wh",
                "energy_note",
                "updated_at",
            ]
        )
        logger.info(
            "closed stale transaction %s of %s connector %s (%s, meter_stop %s)",
            tx.pk,
            tx.charge_point_id,
            tx.connector_id,
            reason,
            meter_stop,
        )
        signals.transaction_stopped.send(sender=Transaction, transaction=tx, stale=True)
        closed.append(tx)
    return closed


def transactions_close_on_boot(*, charge_point: ChargePoint, at: datetime) -> list[Transaction]:
    """A BootNotification: the station restarted, and an OCPP 1.6 session does not survive a
    restart, so whatever it still has open is stale (StaleReboot)."""
    return transactions_close_stale(
        sessions=Transaction.objects.filter(charge_point=charge_point),
        reason=StaleStopReason.REBOOT,
        evidence_at=at,
    )


def transactions_close_stale_available(*, now: datetime | None = None) -> int:
    """The beat task's rule (every minute, for every station at once): close each open session
    whose connector was reported Available after the session began and has stayed Available
    for longer than OCPP_STALE_SESSION_GRACE (0: never). Both times are on our clock (the
    session's ``created_at``, the connector's ``status_since``), so a station's wrong clock
    cannot trigger or block it. Returns how many were closed."""
    grace = settings.OCPP_STALE_SESSION_GRACE
    if not grace:
        return 0
    now = now or timezone.now()
    available = Connector.objects.filter(
        charge_point_id=OuterRef("charge_point_id"),
        connector_id=OuterRef("connector_id"),
        status=ChargePointStatus.AVAILABLE,
        status_since__lte=now - timedelta(seconds=grace),
        status_since__gt=OuterRef("created_at"),
    )
    stale = (
        Transaction.objects.filter(stopped_at__isnull=True)
        .filter(Exists(available))
        .annotate(available_since=Subquery(available.values("status_since")[:1]))
        .values_list("pk", "available_since")
    )
    count = 0
    for pk, available_since in stale:
        with transaction.atomic():
            count += len(
                transactions_close_stale(
                    # The rule again, under the row lock: a status may have come meanwhile.
                    sessions=Transaction.objects.filter(Exists(available), pk=pk),
                    reason=StaleStopReason.AVAILABLE,
                    evidence_at=available_since,
                )
            )
    return count


def _late_stop_record(
    *,
    tx: Transaction,
    meter_stop: int,
    timestamp: datetime,
    reason: str,
    id_tag: str,
    transaction_data: list[dict[str, Any]] | None,
    transaction_data_raw: list[dict[str, Any]] | None,
) -> None:
    """The station's own StopTransaction for a session already closed as stale: the session
    is not changed (billing may have acted on its end), but nothing the station said is lost:
    the stop is kept on ``late_stop`` and its transactionData samples are stored."""
    tx.late_stop = {
        "meterStop": meter_stop,
        "timestamp": iso_utc(timestamp),
        "reason": reason,
        "idTag": id_tag,
        "transactionData": transaction_data_raw,
    }
    tx.save(update_fields=["late_stop", "updated_at"])
    if transaction_data:
        meter_values_record(
            charge_point=tx.charge_point,
            connector_id=tx.connector_id,
            transaction=tx,
            meter_values=transaction_data,
            live=False,
        )
        signals.transaction_samples_late.send(sender=Transaction, transaction_ids={tx.pk})
    logger.warning(
        "StopTransaction for transaction %s, closed as stale (%s) before: kept, not applied",
        tx.pk,
        tx.stop_reason,
    )


def _register_bounds(
    tx: Transaction, transaction_data: Iterable[dict[str, Any]]
) -> tuple[Register | None, Register | None]:
    """The session's earliest and latest Energy.Active.Import.Register samples (on no phase,
    in Wh or kWh), from those stored and those in the StopTransaction's transactionData. Two
    indexed reads (transaction, timestamp): StopTransaction is once per session, not hot."""
    stored = MeterValue.objects.filter(
        transaction=tx,
        measurand=_ENERGY,
        phase="",
        unit__in=("", "Wh", "kWh"),
        value_decimal__isnull=False,
    ).values_list("timestamp", "value_decimal", "unit")
    candidates = [row for row in (stored.order_by("timestamp", "id").first(),) if row]
    candidates += [row for row in (stored.order_by("-timestamp", "-id").first(),) if row]
    for meter_value in transaction_data:
        for sample in meter_value.get("sampledValue", ()):
            unit = sample.get("unit", "")
            if (
                sample.get("measurand", _ENERGY) != _ENERGY
                or sample.get("phase")
                or unit not in ("", "Wh", "kWh")
                or sample.get("format", "Raw") != "Raw"
            ):
                continue
            number = _to_decimal(sample["value"])
            if number is not None:
                candidates.append((meter_value["timestamp"], number, unit))
    registers = [
        Register(timestamp=at, wh=register_wh(value, unit) or Decimal(0), kwh=unit == "kWh")
        for at, value, unit in candidates
    ]
    if not registers:
        return None, None
    # Stable sorts: among equal timestamps the later-arriving sample counts as the later one.
    return min(registers, key=lambda r: r.timestamp), max(
        reversed(registers), key=lambda r: r.timestamp
    )


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
    live: bool = True,
) -> int:
    """Store every sampled value in one INSERT and refresh the session's live figures.

    ``meter_values`` are validated MeterValue dicts with ``timestamp`` already a datetime.
    Duplicates (a retried message) are ignored by the table's unique key. ``live=False``: the
    session is known to be over (a StopTransaction's transactionData), store the samples only.
    Samples for a session that is over otherwise send ``transaction_samples_late`` (from
    ``batching.live_views_update``, at no extra query).
    """
    tx_pk: int | None = transaction.pk if transaction is not None else None
    if tx_pk is None and transaction_id is not None:
        tx_pk = _owned_transaction(charge_point.pk, transaction_id)
    rows: list[batching.MeterRow] = []
    values: dict[str, Any] = {}
    last_at: datetime | None = None  # station timestamp of the last reading applied
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
            # The frame's order is the station's: a later sampledValue replaces an earlier one
            # for the live view, whatever their timestamps (see batching.live_views_update).
            if number is None or sample.get("phase"):
                continue
            if measurand == _ENERGY:
                values["last_meter_wh"] = int(number * 1000 if unit == "kWh" else number)
            elif measurand == _POWER:
                watts = (number * 1000 if unit == "kW" else number).quantize(Decimal("0.1"))
                if abs(watts) >= _MAX_POWER_W:  # a broken meter; the sample is kept as sent
                    continue
                values["last_power_w"] = watts
            elif measurand == _SOC:
                values["last_soc"] = max(0, min(100, int(number)))
            else:
                continue
            last_at = stamp
    # In a gateway batch the rows join every other station's in one INSERT, and the live view
    # one UPDATE (csms.batching); otherwise they are written now.
    if not live:
        values = {}
    batch = batching.current()
    if batch is not None:
        batch.meter_values.extend(rows)
        if tx_pk is not None and values and last_at is not None:
            batch.add_live(tx_pk, last_at, values)
        return len(rows)
    if rows:
        batching.meter_values_insert(rows)
    if tx_pk is not None and values and last_at is not None:
        batching.live_views_update({tx_pk: (last_at, values)})
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
