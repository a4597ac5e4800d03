"""Reads of billing's session side: a session priced with its frozen tariff (live cost while
it runs), orders and their lines, revenue per day and site.

A session is priced from ``csms.selectors.transactions.transaction_timeline`` (its samples in
Wh, the units settled by csms) with the tariff of its ``SessionPricing``. A session with no
snapshot (billing was down at its start) is priced with the tariff that applied at its start,
read here without writing anything; billing writes that snapshot when it bills the session.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from billing.models import Order, OrderLine, SessionPricing
from billing.pricing.engine import MeterSample, PricedSession, price_session
from billing.pricing.ocpi import tariff_from_ocpi, tariff_to_ocpi
from billing.pricing.tariff import Tariff as PricingTariff
from billing.selectors import site_timezone_for, tariff_applicable
from csms.models import Transaction
from csms.selectors.transactions import Timeline, transaction_timeline


@dataclass(frozen=True)
class FrozenTariff:
    """What a session is priced with: a snapshot's content, stored or not yet stored."""

    tariff: dict[str, Any] | None  # OCPI JSON; None: no tariff applies
    currency: str
    timezone: str
    reason: str
    tariff_version_id: int | None


def frozen_tariff_at_start(*, transaction: Transaction) -> FrozenTariff:
    """The tariff that applied when the session started, with the station's time zone, as a
    snapshot would hold it. "When" is our clock at the StartTransaction (the session's
    ``created_at``), not the station's, so a station's wrong clock cannot pick a tariff. A
    few queries (``tariff_applicable``): call it once per session, never per sample."""
    charge_point = transaction.charge_point
    version, reason = tariff_applicable(
        charge_point, transaction.connector_id, transaction.created_at
    )
    zone = site_timezone_for(charge_point).key
    if version is None:
        return FrozenTariff(None, "", zone, reason, None)
    pricing = version.as_pricing()
    return FrozenTariff(tariff_to_ocpi(pricing), pricing.currency, zone, reason, version.pk)


def session_frozen_tariff(*, transaction: Transaction) -> FrozenTariff:
    """The session's snapshot (one query), or the tariff at its start when it has none."""
    snapshot = SessionPricing.objects.filter(transaction=transaction).first()
    if snapshot is None:
        return frozen_tariff_at_start(transaction=transaction)
    return FrozenTariff(
        snapshot.tariff,
        snapshot.currency,
        snapshot.timezone,
        snapshot.reason,
        snapshot.tariff_version_id,
    )


def meter_samples(timeline: Timeline) -> list[MeterSample]:
    """The engine's samples: the session's start and end readings around its register
    samples (power and current where the station sampled them)."""
    samples = [MeterSample(timeline.start, timeline.start_wh)]
    samples += [
        MeterSample(r.timestamp, r.energy_wh, r.power_w, r.current_a) for r in timeline.readings
    ]
    if timeline.end > timeline.start:
        samples.append(MeterSample(timeline.end, timeline.end_wh))
    return samples


def session_price(*, tariff: PricingTariff, timeline: Timeline, timezone: str) -> PricedSession:
    """The engine on a session's timeline (raises PricingInputError when it cannot)."""
    return price_session(
        tariff=tariff,
        samples=meter_samples(timeline),
        timezone=timezone,
        start=timeline.start,
        end=timeline.end,
    )


def transaction_cost_so_far(*, transaction: Transaction) -> dict[str, Any] | None:
    """``{excl_vat, incl_vat, currency}`` of the session up to its last reading (or to its
    end), priced on read with its frozen tariff: no work in the gateway per sample. None when
    no tariff applies to it. Two queries plus the engine (and ``tariff_applicable`` for a
    session without a snapshot)."""
    frozen = session_frozen_tariff(transaction=transaction)
    if frozen.tariff is None:
        return None
    priced = session_price(
        tariff=tariff_from_ocpi(frozen.tariff),
        timeline=transaction_timeline(transaction=transaction),
        timezone=frozen.timezone,
    )
    total = priced.total_cost
    return {"excl_vat": total.excl_vat, "incl_vat": total.incl_vat, "currency": priced.currency}


# --- Orders ---------------------------------------------------------------------------------


def order_list(
    *,
    charge_point: str | None = None,
    site_id: int | None = None,
    driver: str | None = None,
    stopped_after: dt.datetime | None = None,
    stopped_before: dt.datetime | None = None,
    state: str | None = None,
) -> QuerySet[Order]:
    """Orders, newest session end first, with station, site and driver joined in.
    ``charge_point`` is an identity, ``driver`` a username; the date range is on the
    session's end, half-open."""
    qs = Order.objects.select_related("charge_point", "site", "driver")
    if charge_point:
        qs = qs.filter(charge_point__identity=charge_point)
    if site_id is not None:
        qs = qs.filter(site_id=site_id)
    if driver:
        qs = qs.filter(driver__username=driver)
    if stopped_after:
        qs = qs.filter(stopped_at__gte=stopped_after)
    if stopped_before:
        qs = qs.filter(stopped_at__lt=stopped_before)
    if state:
        qs = qs.filter(state=state)
    return qs.order_by("-stopped_at", "-id")


def order_get(*, pk: int) -> Order | None:
    """An order with its lines in order (one query for them)."""
    return (
        order_list()
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("position")))
        .filter(pk=pk)
        .first()
    )


def revenue_per_day(
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    site_id: int | None = None,
) -> list[dict[str, Any]]:
    """Revenue per day (of the session's end, in settings.TIME_ZONE), site and currency: one
    aggregate query on the (site, stopped_at) index. Refunded orders do not count; free ones
    count as sessions with no revenue."""
    qs = Order.objects.exclude(state=Order.State.REFUNDED)
    if since:
        qs = qs.filter(stopped_at__gte=since)
    if until:
        qs = qs.filter(stopped_at__lt=until)
    if site_id is not None:
        qs = qs.filter(site_id=site_id)
    rows = (
        qs.annotate(day=TruncDate("stopped_at", tzinfo=zoneinfo.ZoneInfo(settings.TIME_ZONE)))
        .values("day", "site_id", "site__name", "currency")
        .annotate(
            orders=Count("id"),
            free_orders=Count("id", filter=Q(state=Order.State.FREE)),
            energy_kwh=Sum("energy_kwh"),
            total_excl_vat=Sum("total_excl_vat"),
            total_incl_vat=Sum("total_incl_vat"),
        )
        .order_by("day", "site__name", "currency")
    )
    return [
        {
            "day": row["day"],
            "site": row["site_id"],
            "site_name": row["site__name"] or "",
            "currency": row["currency"],
            "orders": row["orders"],
            "free_orders": row["free_orders"],
            "energy_kwh": row["energy_kwh"] or Decimal(0),
            "total_excl_vat": row["total_excl_vat"] or Decimal(0),
            "total_incl_vat": row["total_incl_vat"],
        }
        for row in rows
    ]


def sessions_for_export(
    *, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> QuerySet[Transaction]:
    """Sessions started in the range, with station, order and its site joined in, oldest
    first: the sessions CSV streams them with ``iterator()``."""
    qs = Transaction.objects.select_related("charge_point", "order", "order__site")
    if since:
        qs = qs.filter(started_at__gte=since)
    if until:
        qs = qs.filter(started_at__lt=until)
    return qs.order_by("started_at", "id")
