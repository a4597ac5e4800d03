"""Energy at the stop: the samples decide the unit (kWh stations), and an implausible
meterStop is flagged on the session while the samples win (csms.metering)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from csms.metering import Register, energy_settle
from csms.models import MeterValue
from csms.services.transactions import transaction_stop
from tests.factories import make_charge_point, make_transaction

START = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
STOP = START + dt.timedelta(hours=1)


def reg(minutes: int, wh: str, kwh: bool = False) -> Register:
    return Register(START + dt.timedelta(minutes=minutes), Decimal(wh), kwh)


def test_it_takes_plain_wh_readings_as_they_are():
    settled = energy_settle(
        meter_start=1000, meter_stop=11_000, stopped_at=STOP, first=reg(15, "3500"),
        last=reg(60, "11000"),
    )  # fmt: skip
    assert (settled.energy_wh, settled.implausible, settled.note) == (10_000, False, "")


def test_it_reads_meter_start_and_stop_in_kwh_next_to_kwh_samples():
    settled = energy_settle(
        meter_start=12, meter_stop=22, stopped_at=STOP, first=reg(15, "12500", kwh=True),
        last=reg(60, "22000", kwh=True),
    )  # fmt: skip
    assert settled.energy_wh == 10_000 and not settled.implausible
    assert "kWh" in settled.note


def test_it_keeps_wh_meter_readings_next_to_kwh_samples():
    # The fixture station: meterStart 1285210 Wh, samples of 1290.512 kWh.
    settled = energy_settle(
        meter_start=1_285_210, meter_stop=1_301_875, stopped_at=STOP,
        first=reg(15, "1290512", kwh=True), last=reg(60, "1301875"),
    )  # fmt: skip
    assert settled.energy_wh == 16_665 and not settled.implausible and settled.note == ""


@pytest.mark.parametrize(
    ("meter_stop", "last", "energy"),
    [
        (500, reg(50, "9000"), 8000),  # below meterStart
        (5000, reg(50, "9000"), 8000),  # below the last sample
        (20_000, reg(60, "9000"), 8000),  # above the sample taken at the stop
    ],
)
def test_it_flags_an_implausible_meter_stop_and_the_samples_win(meter_stop, last, energy):
    settled = energy_settle(
        meter_start=1000, meter_stop=meter_stop, stopped_at=STOP, first=reg(15, "2000"), last=last
    )
    assert settled.implausible and settled.energy_wh == energy
    assert "the energy is taken from the samples" in settled.note


def test_it_accepts_a_meter_stop_above_an_earlier_sample_and_within_one_percent():
    above = energy_settle(
        meter_start=1000, meter_stop=20_000, stopped_at=STOP, first=None, last=reg(45, "9000")
    )
    close = energy_settle(
        meter_start=1000, meter_stop=8950, stopped_at=STOP, first=None, last=reg(60, "9000")
    )
    assert not above.implausible and above.energy_wh == 19_000
    assert not close.implausible and close.energy_wh == 7950


def test_it_counts_nothing_for_a_meter_stop_below_meter_start_without_samples():
    settled = energy_settle(meter_start=1000, meter_stop=10, stopped_at=STOP, first=None, last=None)
    assert settled.implausible and settled.energy_wh == 0


@pytest.mark.django_db
def test_the_stop_stores_the_flag_and_the_energy_the_samples_show(operator_api):
    station = make_charge_point(identity="CP-KWH")
    tx = make_transaction(charge_point=station, meter_start=12_000, started_at=START)
    MeterValue.objects.create(
        charge_point=station, connector_id=1, transaction=tx,
        timestamp=START + dt.timedelta(minutes=30),
        value="15.5", value_decimal=Decimal("15.5"), unit="kWh",
    )  # fmt: skip
    end_sample = {
        "timestamp": STOP,
        "sampledValue": [{"value": "19.000", "unit": "kWh", "context": "Transaction.End"}],
    }

    # The station reports meterStop 0 (a reset meter) with a Transaction.End reading.
    tx, _ = transaction_stop(
        charge_point=station, transaction_id=tx.pk, meter_stop=0, timestamp=STOP,
        transaction_data=[end_sample],
    )  # fmt: skip

    assert tx is not None
    tx.refresh_from_db()
    assert tx.meter_stop == 0 and tx.meter_stop_implausible
    assert tx.energy_wh == 7000 and tx.last_meter_wh == 19_000
    body = operator_api.get(f"/api/v1/transactions/{tx.pk}/").json()
    assert body["meter_stop_implausible"] is True and body["energy_wh"] == 7000
    assert "below meterStart" in body["energy_note"]


@pytest.mark.django_db
def test_a_stale_close_reads_a_kwh_meter_start_like_the_stop_does():
    from csms.models import Transaction
    from csms.services.transactions import transactions_close_stale

    station = make_charge_point()
    # meterStart 12 (kWh, like its samples); the live view holds the last sample in Wh.
    tx = make_transaction(charge_point=station, meter_start=12, started_at=START)
    for minutes, kwh in ((10, "12.1"), (40, "12.3")):
        MeterValue.objects.create(
            charge_point=station, connector_id=1, transaction=tx,
            timestamp=START + dt.timedelta(minutes=minutes),
            value=kwh, value_decimal=Decimal(kwh), unit="kWh",
        )  # fmt: skip
    Transaction.objects.filter(pk=tx.pk).update(
        last_meter_wh=12_300, last_meter_at=START + dt.timedelta(minutes=40)
    )

    (closed,) = transactions_close_stale(
        sessions=Transaction.objects.filter(pk=tx.pk), reason="StaleReboot", evidence_at=STOP
    )

    assert closed.energy_wh == 300  # not 12,300 - 12
    assert "kWh" in closed.energy_note
