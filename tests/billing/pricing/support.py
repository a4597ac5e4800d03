"""Builders for pricing tests: tariffs as dataclasses and sessions as a script of legs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from billing.pricing.engine import MeterSample, PricedSession, price_session
from billing.pricing.tariff import (
    DayOfWeek,
    Dimension,
    Price,
    PriceComponent,
    Restrictions,
    Tariff,
    TariffElement,
)

WEEKDAYS = frozenset(
    {DayOfWeek.MONDAY, DayOfWeek.TUESDAY, DayOfWeek.WEDNESDAY, DayOfWeek.THURSDAY, DayOfWeek.FRIDAY}
)


def D(value: str | int) -> Decimal:
    return Decimal(value)


def component(kind: Dimension, price: str, vat: str | None = None, step: int = 1) -> PriceComponent:
    return PriceComponent(kind, D(price), None if vat is None else D(vat), step)


def energy(price: str, vat: str | None = None, step: int = 1) -> PriceComponent:
    return component(Dimension.ENERGY, price, vat, step)


def time(price: str, vat: str | None = None, step: int = 1) -> PriceComponent:
    return component(Dimension.TIME, price, vat, step)


def parking(price: str, vat: str | None = None, step: int = 1) -> PriceComponent:
    return component(Dimension.PARKING_TIME, price, vat, step)


def flat(price: str, vat: str | None = None) -> PriceComponent:
    return component(Dimension.FLAT, price, vat)


def element(*components: PriceComponent, **restrictions: Any) -> TariffElement:
    for name in ("start_time", "end_time"):
        if isinstance(restrictions.get(name), str):
            restrictions[name] = dt.time.fromisoformat(restrictions[name])
    for name in ("start_date", "end_date"):
        if isinstance(restrictions.get(name), str):
            restrictions[name] = dt.date.fromisoformat(restrictions[name])
    for name in ("min_kwh", "max_kwh", "min_power", "max_power", "min_current", "max_current"):
        if name in restrictions:
            restrictions[name] = D(str(restrictions[name]))
    if "day_of_week" in restrictions:
        restrictions["day_of_week"] = frozenset(restrictions["day_of_week"])
    return TariffElement(tuple(components), Restrictions(**restrictions) if restrictions else None)


def tariff(
    *elements: TariffElement,
    currency: str = "EUR",
    min_price: tuple[str, str | None] | None = None,
    max_price: tuple[str, str | None] | None = None,
) -> Tariff:
    def price(pair: tuple[str, str | None] | None) -> Price | None:
        if pair is None:
            return None
        return Price(D(pair[0]), None if pair[1] is None else D(pair[1]))

    return Tariff(currency, tuple(elements), price(min_price), price(max_price))


@dataclass(frozen=True)
class Leg:
    minutes: float
    wh: Decimal
    power_w: Decimal | None = None
    current_a: Decimal | None = None


def charge(minutes: float, kwh: str, *, kw: str | None = None, amps: str | None = None) -> Leg:
    return Leg(
        minutes,
        D(kwh) * 1000,
        None if kw is None else D(kw) * 1000,
        None if amps is None else D(amps),
    )


def park(minutes: float) -> Leg:
    return Leg(minutes, D(0), D(0), D(0))


def samples(start: str, *legs: Leg, tz: str = "UTC") -> list[MeterSample]:
    """A sample at ``start`` (local time in ``tz``) and after each leg; a leg's power and
    current are those of the sample that begins it."""
    at = dt.datetime.fromisoformat(start).replace(tzinfo=ZoneInfo(tz)).astimezone(dt.UTC)
    wh = D(0)
    found = []
    for leg in legs:
        found.append(MeterSample(at, wh, leg.power_w, leg.current_a))
        at += dt.timedelta(minutes=leg.minutes)
        wh += leg.wh
    found.append(MeterSample(at, wh))
    return found


def priced(the_tariff: Tariff, start: str, *legs: Leg, tz: str = "UTC") -> PricedSession:
    return price_session(tariff=the_tariff, samples=samples(start, *legs, tz=tz), timezone=tz)


def cost(session: PricedSession) -> tuple[str, str | None]:
    total = session.total_cost
    return str(total.excl_vat), None if total.incl_vat is None else str(total.incl_vat)


def volumes(session: PricedSession, kind: Dimension) -> list[Decimal]:
    """Billed volume per cost line of ``kind``, in order: kWh for ENERGY, *minutes* for TIME
    and PARKING_TIME (to the microminute: hours like 1/6 do not end in decimal)."""
    scale = 1 if kind in (Dimension.ENERGY, Dimension.FLAT) else 60
    return [
        (line.volume * scale).quantize(Decimal("0.000001")).normalize()
        for line in session.cost_lines
        if line.dimension == kind
    ]
