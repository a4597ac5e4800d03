"""The pricing engine: a tariff and a session's meter timeline give a priced record (OCPI 2.2.1
CDR naming). Pure: no ORM, no Django, no clock; the same input always gives the same output.

The rules, as OCPI 2.2.1 (mod_tariffs, mod_cdrs) states them:

- **Charging or parking.** The session runs from ``start`` (default: the first sample) to
  ``end`` (default: the last). An interval between two samples in which the register rose is
  charging (TIME), one in which it did not is parking (PARKING_TIME); before the first sample
  and after the last nothing was metered, so that is parking. A sample's power and current
  hold until the next sample; without ``power_w`` the interval's average power stands in
  (what the register proves), without ``current_a`` a current restriction does not hold.
- **Which component.** Per dimension (ENERGY, TIME, PARKING_TIME, FLAT), the first element in
  list order that has a component of that dimension and whose restrictions all hold; none
  means that dimension is free. Restrictions are evaluated continuously: the session is cut at
  local-time, date, weekday, duration and kWh boundaries (``billing.pricing.timeline``), and a
  new charging period starts whenever the active component of any dimension, or the charging
  state, changes. Local times are those of ``timezone`` (IANA), DST-correct. Elements with a
  ``reservation`` restriction price reservations, which a charging session is not: they never
  apply.
- **step_size** once per session, on the billed totals (the volume in periods where the
  dimension has an active component, so free stretches are not rounded up), with the step of
  the last period's component; the rounding-up is billed in that last period, at its price.
  ENERGY in Wh (115.2 Wh at step 1 bills 116 Wh). For time: when parking is billed (some
  parking under an active PARKING_TIME component) only the parking total is rounded and
  charging time is billed exactly; otherwise the charging-time total is rounded (mod_cdrs,
  "step_size"). Some mod_tariffs examples round charging plus parking together; the tests say
  where and follow the mod_cdrs rule.
- **FLAT** once per session: the component active in the first period that has one.
- **VAT.** ``incl_vat = excl_vat * (1 + vat / 100)`` per component. A component without
  ``vat`` (absent is not 0: OCPI's "first hour free" example says the total incl. VAT then
  cannot be calculated) makes every incl_vat it contributes to None, unless its amount is zero
  (zero is zero at any rate: OCPI's free-of-charge tariff has no VAT).
- **min_price / max_price** clamp ``total_cost``'s excl_vat and incl_vat separately (each with
  the bound's own figure; a bound without incl_vat leaves incl_vat alone).

**Rounding rule.** All arithmetic is exact: ``Decimal`` (60 digits, whatever the caller's
context) for volumes, and amounts as ``Fraction`` until rounded (a time volume is seconds /
3600, which no Decimal holds: 60 digits of 200 minutes at 0.1965/h are 0.65499..., not the
exact half cent 0.655); only the final amounts are rounded, half-up, to the currency's minor
unit (ISO 4217: 0 for JPY, 3 for KWD..., 2 when not listed): each dimension total and
``total_cost`` from the exact sum of its parts (never per period or per meter interval),
incl_vat from the exact excl_vat, then ``total_cost`` clamped by the (likewise rounded)
min/max bounds. A cost line shows its own rounded amount; lines may therefore differ from a
total by the rounding of the parts (OCPI's complex example: 2.875 + 3.30 + 4.125 incl. VAT is
10.30, not 2.88 + 3.30 + 4.13); billing that lists lines reconciles with a rounding line, not
by re-adding them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from decimal import ROUND_CEILING, ROUND_HALF_UP, Context, Decimal, localcontext
from fractions import Fraction
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billing.pricing.records import (
    CdrDimension,
    CdrDimensionType,
    ChargingPeriod,
    CostLine,
    PricedSession,
)
from billing.pricing.tariff import (
    WEEKDAYS,
    Dimension,
    Price,
    PriceComponent,
    Restrictions,
    Tariff,
)
from billing.pricing.timeline import MeterSample, PricingInputError, Segment, build_segments

__all__ = [
    "MeterSample",
    "PricedSession",
    "PricingInputError",
    "minor_unit",
    "price_session",
]

# ISO 4217 minor units that are not 2 (the default).
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"), 0),
    **dict.fromkeys(("RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}
_PRICED = (Dimension.ENERGY, Dimension.TIME, Dimension.PARKING_TIME)
_UNIT = {Dimension.ENERGY: Decimal(1000), Dimension.TIME: Decimal(3600)}
_UNIT[Dimension.PARKING_TIME] = _UNIT[Dimension.TIME]
_CHARGING_DIMENSIONS = (Dimension.FLAT, Dimension.ENERGY, Dimension.TIME)
_PARKING_DIMENSIONS = (Dimension.FLAT, Dimension.PARKING_TIME)


def minor_unit(currency: str) -> int:
    return MINOR_UNITS.get(currency.upper(), 2)


def price_session(
    *,
    tariff: Tariff,
    samples: Sequence[MeterSample],
    timezone: str | ZoneInfo,
    start: datetime | None = None,
    end: datetime | None = None,
) -> PricedSession:
    """Price a session. Raises :class:`PricingInputError` (a ValueError) for samples out of
    order, a register going down, naive datetimes, non-Decimal values, an unknown timezone or
    a session outside ``start``/``end``."""
    if not isinstance(tariff, Tariff):
        raise PricingInputError(f"tariff must be a Tariff, got {type(tariff).__name__}.")
    with localcontext(Context(prec=60)):
        zone = _zone(timezone)
        session_start, session_end, energy_wh, segments = build_segments(
            tariff=tariff, samples=samples, zone=zone, start=start, end=end
        )
        periods = _periods(tariff, segments)
        lines = _cost_lines(tariff, periods)
        return _record(tariff, session_start, session_end, energy_wh, periods, lines)


def _zone(timezone: object) -> ZoneInfo:
    if isinstance(timezone, ZoneInfo):
        return timezone
    if not isinstance(timezone, str) or not timezone:
        raise PricingInputError("timezone must be an IANA time zone name.")
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise PricingInputError(f"Unknown time zone {timezone!r}.") from error


def holds(restrictions: Restrictions | None, segment: Segment) -> bool:
    """Whether every restriction holds during ``segment`` (evaluated at its midpoint)."""
    if restrictions is None:
        return True
    r = restrictions
    if r.reservation is not None:
        return False
    local = segment.local
    clock = local.time().replace(tzinfo=None)
    if r.start_time is not None and r.end_time is not None and r.start_time != r.end_time:
        if r.start_time < r.end_time:
            in_window = r.start_time <= clock < r.end_time
        else:  # wraps midnight: 22:00-06:00, or 20:00-00:00 for "until the end of the day"
            in_window = clock >= r.start_time or clock < r.end_time
        if not in_window:
            return False
    elif r.start_time != r.end_time:  # only one of them given
        if r.start_time is not None and clock < r.start_time:
            return False
        # end_time 00:00 means "until the end of the day" (OCPI), so alone it excludes nothing
        if r.end_time is not None and r.end_time != time(0, 0) and clock >= r.end_time:
            return False
    checks = (
        (r.start_date, local.date(), False),
        (r.end_date, local.date(), True),
        (r.min_kwh, segment.session_kwh, False),
        (r.max_kwh, segment.session_kwh, True),
        (r.min_power, segment.power_kw, False),
        (r.max_power, segment.power_kw, True),
        (r.min_duration, segment.elapsed_s, False),
        (r.max_duration, segment.elapsed_s, True),
    )
    for bound, value, is_max in checks:
        # min bounds are inclusive, max bounds exclusive (OCPI, every restriction)
        if bound is not None and (value >= bound if is_max else value < bound):  # type: ignore[operator]
            return False
    if r.min_current is not None or r.max_current is not None:
        current = segment.current_a
        if current is None:
            return False
        if r.min_current is not None and current < r.min_current:
            return False
        if r.max_current is not None and current >= r.max_current:
            return False
    return not r.day_of_week or WEEKDAYS[local.weekday()] in r.day_of_week


def _component(
    element_components: Sequence[PriceComponent], dimension: Dimension
) -> PriceComponent | None:
    return next((c for c in element_components if c.type == dimension), None)


@dataclass
class _Period:
    start: datetime
    end: datetime
    charging: bool
    active: dict[Dimension, int]
    energy_wh: Decimal
    seconds: Decimal

    def volume(self, dimension: Dimension) -> Decimal:
        """Native units: Wh, or seconds of charging (TIME) / not charging (PARKING_TIME)."""
        if dimension is Dimension.ENERGY:
            return self.energy_wh
        if (dimension is Dimension.TIME) == self.charging:
            return self.seconds
        return Decimal(0)


def _periods(tariff: Tariff, segments: list[Segment]) -> list[_Period]:
    periods: list[_Period] = []
    # Per dimension, the elements with a component of it, in list order (looked up once, not
    # per segment).
    candidates = {
        dimension: [
            (index, element.restrictions)
            for index, element in enumerate(tariff.elements)
            if _component(element.price_components, dimension) is not None
        ]
        for dimension in Dimension
    }
    for segment in segments:
        active: dict[Dimension, int] = {}
        # Only what can bill in this state: a TIME price switching while parked is no new
        # period (and no TIME element is listed on a parking period).
        relevant = _CHARGING_DIMENSIONS if segment.charging else _PARKING_DIMENSIONS
        for dimension in relevant:
            for index, restrictions in candidates[dimension]:
                if holds(restrictions, segment):
                    active[dimension] = index
                    break
        last = periods[-1] if periods else None
        if last is not None and last.active == active and last.charging == segment.charging:
            last.end = segment.end
            last.energy_wh += segment.energy_wh
            last.seconds += segment.seconds
        else:
            periods.append(
                _Period(
                    segment.start,
                    segment.end,
                    segment.charging,
                    active,
                    segment.energy_wh,
                    segment.seconds,
                )
            )
    return periods


@dataclass(frozen=True)
class _Exact:
    """An amount kept exact as a Fraction until it is rounded: a time volume is seconds / 3600,
    which no Decimal holds (20 minutes is 1/3 h), and 60 digits of it times a price can land
    just below an exact half cent (12000 s at 0.1965/h is 0.655, not 0.65499...)."""

    excl: Fraction
    incl: Fraction | None

    def rounded(self, currency: str) -> Price:
        incl = None if self.incl is None else _round_exact(self.incl, currency)
        return Price(_round_exact(self.excl, currency), incl)


def _sum_exact(amounts: Sequence[_Exact]) -> _Exact:
    excl = sum((a.excl for a in amounts), Fraction(0))
    if any(a.incl is None for a in amounts):
        return _Exact(excl, None)
    return _Exact(excl, sum((a.incl or Fraction(0) for a in amounts), Fraction(0)))


def _round_exact(amount: Fraction, currency: str) -> Decimal:
    """Half up (away from zero) to the currency's minor unit."""
    places = minor_unit(currency)
    units = math.floor(abs(amount) * 10**places + Fraction(1, 2))
    return Decimal(units if amount >= 0 else -units).scaleb(-places)


def _cost_lines(tariff: Tariff, periods: list[_Period]) -> list[tuple[CostLine, _Exact]]:
    # (dimension, element) -> billed volume in native units, in order of first use
    billed: dict[tuple[Dimension, int], Decimal] = {}
    flat = next((p.active[Dimension.FLAT] for p in periods if Dimension.FLAT in p.active), None)
    if flat is not None:
        billed[(Dimension.FLAT, flat)] = Decimal(1)
    used: dict[Dimension, list[tuple[int, Decimal]]] = {d: [] for d in _PRICED}
    for period in periods:
        for dimension in _PRICED:
            volume = period.volume(dimension)
            if dimension in period.active and volume > 0:
                used[dimension].append((period.active[dimension], volume))
    parking_billed = bool(used[Dimension.PARKING_TIME])
    stepped = {Dimension.ENERGY, Dimension.PARKING_TIME if parking_billed else Dimension.TIME}
    for dimension in _PRICED:
        entries = used[dimension]
        for element, volume in entries:
            key = (dimension, element)
            billed[key] = billed.get(key, Decimal(0)) + volume
        if dimension in stepped and entries:
            last_element = entries[-1][0]
            component = _component(tariff.elements[last_element].price_components, dimension)
            assert component is not None
            # A step below 1 is meaningless (OCPI's minimum is 1 unit): read as 1.
            step = Decimal(max(component.step_size, 1))
            total = sum((volume for _, volume in entries), Decimal(0))
            rounded = (total / step).to_integral_value(ROUND_CEILING) * step
            billed[(dimension, last_element)] += rounded - total
    lines: list[tuple[CostLine, _Exact]] = []
    for (dimension, element), native in billed.items():
        component = _component(tariff.elements[element].price_components, dimension)
        assert component is not None
        unit = Fraction(_UNIT[dimension]) if dimension in _UNIT else Fraction(1)
        excl = Fraction(native) * Fraction(component.price) / unit
        incl: Fraction | None
        if component.vat is not None:
            incl = excl * (100 + Fraction(component.vat)) / 100
        else:
            incl = None if excl else Fraction(0)
        amount = _Exact(excl, incl)
        line = CostLine(
            dimension=dimension,
            tariff_element=element,
            volume=native / _UNIT[dimension] if dimension in _UNIT else native,
            price=component.price,
            vat=component.vat,
            cost=amount.rounded(tariff.currency),
        )
        lines.append((line, amount))
    return lines


def _round(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-minor_unit(currency)), ROUND_HALF_UP)


def _clamp(total: Price, tariff: Tariff) -> Price:
    currency = tariff.currency
    excl, incl = total.excl_vat, total.incl_vat
    if tariff.min_price is not None:
        excl = max(excl, _round(tariff.min_price.excl_vat, currency))
        if incl is not None and tariff.min_price.incl_vat is not None:
            incl = max(incl, _round(tariff.min_price.incl_vat, currency))
    if tariff.max_price is not None:
        excl = min(excl, _round(tariff.max_price.excl_vat, currency))
        if incl is not None and tariff.max_price.incl_vat is not None:
            incl = min(incl, _round(tariff.max_price.incl_vat, currency))
    return Price(excl, incl)


def _record(
    tariff: Tariff,
    start: datetime,
    end: datetime,
    energy_wh: Decimal,
    periods: list[_Period],
    lines: list[tuple[CostLine, _Exact]],
) -> PricedSession:
    currency = tariff.currency
    exact = {
        dimension: _sum_exact([amount for line, amount in lines if line.dimension == dimension])
        for dimension in Dimension
    }
    totals = {dimension: amount.rounded(currency) for dimension, amount in exact.items()}
    hours = _UNIT[Dimension.TIME]
    return PricedSession(
        currency=currency,
        start_date_time=start,
        end_date_time=end,
        charging_periods=tuple(_charging_period(period) for period in periods),
        cost_lines=tuple(line for line, _ in lines),
        total_energy=energy_wh / 1000,
        total_time=sum((p.seconds for p in periods), Decimal(0)) / hours,
        total_parking_time=sum((p.seconds for p in periods if not p.charging), Decimal(0)) / hours,
        total_fixed_cost=totals[Dimension.FLAT],
        total_energy_cost=totals[Dimension.ENERGY],
        total_time_cost=totals[Dimension.TIME],
        total_parking_cost=totals[Dimension.PARKING_TIME],
        total_cost=_clamp(_sum_exact(list(exact.values())).rounded(currency), tariff),
    )


def _charging_period(period: _Period) -> ChargingPeriod:
    time_type = CdrDimensionType.TIME if period.charging else CdrDimensionType.PARKING_TIME
    return ChargingPeriod(
        start_date_time=period.start,
        end_date_time=period.end,
        charging=period.charging,
        dimensions=(
            CdrDimension(CdrDimensionType.ENERGY, period.energy_wh / 1000),
            CdrDimension(time_type, period.seconds / _UNIT[Dimension.TIME]),
        ),
        tariff_elements={d: i for d, i in period.active.items()},
    )
