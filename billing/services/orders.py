"""Writes of billing's session side: the tariff snapshot at a session's start, the order at
its end, the re-pricing after late samples, and the failures retried with backoff.

**Idempotency.** Every write here may run twice, concurrently, or again after a crash:

- ``session_pricing_snapshot`` inserts the session's one ``SessionPricing`` (its primary key
  is the transaction); a concurrent twin's IntegrityError returns the row that won;
- ``order_create`` prices outside any lock, then inserts the order (unique on the
  transaction) with its lines in a savepoint; the loser of a race gets IntegrityError there
  and returns the winner's order. No lock is taken on the transaction row, which the gateway
  needs for a StopTransaction: billing never makes a station wait;
- ``order_reprice`` locks the order row (``select_for_update``; the gateway never touches
  orders), prices the session again and adds ``adjustment`` lines for the difference, so
  running it twice adds nothing the second time.

**Policies** (on orders, not in the engine, whose preview keeps plain OCPI semantics):

- a session shorter than ``BILLING_FREE_BELOW_SECONDS`` that delivered less than
  ``BILLING_FREE_BELOW_WH`` is a free order (state ``free``, no lines);
- a session that delivered no energy pays no FLAT fee and no ``min_price`` (which would be a
  flat fee by another name); time and parking still count;
- a session no tariff applies to, or one priced at zero, is a free order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from billing.events import order_billed_on_commit
from billing.models import BillingFailure, Order, OrderLine, SessionPricing
from billing.pricing.engine import PricedSession
from billing.pricing.ocpi import tariff_from_ocpi
from billing.pricing.tariff import Dimension
from billing.pricing.tariff import Tariff as PricingTariff
from billing.selectors.orders import FrozenTariff, frozen_tariff_at_start, session_price
from csms.models import MeterValue, Transaction
from csms.selectors.transactions import TIMELINE_MEASURANDS, Timeline, transaction_timeline

logger = logging.getLogger(__name__)

_UNITS = {"ENERGY": "kWh", "TIME": "h", "PARKING_TIME": "h", "FLAT": "session"}
_DESCRIPTIONS = {
    "ENERGY": "Energy",
    "TIME": "Charging time",
    "PARKING_TIME": "Parking time",
    "FLAT": "Session fee",
    "ROUNDING": "Rounding and the tariff's minimum/maximum price",
}
# Late samples are looked for among orders this recent (the beat task's safety net).
LATE_SAMPLES_WINDOW = timedelta(days=7)
# A stopped session is left this long to its own on-commit task before the sweep bills it.
SWEEP_GRACE = timedelta(minutes=2)
SWEEP_BATCH = 200


# --- The snapshot at the start --------------------------------------------------------------


def session_pricing_snapshot(
    *, transaction_id: int, taken: str = SessionPricing.Taken.START
) -> SessionPricing:
    """Freeze the tariff that applied at the session's start onto it; idempotent (an existing
    snapshot is returned unchanged). ``taken`` records whether this ran at the start or only
    at billing."""
    existing = SessionPricing.objects.filter(transaction_id=transaction_id).first()
    if existing is not None:
        return existing
    tx = Transaction.objects.select_related("charge_point__site").get(pk=transaction_id)
    frozen = frozen_tariff_at_start(transaction=tx)
    try:
        with transaction.atomic():
            return SessionPricing.objects.create(
                transaction=tx,
                tariff_version_id=frozen.tariff_version_id,
                tariff=frozen.tariff,
                currency=frozen.currency,
                timezone=frozen.timezone,
                reason=frozen.reason[:2000],
                taken=taken,
            )
    except IntegrityError:  # a concurrent twin froze it first
        return SessionPricing.objects.get(transaction_id=transaction_id)


# --- What an order holds --------------------------------------------------------------------


@dataclass(frozen=True)
class LineSpec:
    dimension: str
    volume: Decimal
    unit_price: Decimal | None
    vat_rate: Decimal | None
    excl: Decimal
    incl: Decimal | None


@dataclass(frozen=True)
class Billed:
    """A session priced and the policies applied: the order's lines, totals and state."""

    lines: tuple[LineSpec, ...]
    total_excl: Decimal
    total_incl: Decimal | None
    currency: str
    free_reason: str
    energy_kwh: Decimal
    duration_seconds: int
    priced: dict[str, Any]
    last_sample_id: int


def _without_flat_fees(tariff: PricingTariff) -> PricingTariff:
    elements = tuple(
        replace(
            element,
            price_components=tuple(c for c in element.price_components if c.type != Dimension.FLAT),
        )
        for element in tariff.elements
    )
    return replace(tariff, elements=elements, min_price=None)


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a + b


def session_bill(*, frozen: FrozenTariff, timeline: Timeline) -> Billed:
    """Price the session and apply the order policies (pure but for the engine call)."""
    energy_wh = timeline.end_wh - timeline.start_wh
    duration = int((timeline.end - timeline.start).total_seconds())
    energy_kwh = energy_wh / 1000
    seconds, last_id = max(duration, 0), timeline.last_sample_id
    if frozen.tariff is None:
        reason = Order.FreeReason.NO_TARIFF
        return Billed((), Decimal(0), Decimal(0), "", reason, energy_kwh, seconds, {}, last_id)
    tariff = tariff_from_ocpi(frozen.tariff)
    if energy_wh <= 0:
        tariff = _without_flat_fees(tariff)
    priced: PricedSession = session_price(
        tariff=tariff, timeline=timeline, timezone=frozen.timezone
    )
    record = priced.to_ocpi()
    short = (
        duration < settings.BILLING_FREE_BELOW_SECONDS
        and energy_wh < settings.BILLING_FREE_BELOW_WH
    )
    total = priced.total_cost
    if short or (total.excl_vat == 0 and not total.incl_vat):
        reason = Order.FreeReason.SHORT_SESSION if short else Order.FreeReason.ZERO_TOTAL
        return Billed(
            (),
            Decimal(0),
            Decimal(0),
            priced.currency,
            reason,
            energy_kwh,
            seconds,
            record,
            last_id,
        )
    lines = [
        LineSpec(
            str(line.dimension),
            line.volume,
            line.price,
            line.vat,
            line.cost.excl_vat,
            line.cost.incl_vat,
        )
        for line in priced.cost_lines
    ]
    sum_excl = sum((line.excl for line in lines), Decimal(0))
    sum_incl: Decimal | None = Decimal(0)
    for line in lines:
        sum_incl = _add(sum_incl, line.incl)
    rest_excl = total.excl_vat - sum_excl
    rest_incl = None if total.incl_vat is None or sum_incl is None else total.incl_vat - sum_incl
    if rest_excl or rest_incl:
        lines.append(LineSpec("ROUNDING", Decimal(1), None, None, rest_excl, rest_incl))
    return Billed(
        tuple(lines),
        total.excl_vat,
        total.incl_vat,
        priced.currency,
        "",
        energy_kwh,
        seconds,
        record,
        last_id,
    )


# --- Orders ---------------------------------------------------------------------------------


def _line(order: Order, position: int, spec: LineSpec, kind: str) -> OrderLine:
    description = _DESCRIPTIONS.get(spec.dimension, spec.dimension)
    if kind == OrderLine.Kind.ADJUSTMENT:
        description += " (adjustment: samples that arrived after billing)"
    return OrderLine(
        order=order,
        position=position,
        kind=kind,
        dimension=spec.dimension,
        description=description,
        volume=spec.volume,
        unit_price=spec.unit_price,
        vat_rate=spec.vat_rate,
        amount_excl_vat=spec.excl,
        amount_incl_vat=spec.incl,
    )


def _state_for(billed: Billed) -> str:
    return Order.State.FREE if billed.free_reason else Order.State.PENDING


def order_create(*, transaction_id: int) -> Order | None:
    """Write the stopped session's order (None: the session is still running). Idempotent
    (see the module docstring): an existing order is returned as it is. Takes the session's
    snapshot first if it has none (the tariff that applied at its start)."""
    existing = Order.objects.filter(transaction_id=transaction_id).first()
    if existing is not None:
        return existing
    tx = Transaction.objects.select_related("charge_point__site", "id_tag_ref").get(
        pk=transaction_id
    )
    if tx.stopped_at is None:
        return None
    snapshot = session_pricing_snapshot(
        transaction_id=transaction_id, taken=SessionPricing.Taken.BILLING
    )
    frozen = FrozenTariff(
        snapshot.tariff,
        snapshot.currency,
        snapshot.timezone,
        snapshot.reason,
        snapshot.tariff_version_id,
    )
    billed = session_bill(frozen=frozen, timeline=transaction_timeline(transaction=tx))
    try:
        with transaction.atomic():
            order = Order.objects.create(
                transaction=tx,
                driver_id=tx.id_tag_ref.user_id if tx.id_tag_ref else None,
                id_tag=tx.id_tag,
                charge_point=tx.charge_point,
                site=tx.charge_point.site,
                connector_id=tx.connector_id,
                started_at=tx.started_at,
                stopped_at=tx.stopped_at,
                energy_kwh=billed.energy_kwh,
                duration_seconds=billed.duration_seconds,
                tariff_version_id=snapshot.tariff_version_id,
                currency=billed.currency or snapshot.currency,
                total_excl_vat=billed.total_excl,
                total_incl_vat=billed.total_incl,
                state=_state_for(billed),
                free_reason=billed.free_reason,
                priced=billed.priced,
                priced_through_sample=billed.last_sample_id,
            )
            OrderLine.objects.bulk_create(
                _line(order, i, spec, OrderLine.Kind.NORMAL) for i, spec in enumerate(billed.lines)
            )
    except IntegrityError:  # a concurrent run wrote it first: theirs is the order
        return Order.objects.get(transaction_id=transaction_id)
    order_billed_on_commit(order_id=order.pk)
    logger.info(
        "order %s for transaction %s: %s %s", order.pk, tx.pk, order.total_excl_vat, order.currency
    )
    return order


_VOLUME_PLACES = Decimal("0.000001")


def _totals(lines: list[OrderLine] | tuple[LineSpec, ...]) -> dict[str, list[Decimal | None]]:
    """Per dimension: [volume, excl, incl] summed (incl None once any is unknown)."""
    sums: dict[str, list[Decimal | None]] = {}
    for line in lines:
        if isinstance(line, OrderLine):
            values = (line.volume, line.amount_excl_vat, line.amount_incl_vat)
            dimension = line.dimension
        else:
            # Compared with stored lines, whose volumes keep 6 places: unrounded engine
            # volumes (1/3 h) would differ from them on every re-price by a zero adjustment.
            values = (line.volume.quantize(_VOLUME_PLACES), line.excl, line.incl)
            dimension = line.dimension
        current = sums.setdefault(dimension, [Decimal(0), Decimal(0), Decimal(0)])
        current[0] = (current[0] or Decimal(0)) + values[0]
        current[1] = (current[1] or Decimal(0)) + values[1]
        current[2] = _add(current[2], values[2])
    return sums


def order_reprice(*, transaction_id: int) -> Order | None:
    """Price a billed session again with the samples stored since (a station flushing its
    queue late) and add an ``adjustment`` line per dimension whose volume or amount changed,
    so the lines always add up to the order's totals; never a second order. Locks the order
    row for the whole re-price (call outside any transaction of the caller's, or accept the
    lock until it commits). An order the wallet has moved on (paid, unpaid, refunded) gets
    its adjustment lines and totals but keeps its state. Returns the order, or None when the
    session has none yet (``order_create`` will price everything)."""
    with transaction.atomic():
        # of=("self",): the order row only. A plain FOR UPDATE over the join would also lock
        # the session row, which a StopTransaction (and its whole gateway batch) then waits on
        # for as long as the pricing takes.
        order = (
            Order.objects.select_for_update(of=("self",))
            .select_related("transaction")
            .filter(transaction_id=transaction_id)
            .first()
        )
        if order is None:
            return None
        tx = order.transaction
        timeline = transaction_timeline(transaction=tx)
        if timeline.last_sample_id <= order.priced_through_sample:
            return order  # nothing new (a second run, or duplicates the table dropped)
        snapshot = SessionPricing.objects.get(transaction_id=transaction_id)
        frozen = FrozenTariff(
            snapshot.tariff,
            snapshot.currency,
            snapshot.timezone,
            snapshot.reason,
            snapshot.tariff_version_id,
        )
        billed = session_bill(frozen=frozen, timeline=timeline)
        existing = list(order.lines.order_by("position"))
        have, want = _totals(existing), _totals(billed.lines)
        position = len(existing)
        adjustments = []
        for dimension in [*want, *(d for d in have if d not in want)]:
            new = want.get(dimension, [Decimal(0), Decimal(0), Decimal(0)])
            old = have.get(dimension, [Decimal(0), Decimal(0), Decimal(0)])
            if new == old:
                continue
            spec = next((s for s in billed.lines if s.dimension == dimension), None)
            adjustments.append(
                _line(
                    order,
                    position,
                    LineSpec(
                        dimension,
                        (new[0] or Decimal(0)) - (old[0] or Decimal(0)),
                        spec.unit_price if spec else None,
                        spec.vat_rate if spec else None,
                        (new[1] or Decimal(0)) - (old[1] or Decimal(0)),
                        None if new[2] is None or old[2] is None else new[2] - old[2],
                    ),
                    OrderLine.Kind.ADJUSTMENT,
                )
            )
            position += 1
        OrderLine.objects.bulk_create(adjustments)
        order.total_excl_vat = billed.total_excl
        order.total_incl_vat = billed.total_incl
        order.energy_kwh = billed.energy_kwh
        order.priced = billed.priced
        order.priced_through_sample = billed.last_sample_id
        if order.state in (Order.State.PENDING, Order.State.FREE):
            order.state = _state_for(billed)
            order.free_reason = billed.free_reason
        order.save()
        if adjustments:
            order_billed_on_commit(order_id=order.pk)
    if adjustments:
        logger.info(
            "order %s re-priced after late samples: %d adjustment line(s), total %s",
            order.pk,
            len(adjustments),
            order.total_excl_vat,
        )
    return order


# --- Failures, retries and the sweep --------------------------------------------------------

_RUNNERS = {
    BillingFailure.Kind.ORDER: order_create,
    BillingFailure.Kind.REPRICE: order_reprice,
}


def _backoff(attempts: int) -> timedelta:
    """1, 2, 4 ... minutes after each failed attempt, at most six hours."""
    return timedelta(minutes=min(2 ** (attempts - 1), 360))


def billing_run(*, transaction_id: int, kind: str, now: datetime | None = None) -> bool:
    """Run one billing step (``order_create`` or ``order_reprice``) and never raise: a failure
    is logged and recorded (``BillingFailure``, retried with backoff), a success resolves the
    open failure. This is what tasks call, so no billing error reaches a caller (the OCPP
    path, an eager task in ``make run``). Returns whether it succeeded."""
    now = now or timezone.now()
    try:
        _RUNNERS[BillingFailure.Kind(kind)](transaction_id=transaction_id)
    except Exception as exc:
        logger.exception("billing (%s) of transaction %s failed", kind, transaction_id)
        _failure_record(transaction_id=transaction_id, kind=kind, error=exc, now=now)
        return False
    BillingFailure.objects.filter(
        transaction_id=transaction_id, kind=kind, resolved_at__isnull=True
    ).update(resolved_at=now, updated_at=now)
    return True


def _failure_record(*, transaction_id: int, kind: str, error: Exception, now: datetime) -> None:
    text = f"{type(error).__name__}: {error}"[:4000]
    try:
        with transaction.atomic():
            failure = (
                BillingFailure.objects.select_for_update()
                .filter(transaction_id=transaction_id, kind=kind, resolved_at__isnull=True)
                .first()
            )
            if failure is None:
                BillingFailure.objects.create(
                    transaction_id=transaction_id,
                    kind=kind,
                    error=text,
                    next_attempt_at=now + _backoff(1),
                )
                return
            failure.attempts += 1
            failure.error = text
            failure.next_attempt_at = now + _backoff(failure.attempts)
            failure.save(update_fields=["attempts", "error", "next_attempt_at", "updated_at"])
    except Exception:  # the database itself is away: the sweep finds the session again
        logger.exception("could not record the billing failure of transaction %s", transaction_id)


def billing_failures_retry(*, now: datetime | None = None) -> int:
    """Retry every open failure that is due (beat task); returns how many succeeded."""
    now = now or timezone.now()
    due = BillingFailure.objects.filter(
        resolved_at__isnull=True, next_attempt_at__lte=now
    ).values_list("transaction_id", "kind")[:SWEEP_BATCH]
    return sum(billing_run(transaction_id=tx_id, kind=kind, now=now) for tx_id, kind in list(due))


def billing_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The beat task's safety net for what the on-commit tasks missed (a worker or the broker
    down, a crash between commit and enqueue):

    - running sessions with no snapshot get one (the tariff that applied at their start);
    - stopped sessions with no order are billed (not those with an open failure: the retry
      owns them, with its backoff), each left ``SWEEP_GRACE`` to its own task first;
    - recent orders whose session has samples newer than the order's are re-priced (samples
      that raised no ``transaction_samples_late``, e.g. per-phase readings only).

    At most ``SWEEP_BATCH`` of each per run; returns the counts."""
    now = now or timezone.now()
    settled = now - SWEEP_GRACE
    open_failure = BillingFailure.objects.filter(
        transaction_id=OuterRef("pk"), resolved_at__isnull=True
    )
    unsnapshotted = Transaction.objects.filter(
        stopped_at__isnull=True, pricing__isnull=True, created_at__lt=settled
    ).values_list("pk", flat=True)[:SWEEP_BATCH]
    snapshots = 0
    for tx_id in list(unsnapshotted):
        try:
            session_pricing_snapshot(transaction_id=tx_id)
            snapshots += 1
        except Exception:
            logger.exception("snapshot of transaction %s failed", tx_id)
    unbilled = (
        Transaction.objects.filter(
            stopped_at__isnull=False, order__isnull=True, updated_at__lt=settled
        )
        .exclude(Exists(open_failure))
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    orders = sum(
        billing_run(transaction_id=tx_id, kind=BillingFailure.Kind.ORDER)
        for tx_id in list(unbilled)
    )
    newer = MeterValue.objects.filter(
        transaction_id=OuterRef("transaction_id"),
        pk__gt=OuterRef("priced_through_sample"),
        measurand__in=TIMELINE_MEASURANDS,
        value_decimal__isnull=False,
    )
    # A re-price that keeps failing waits for its backoff (billing_retry_failed), like an
    # unbilled session: it must not take a sweep slot every minute.
    open_order_failure = BillingFailure.objects.filter(
        transaction_id=OuterRef("transaction_id"), resolved_at__isnull=True
    )
    late = (
        Order.objects.filter(created_at__gte=now - LATE_SAMPLES_WINDOW)
        .filter(Exists(newer))
        .exclude(Exists(open_order_failure))
        .order_by("pk")
        .values_list("transaction_id", flat=True)[:SWEEP_BATCH]
    )
    repriced = sum(
        billing_run(transaction_id=tx_id, kind=BillingFailure.Kind.REPRICE) for tx_id in list(late)
    )
    return {"snapshots": snapshots, "orders": orders, "repriced": repriced}
