"""Properties of the engine over generated tariffs and sessions (hypothesis).

Meter legs last whole seconds and deliver a whole number of mWh per second, so a sample
interpolated at any whole second holds an exact register value: splitting a leg there is a
true linear interpolation, not an approximation of one."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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

ZONE = "Europe/Amsterdam"
# Around the autumn DST change, so local-time windows meet the repeated hour too.
EPOCH = dt.datetime(2024, 10, 26, 18, 0, tzinfo=dt.UTC)
PRICED = [Dimension.ENERGY, Dimension.TIME, Dimension.PARKING_TIME, Dimension.FLAT]

prices = st.decimals(min_value=0, max_value=5, places=3)
vats = st.none() | st.sampled_from([Decimal(0), Decimal(9), Decimal(21)])
clock = st.builds(dt.time, st.integers(0, 23), st.sampled_from([0, 30]))


def restrictions(*, with_max: bool) -> st.SearchStrategy[Restrictions | None]:
    def maybe(strategy: st.SearchStrategy[Any], allowed: bool = True) -> st.SearchStrategy[Any]:
        return st.none() | strategy if allowed else st.none()

    return st.none() | st.builds(
        Restrictions,
        start_time=maybe(clock),
        end_time=maybe(clock),
        min_kwh=maybe(st.sampled_from([Decimal(1), Decimal(5), Decimal(10)])),
        max_kwh=maybe(st.sampled_from([Decimal(2), Decimal(8)]), with_max),
        min_power=maybe(st.sampled_from([Decimal("3.7"), Decimal(11)])),
        max_power=maybe(st.sampled_from([Decimal(11), Decimal(22)]), with_max),
        min_current=maybe(st.sampled_from([Decimal(16)])),
        max_current=maybe(st.sampled_from([Decimal(32)]), with_max),
        min_duration=maybe(st.sampled_from([600, 3600])),
        max_duration=maybe(st.sampled_from([1800, 7200]), with_max),
        day_of_week=st.frozensets(st.sampled_from(list(DayOfWeek)), max_size=3),
    )


def tariffs(*, with_max: bool, steps: list[int]) -> st.SearchStrategy[Tariff]:
    component = st.builds(
        PriceComponent,
        type=st.sampled_from(PRICED),
        price=prices,
        vat=vats,
        step_size=st.sampled_from(steps),
    )
    element = st.builds(
        TariffElement,
        price_components=st.lists(component, min_size=1, max_size=3).map(tuple),
        restrictions=restrictions(with_max=with_max),
    )
    bound = st.builds(Price, excl_vat=prices, incl_vat=st.none() | prices)
    return st.builds(
        Tariff,
        currency=st.just("EUR"),
        elements=st.lists(element, min_size=1, max_size=4).map(tuple),
        min_price=st.none() | bound,
        max_price=st.none() | bound if with_max else st.none(),
    )


# (seconds, mWh per second, power_w, current_a); a rate of 0 is parking.
legs = st.lists(
    st.tuples(
        st.integers(1, 5400),
        st.sampled_from([0, 0, 1000, 3700, 11000, 20000]),
        st.none() | st.sampled_from([Decimal(0), Decimal(3700), Decimal(11000), Decimal(50000)]),
        st.none() | st.sampled_from([Decimal(0), Decimal(16), Decimal(48)]),
    ),
    min_size=1,
    max_size=5,
)
starts = st.integers(0, 3 * 24 * 60).map(lambda minutes: EPOCH + dt.timedelta(minutes=minutes))


def timeline(start: dt.datetime, plan: list[tuple[int, int, Any, Any]]) -> list[MeterSample]:
    at, wh, found = start, Decimal(0), []
    for seconds, rate, power, current in plan:
        found.append(MeterSample(at, wh, power, current))
        at += dt.timedelta(seconds=seconds)
        wh += Decimal(rate * seconds) / 1000
    found.append(MeterSample(at, wh))
    return found


def price(tariff: Tariff, readings: list[MeterSample]) -> PricedSession:
    return price_session(tariff=tariff, samples=readings, timezone=ZONE)


def total(session: PricedSession) -> tuple[Decimal, Decimal | None]:
    return session.total_cost.excl_vat, session.total_cost.incl_vat


COMMON = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(
    tariffs(with_max=True, steps=[1, 60, 100, 300, 900]),
    starts,
    legs,
    st.data(),
)
def test_it_prices_a_session_the_same_however_finely_it_was_metered(tariff, start, plan, data):
    readings = timeline(start, plan)
    # Cut each leg at whole seconds into as many samples as hypothesis likes.
    finer: list[MeterSample] = []
    for left, right in itertools.pairwise(readings):
        finer.append(left)
        length = int((right.timestamp - left.timestamp).total_seconds())
        cuts = data.draw(
            st.sets(st.integers(1, length - 1), max_size=3) if length > 1 else st.just(set())
        )
        rate = (right.energy_wh - left.energy_wh) / length
        for cut in sorted(cuts):
            finer.append(
                MeterSample(
                    left.timestamp + dt.timedelta(seconds=cut),
                    left.energy_wh + rate * cut,
                    left.power_w,
                    left.current_a,
                )
            )
    finer.append(readings[-1])

    assert price(tariff, finer) == price(tariff, readings)


@COMMON
@given(tariffs(with_max=False, steps=[1]), starts, legs, legs)
def test_it_never_lowers_the_cost_as_energy_or_time_is_added(tariff, start, plan, more):
    # Steps of 1 (Wh, second) here: with bigger steps OCPI's own rule lowers some costs on
    # purpose: the step is that of the *last* component, and charging time stops being rounded
    # once parking is billed (mod_cdrs, "step_size").
    before = price(tariff, timeline(start, plan))
    after = price(tariff, timeline(start, plan + more))

    assert after.total_cost.excl_vat >= before.total_cost.excl_vat
    if before.total_cost.incl_vat is not None and after.total_cost.incl_vat is not None:
        assert after.total_cost.incl_vat >= before.total_cost.incl_vat


@COMMON
@given(tariffs(with_max=False, steps=[1, 100, 500, 1000]), starts, legs, st.integers(1, 50_000))
def test_it_never_lowers_the_energy_cost_of_a_single_energy_price_as_energy_grows(
    tariff, start, plan, extra_wh
):
    energy_only = Tariff(
        "EUR",
        tuple(
            TariffElement(
                tuple(c for c in e.price_components if c.type == Dimension.ENERGY)
                or (PriceComponent(Dimension.ENERGY, Decimal("0.3")),),
                None,
            )
            for e in tariff.elements[:1]
        ),
    )
    readings = timeline(start, plan)
    last = readings[-1]
    grown = [*readings[:-1], MeterSample(last.timestamp, last.energy_wh + extra_wh)]

    assert total(price(energy_only, grown))[0] >= total(price(energy_only, readings))[0]
