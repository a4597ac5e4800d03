"""The engine's rules beyond the spec's examples: local time and DST, kWh crossings, FLAT,
VAT, clamps, rounding, periods, the session's edges, and bad input."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from billing.pricing.engine import MeterSample, PricingInputError, price_session
from billing.pricing.tariff import Dimension
from tests.billing.pricing.support import (
    D,
    charge,
    cost,
    element,
    energy,
    flat,
    park,
    parking,
    priced,
    samples,
    tariff,
    time,
)

AMS = "Europe/Amsterdam"
NIGHT = tariff(element(time("1.00"), start_time="22:00", end_time="06:00"), element(time("3.00")))


def test_it_applies_a_time_range_that_wraps_midnight():
    # 21:00 to 07:00: 8 hours of night (22:00-06:00) and 2 of day.
    session = priced(NIGHT, "2024-07-01 21:00", charge(600, "50"), tz=AMS)

    assert cost(session) == ("14.00", None)
    assert [p.start_date_time.astimezone(dt.UTC).hour for p in session.charging_periods] == [
        19,
        20,
        4,
    ]


def test_it_bills_the_repeated_autumn_hour_twice_in_local_time():
    # 2024-10-27 Amsterdam: 03:00 CEST goes back to 02:00 CET, so 02:00-03:00 happens twice.
    the_tariff = tariff(
        element(time("10.00"), start_time="02:00", end_time="03:00"), element(time("1.00"))
    )
    session = priced(the_tariff, "2024-10-27 00:00", charge(360, "30"), tz=AMS)  # 6 real hours

    assert cost(session) == ("24.00", None)  # 2h at 10 + 4h at 1


def test_it_starts_a_window_inside_the_skipped_spring_hour_at_the_jump():
    # 2024-03-31 Amsterdam: 02:00 CET jumps to 03:00 CEST; 02:30 never happens, so a window
    # from 02:30 begins at 03:00 local.
    the_tariff = tariff(
        element(time("10.00"), start_time="02:30", end_time="03:30"), element(time("1.00"))
    )
    session = priced(the_tariff, "2024-03-31 01:00", charge(120, "20"), tz=AMS)  # to 04:00

    assert cost(session) == ("6.50", None)  # 0.5h at 10 + 1.5h at 1


def test_it_reads_weekdays_and_dates_in_the_sites_timezone():
    weekend = tariff(
        element(energy("0.50"), day_of_week={"SATURDAY", "SUNDAY"}), element(energy("0.30"))
    )
    # Sunday 23:30 UTC is Monday 01:30 in Amsterdam.
    at = "2024-06-30 23:30"

    assert cost(priced(weekend, at, charge(30, "10"))) == ("5.00", None)
    session = price_session(tariff=weekend, samples=samples(at, charge(30, "10")), timezone=AMS)
    assert cost(session) == ("3.00", None)

    dated = tariff(element(energy("0.10"), start_date="2024-07-01"), element(energy("0.30")))
    amsterdam = price_session(tariff=dated, samples=samples(at, charge(30, "10")), timezone=AMS)
    assert cost(amsterdam) == ("1.00", None)


def test_it_cuts_a_period_where_the_energy_crosses_a_kwh_restriction():
    the_tariff = tariff(
        element(energy("0.20"), time("1.00"), max_kwh=10), element(energy("0.40"), time("2.00"))
    )
    # 20 kWh linearly over 2 hours: the 10 kWh mark is reached after exactly one hour.
    session = priced(the_tariff, "2024-07-01 10:00", charge(120, "20"))

    starts = [p.start_date_time for p in session.charging_periods]
    assert starts == [
        dt.datetime(2024, 7, 1, 10, tzinfo=dt.UTC),
        dt.datetime(2024, 7, 1, 11, tzinfo=dt.UTC),
    ]
    assert cost(session) == ("9.00", None)  # 10*0.20 + 1h*1 + 10*0.40 + 1h*2


def test_it_charges_a_flat_fee_once_from_the_first_period_it_applies_in():
    the_tariff = tariff(
        element(flat("1.00"), max_duration=600),
        element(flat("5.00")),
        element(energy("0.30")),
    )
    late = tariff(element(flat("2.00"), min_duration=3600), element(energy("0.30")))

    assert priced(the_tariff, "2024-07-01 10:00", charge(120, "10")).total_fixed_cost.excl_vat == 1
    assert priced(late, "2024-07-01 10:00", charge(30, "1")).total_fixed_cost.excl_vat == 0
    assert priced(late, "2024-07-01 10:00", charge(90, "1")).total_fixed_cost.excl_vat == 2


def test_it_leaves_a_dimension_free_when_no_element_matches():
    the_tariff = tariff(
        element(energy("0.30"), min_power=11), element(parking("2.00"), max_duration=60)
    )

    session = priced(the_tariff, "2024-07-01 10:00", charge(60, "3", kw="3.7"), park(60))

    assert cost(session) == ("0.00", "0.00")


def test_it_uses_the_average_power_when_a_sample_has_none():
    fast = tariff(element(energy("0.60"), min_power=50), element(energy("0.40")))

    assert cost(priced(fast, "2024-07-01 10:00", charge(30, "30"))) == ("18.00", None)  # 60 kW
    assert cost(priced(fast, "2024-07-01 10:00", charge(60, "30"))) == ("12.00", None)  # 30 kW


def test_it_does_not_apply_a_current_restriction_when_the_current_is_unknown():
    the_tariff = tariff(element(time("1.00"), max_current=32), element(time("9.00")))

    assert cost(priced(the_tariff, "2024-07-01 10:00", charge(60, "11", amps="16"))) == (
        "1.00",
        None,
    )
    assert cost(priced(the_tariff, "2024-07-01 10:00", charge(60, "11"))) == ("9.00", None)


def test_it_clamps_excl_and_incl_vat_separately():
    # 10 kWh at 0.30 + 25% VAT: 3.00 excl, 3.75 incl. The minimum lifts excl only (3.50 >
    # 3.00), the maximum cuts incl only (3.60 < 3.75).
    the_tariff = tariff(
        element(energy("0.30", "25")), min_price=("3.50", "3.00"), max_price=("9.00", "3.60")
    )

    assert cost(priced(the_tariff, "2024-07-01 10:00", charge(60, "10"))) == ("3.50", "3.60")


def test_it_leaves_incl_vat_unknown_when_a_paid_component_has_no_vat():
    the_tariff = tariff(element(flat("1.00", "21")), element(energy("0.30")))

    session = priced(the_tariff, "2024-07-01 10:00", charge(60, "10"))

    assert cost(session) == ("4.00", None)
    assert session.total_fixed_cost.incl_vat == D("1.21")
    assert "incl_vat" not in session.to_ocpi()["total_cost"]


def test_it_rounds_half_up_to_the_currencys_minor_unit_only_at_the_end():
    # 0.125 is 0.13 half-up (0.12 half-even); 7 * 0.0049 is 0.0343 exact, 0.03 at the end.
    session = priced(tariff(element(energy("0.0125"))), "2024-07-01 10:00", charge(60, "10"))
    assert cost(session) == ("0.13", None)
    split = priced(tariff(element(energy("0.0049"))), "2024-07-01 10:00", *[charge(5, "1")] * 7)
    assert cost(split) == ("0.03", None)
    yen = priced(
        tariff(element(energy("35.5")), currency="JPY"), "2024-07-01 10:00", charge(60, "1")
    )
    assert cost(yen) == ("36", None)
    dinar = priced(
        tariff(element(energy("0.0255")), currency="KWD"), "2024-07-01 10:00", charge(60, "1")
    )
    assert cost(dinar) == ("0.026", None)


def test_it_merges_meter_intervals_with_the_same_components_into_one_period():
    session = priced(NIGHT, "2024-07-01 12:00", *[charge(15, "2")] * 8, park(30))

    assert len(session.charging_periods) == 2
    assert [p.charging for p in session.charging_periods] == [True, False]


def test_it_counts_time_before_the_first_sample_and_after_the_last_as_parking():
    the_tariff = tariff(element(time("1.00"), parking("2.00")))
    readings = samples("2024-07-01 10:00", charge(60, "10"))
    start = dt.datetime(2024, 7, 1, 9, 30, tzinfo=dt.UTC)
    end = dt.datetime(2024, 7, 1, 12, 0, tzinfo=dt.UTC)

    session = price_session(
        tariff=the_tariff, samples=readings, timezone="UTC", start=start, end=end
    )

    assert session.total_time == D("2.5")
    assert session.total_parking_time == D("1.5")
    assert cost(session) == ("4.00", None)


def test_it_prices_a_single_sample_as_an_empty_session_with_its_flat_fee():
    one = [MeterSample(dt.datetime(2024, 7, 1, 10, tzinfo=dt.UTC), D(1000))]

    session = price_session(
        tariff=tariff(element(flat("1.00"), energy("0.3"))), samples=one, timezone="UTC"
    )

    assert cost(session) == ("1.00", None)
    assert session.total_energy == 0
    assert len(session.charging_periods) == 1


def test_it_writes_json_ready_ocpi_with_numbers_as_strings():
    session = priced(NIGHT, "2024-07-01 21:00", charge(120, "22"), park(30), tz=AMS)

    written = session.to_ocpi()

    assert json.loads(json.dumps(written)) == written
    assert written["total_energy"] == "22"
    assert written["total_time"] == "2.5"
    assert written["total_parking_time"] == "0.5"
    assert written["start_date_time"] == "2024-07-01T19:00:00Z"
    assert written["charging_periods"][0]["dimensions"] == [
        {"type": "ENERGY", "volume": "11"},
        {"type": "TIME", "volume": "1"},
    ]
    assert written["charging_periods"][1]["tariff_elements"] == {"TIME": 0}
    assert written["total_cost"] == {"excl_vat": "4.00"}


AT = dt.datetime(2024, 7, 1, 10, tzinfo=dt.UTC)
LATER = AT + dt.timedelta(minutes=5)
WEST = dt.timezone(-dt.timedelta(hours=5))


@pytest.mark.parametrize(
    ("readings", "kwargs", "message"),
    [
        ([], {}, "At least one meter sample"),
        ([MeterSample(LATER, D(0)), MeterSample(AT, D(10))], {}, "earlier than the sample"),
        ([MeterSample(AT, D(10)), MeterSample(LATER, D(5))], {}, "went down"),
        ([MeterSample(AT, D(0)), MeterSample(AT, D(5))], {}, "energy cannot rise in no time"),
        ([MeterSample(AT.replace(tzinfo=None), D(0))], {}, "timezone-aware"),
        ([MeterSample(AT, 1.5)], {}, "must be a Decimal, got float"),  # type: ignore[arg-type]
        ([MeterSample(AT, Decimal("NaN"))], {}, "finite"),
        ([MeterSample(AT, D(0))], {"timezone": "Mars/Olympus"}, "Unknown time zone"),
        ([MeterSample(AT, D(0))], {"start": LATER}, "start is after the first sample"),
        ([MeterSample(LATER, D(0))], {"end": AT}, "end is before the last sample"),
        ([MeterSample(AT, D(0))], {"end": AT + dt.timedelta(days=400)}, "at most 366 days"),
        (["not a sample"], {}, "must be a MeterSample"),
        ([MeterSample(AT, D(0)), MeterSample(LATER, D("1e70"))], {}, "too large"),
        ([MeterSample(AT, D(0), power_w=D("-1e99"))], {}, "too large"),
        ([MeterSample(dt.datetime(1, 1, 1, tzinfo=dt.UTC), D(0))], {}, "out of range"),
        ([MeterSample(dt.datetime(9999, 12, 31, tzinfo=dt.UTC), D(0))], {}, "out of range"),
        ([MeterSample(dt.datetime(9999, 12, 31, 23, tzinfo=WEST), D(0))], {}, "out of range"),
        ([MeterSample(AT, D(0))], {"end": dt.datetime.max.replace(tzinfo=WEST)}, "out of range"),
    ],
)
def test_it_refuses_input_it_cannot_price_with_a_clear_message(readings, kwargs, message):
    arguments = {"tariff": NIGHT, "samples": readings, "timezone": "UTC", **kwargs}

    with pytest.raises(PricingInputError, match=message):
        price_session(**arguments)


def test_it_prices_a_repeated_identical_sample_once():
    readings = [MeterSample(AT, D(0)), MeterSample(AT, D(0)), MeterSample(LATER, D(1000))]

    session = price_session(
        tariff=tariff(element(energy("0.30"))), samples=readings, timezone="UTC"
    )

    assert cost(session) == ("0.30", None)
    assert session.cost_lines[0].dimension == Dimension.ENERGY


def test_it_applies_an_end_time_of_midnight_alone_all_day():
    # OCPI: "To stop at end of the day use: 00:00". Without a start_time that is the whole
    # day, not never (every clock time is >= 00:00).
    the_tariff = tariff(element(energy("0.20"), end_time="00:00"), element(energy("0.30")))

    assert cost(priced(the_tariff, "2024-07-01 10:00", charge(60, "10"))) == ("2.00", None)


def test_it_rounds_an_exact_half_cent_of_time_up():
    # 200 minutes at 0.1965/h is 0.655 exactly: half up, 0.66. Dividing the seconds by 3600
    # before multiplying (10/3 hours, 60 digits) made it 0.65499...9, rounded down to 0.65.
    session = priced(tariff(element(time("0.1965"))), "2024-07-01 10:00", charge(200, "10"))

    assert cost(session) == ("0.66", None)
    parked = priced(
        tariff(element(parking("0.1965", "0"))), "2024-07-01 10:00", charge(1, "1"), park(200)
    )
    assert cost(parked) == ("0.66", "0.66")


def test_it_prices_the_largest_timeline_against_the_largest_tariff():
    # The API's largest timeline (10,000 samples over a month) against the parser's largest
    # tariff (100 elements of time windows). How long it takes is bench/pricing.py's business.
    windows = [
        element(
            time(f"{1 + i / 100}"),
            start_time=f"{i // 6:02d}:{i % 6 * 10:02d}",
            end_time=f"{i // 6:02d}:{i % 6 * 10 + 5:02d}",
        )
        for i in range(99)
    ]
    the_tariff = tariff(*windows, element(energy("0.30")))
    readings = [
        MeterSample(AT + dt.timedelta(seconds=259 * i), D(20 * i), D(9000)) for i in range(10_000)
    ]

    session = price_session(tariff=the_tariff, samples=readings, timezone=AMS)

    assert session.total_energy == D("199.98")
    assert session.total_energy_cost.excl_vat == D("59.99")
