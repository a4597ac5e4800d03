"""MeterValues: every sampled value stored, linked, deduplicated; live session figures."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from csms.models import MeterValue, Transaction
from tests.factories import make_charge_point, make_transaction
from tests.ocpp_gateway.support import assert_result, db, send

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2024, 5, 14, 10, 17, 31, tzinfo=UTC)  # the timestamp in meter_values.json


@pytest.fixture
async def cp():
    return await db(make_charge_point)(identity="CP1")


@pytest.fixture
async def station(cp, connect_station):
    return await connect_station("CP1")


@pytest.fixture
async def tx(cp):
    return await db(make_transaction)(
        charge_point=cp,
        connector_id=1,
        id_tag="04E91C5A123A80",
        meter_start=1285210,
        started_at=datetime(2024, 5, 14, 10, 2, 31, tzinfo=UTC),
        last_meter_wh=1285210,
        last_meter_at=datetime(2024, 5, 14, 10, 2, 31, tzinfo=UTC),
    )


def rows(**filters):
    return MeterValue.objects.filter(**filters).order_by("id")


async def test_it_stores_every_sampled_value_with_all_its_attributes(station, tx):
    assert assert_result(await send(station, "meter_values", transactionId=tx.pk)) == {}

    stored = [
        (r.measurand, r.phase, r.unit, r.context, r.location, r.format, r.value)
        async for r in rows()
    ]
    assert stored == [
        (
            "Energy.Active.Import.Register",
            "",
            "kWh",
            "Sample.Periodic",
            "Outlet",
            "Raw",
            "1290.512",
        ),
        ("Power.Active.Import", "", "kW", "Sample.Periodic", "Outlet", "Raw", "7.36"),
        ("Voltage", "L1-N", "V", "Sample.Periodic", "Outlet", "Raw", "231.4"),
        ("Current.Import", "L1", "A", "Sample.Periodic", "Outlet", "Raw", "31.8"),
        ("SoC", "", "Percent", "Sample.Periodic", "EV", "Raw", "57"),
    ]
    async for row in rows():
        assert row.timestamp == T0
        assert row.transaction_id == tx.pk
        assert row.connector_id == 1
        assert row.charge_point_id == tx.charge_point_id
    voltage = await rows(measurand="Voltage").aget()
    assert voltage.value_decimal == Decimal("231.4")


async def test_a_retried_message_does_not_duplicate_samples(station, tx):
    assert_result(await send(station, "meter_values", transactionId=tx.pk))

    assert_result(await send(station, "meter_values", transactionId=tx.pk))

    assert await MeterValue.objects.acount() == 5


async def test_it_updates_the_live_figures_converting_kilo_units(station, tx):
    assert_result(await send(station, "meter_values", transactionId=tx.pk))

    tx = await Transaction.objects.aget(pk=tx.pk)
    assert tx.last_meter_wh == 1290512  # 1290.512 kWh
    assert tx.last_power_w == Decimal("7360.0")  # 7.36 kW
    assert tx.last_soc == 57
    assert tx.last_meter_at == T0


async def test_the_latest_message_to_arrive_sets_the_live_figures(station, tx):
    assert_result(await send(station, "meter_values", transactionId=tx.pk))
    stamped_earlier = {
        "timestamp": "2024-05-14T10:10:00Z",
        "sampledValue": [{"value": "1291000", "measurand": "Energy.Active.Import.Register"}],
    }

    assert_result(
        await send(station, "meter_values", transactionId=tx.pk, meterValue=[stamped_earlier])
    )

    tx = await Transaction.objects.aget(pk=tx.pk)
    assert tx.last_meter_wh == 1291000
    assert tx.last_meter_at == datetime(2024, 5, 14, 10, 10, tzinfo=UTC)  # the station's stamp
    assert tx.last_power_w == Decimal("7360.0")  # a field the new message does not carry stays
    assert await MeterValue.objects.acount() == 6


async def test_a_future_start_timestamp_does_not_freeze_the_live_figures(station, cp):
    future = datetime(2099, 1, 1, tzinfo=UTC)
    tx = await db(make_transaction)(
        charge_point=cp,
        meter_start=1285210,
        started_at=future,
        last_meter_wh=1285210,
        last_meter_at=future,
    )

    assert_result(await send(station, "meter_values", transactionId=tx.pk))

    tx = await Transaction.objects.aget(pk=tx.pk)
    assert tx.last_meter_wh == 1290512
    assert tx.last_meter_at == T0


async def test_a_sample_with_no_measurand_is_the_energy_register_in_wh(station, tx):
    plain = {"timestamp": "2024-05-14T10:30:00Z", "sampledValue": [{"value": "1295000"}]}

    assert_result(await send(station, "meter_values", transactionId=tx.pk, meterValue=[plain]))

    row = await MeterValue.objects.aget()
    assert row.measurand == "Energy.Active.Import.Register"
    assert (await Transaction.objects.aget(pk=tx.pk)).last_meter_wh == 1295000


async def test_values_without_transaction_id_are_stored_without_transaction(station):
    assert_result(await send(station, "meter_values_no_transaction"))

    stored = [(r.connector_id, r.measurand, r.transaction_id) async for r in rows()]
    assert stored == [
        (0, "Energy.Active.Import.Register", None),
        (0, "Temperature", None),
    ]


async def test_values_for_an_unknown_transaction_are_kept_without_transaction(station):
    assert_result(await send(station, "meter_values", transactionId=987654))

    assert await MeterValue.objects.filter(transaction__isnull=True).acount() == 5


async def test_values_for_another_stations_transaction_are_not_linked_to_it(station):
    other_tx = await db(make_transaction)(charge_point=await db(make_charge_point)(identity="CP2"))

    assert_result(await send(station, "meter_values", transactionId=other_tx.pk))

    assert await MeterValue.objects.filter(transaction=other_tx).acount() == 0
    other_tx = await Transaction.objects.aget(pk=other_tx.pk)
    assert other_tx.last_meter_wh is None


async def test_a_huge_transaction_id_is_stored_without_transaction(station):
    assert_result(await send(station, "meter_values", transactionId=2**31))

    assert await MeterValue.objects.filter(transaction__isnull=True).acount() == 5


async def test_signed_data_is_stored_verbatim(station, tx):
    signed = "OCMF|" + "A" * 1500
    value = {
        "timestamp": "2024-05-14T10:30:00Z",
        "sampledValue": [{"value": signed, "format": "SignedData", "context": "Transaction.End"}],
    }

    assert_result(await send(station, "meter_values", transactionId=tx.pk, meterValue=[value]))

    row = await MeterValue.objects.aget()
    assert row.value == signed
    assert row.format == "SignedData"
    assert row.value_decimal is None


async def test_a_non_numeric_raw_value_is_kept_as_text(station, tx):
    value = {"timestamp": "2024-05-14T10:30:00Z", "sampledValue": [{"value": "n/a"}]}

    assert_result(await send(station, "meter_values", transactionId=tx.pk, meterValue=[value]))

    row = await MeterValue.objects.aget()
    assert (row.value, row.value_decimal) == ("n/a", None)
    assert (await Transaction.objects.aget(pk=tx.pk)).last_meter_wh == 1285210


async def test_several_meter_values_in_one_message_are_all_stored(station, tx):
    values = [
        {"timestamp": f"2024-05-14T10:{minute:02d}:00Z", "sampledValue": [{"value": str(w)}]}
        for minute, w in [(20, 1290000), (25, 1291000), (30, 1292000)]
    ]

    assert_result(await send(station, "meter_values", transactionId=tx.pk, meterValue=values))

    assert [r.value async for r in rows()] == ["1290000", "1291000", "1292000"]
    assert (await Transaction.objects.aget(pk=tx.pk)).last_meter_wh == 1292000


@pytest.mark.parametrize(
    "sample",
    [
        {"value": "500000000", "measurand": "Power.Active.Import", "unit": "kW"},
        {"value": "99999999999999", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "99999999999999", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
        {"value": "-5", "measurand": "SoC", "unit": "Percent"},
        {"value": "1e400", "measurand": "Energy.Active.Import.Register"},
        {"value": "NaN", "measurand": "Power.Active.Import"},
    ],
    ids=["power-kw", "power-w", "energy-kwh", "negative-soc", "huge-exponent", "nan"],
)
async def test_absurd_readings_are_stored_without_breaking_the_live_view(station, tx, sample):
    value = {"timestamp": "2024-05-14T10:30:00Z", "sampledValue": [sample]}

    assert_result(await send(station, "meter_values", transactionId=tx.pk, meterValue=[value]))

    assert (await MeterValue.objects.aget()).value == sample["value"]
    tx = await Transaction.objects.aget(pk=tx.pk)
    if sample["measurand"] == "SoC":
        assert tx.last_soc == 0
    else:
        assert tx.last_power_w is None
