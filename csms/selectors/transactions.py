"""Session reads: transactions and their meter samples."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet

from csms.metering import ENERGY_REGISTER, meter_reading_wh, register_wh
from csms.models import MeterValue, Transaction


def transaction_list(
    *,
    charge_point: str | None = None,
    id_tag: str | None = None,
    active: bool | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
    connector_id: int | None = None,
) -> QuerySet[Transaction]:
    """Sessions, newest first, with the station joined in (one query per page).
    ``charge_point`` is an identity; ``id_tag`` matches case-insensitively."""
    qs = Transaction.objects.select_related("charge_point")
    if charge_point:
        qs = qs.filter(charge_point__identity=charge_point)
    if id_tag:
        qs = qs.filter(id_tag__iexact=id_tag.strip())
    if active is not None:
        qs = qs.filter(stopped_at__isnull=active)
    if started_after:
        qs = qs.filter(started_at__gte=started_after)
    if started_before:
        qs = qs.filter(started_at__lt=started_before)
    if connector_id is not None:
        qs = qs.filter(connector_id=connector_id)
    return qs.order_by("-started_at", "-id")


def transaction_get(*, transaction_id: int) -> Transaction | None:
    return Transaction.objects.select_related("charge_point").filter(pk=transaction_id).first()


def meter_value_list(
    *,
    transaction: Transaction,
    measurand: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[MeterValue]:
    """A session's samples in time order; served by the (transaction, timestamp) index."""
    qs = MeterValue.objects.filter(transaction=transaction)
    if measurand:
        qs = qs.filter(measurand=measurand)
    if since:
        qs = qs.filter(timestamp__gte=since)
    if until:
        qs = qs.filter(timestamp__lt=until)
    return qs.order_by("timestamp", "id")


# --- A session's meter timeline (what billing prices) -----------------------------------------

_CURRENT = "Current.Import"
_POWER = "Power.Active.Import"
_PHASES_SUMMED = ("L1", "L2", "L3")
# What a timeline reads: samples of other measurands (SoC, voltage) never change a price.
TIMELINE_MEASURANDS = (ENERGY_REGISTER, _POWER, _CURRENT)


@dataclass(frozen=True)
class Reading:
    """The register at ``timestamp`` in Wh, with the power (W) and current (A, summed over the
    phases) sampled at that instant when the station sent them."""

    timestamp: datetime
    energy_wh: Decimal
    power_w: Decimal | None = None
    current_a: Decimal | None = None


@dataclass(frozen=True)
class Timeline:
    """A session's metering in Wh, from ``start`` (meterStart) to ``end`` (meterStop, or the
    last reading of a running session). ``readings`` lie strictly inside, in time order, the
    register never going down (a sample that does, a meter glitch, is left out), and never
    above the end of a stopped session. ``last_sample_id`` is the newest MeterValue read
    (0: none): samples stored later have a larger id."""

    start: datetime
    start_wh: Decimal
    end: datetime
    end_wh: Decimal
    readings: tuple[Reading, ...]
    last_sample_id: int
    active: bool


def transaction_timeline(*, transaction: Transaction) -> Timeline:
    """The session's timeline from its stored samples (one query, on the (transaction,
    timestamp) index). Units as csms.metering reads them: the samples decide; a stopped
    session ends at its settled energy (``meter_start`` + ``energy_wh``, in Wh)."""
    tx = transaction
    rows = list(
        MeterValue.objects.filter(
            transaction=tx,
            measurand__in=TIMELINE_MEASURANDS,
            value_decimal__isnull=False,
        )
        .order_by("timestamp", "id")
        .values_list("id", "timestamp", "measurand", "phase", "unit", "value_decimal")
    )
    last_sample_id = max((row[0] for row in rows), default=0)
    registers: dict[datetime, tuple[Decimal, bool]] = {}
    power: dict[datetime, Decimal] = {}
    current: dict[datetime, Decimal] = {}
    phase_current: dict[datetime, Decimal] = {}
    for _, at, measurand, phase, unit, number in rows:
        if number is None:  # excluded by the query; the type does not know it
            continue
        value: Decimal = number
        if measurand == ENERGY_REGISTER:
            wh = register_wh(value, unit)
            if wh is not None and not phase:
                registers[at] = (wh, unit == "kWh")
        elif measurand == _POWER and not phase:
            factor = {"": 1, "W": 1, "kW": 1000}.get(unit)
            if factor is not None:
                power[at] = value * factor
        elif measurand == _CURRENT and unit in ("", "A"):
            if not phase:
                current[at] = value
            elif phase in _PHASES_SUMMED:
                phase_current[at] = phase_current.get(at, Decimal(0)) + value
    kwh = any(is_kwh for _, is_kwh in registers.values())
    times = sorted(registers)
    first = registers[times[0]][0] if times else None
    start_wh = meter_reading_wh(tx.meter_start, kwh_registers=kwh, near=first)
    stopped = tx.stopped_at is not None
    end = max(tx.stopped_at, tx.started_at) if tx.stopped_at is not None else None
    end_wh = start_wh + Decimal(tx.energy_wh or 0) if stopped else None
    readings: list[Reading] = []
    level = start_wh
    for at in times:
        wh = registers[at][0]
        if at <= tx.started_at or (end is not None and at >= end) or wh < level:
            continue
        level = wh if end_wh is None else min(wh, end_wh)
        readings.append(Reading(at, level, power.get(at), current.get(at, phase_current.get(at))))
    if end is None or end_wh is None:  # running: it ends, so far, at its last reading
        last = readings.pop() if readings else None
        end = last.timestamp if last else tx.started_at
        end_wh = last.energy_wh if last else start_wh
    return Timeline(
        start=tx.started_at,
        start_wh=start_wh,
        end=end,
        end_wh=end_wh,
        readings=tuple(readings),
        last_sample_id=last_sample_id,
        active=tx.stopped_at is None,
    )
