"""StopTransaction: closing a session, its transactionData, idempotency, unknown ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from csms.models import MeterValue, Transaction, UnmatchedStopTransaction
from tests.factories import make_charge_point, make_id_tag, make_transaction
from tests.ocpp_gateway.support import assert_result, db, send

pytestmark = pytest.mark.django_db(transaction=True)

TAG = "04E91C5A123A80"
STOPPED_AT = datetime(2024, 5, 14, 11, 12, 2, 118000, tzinfo=UTC)


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
        id_tag=TAG,
        meter_start=1285210,
        started_at=datetime(2024, 5, 14, 10, 2, 31, 210000, tzinfo=UTC),
    )


async def test_it_closes_the_transaction_with_everything_the_station_sent(station, tx):
    await db(make_id_tag)(id_tag=TAG)

    result = assert_result(await send(station, "stop_transaction", transactionId=tx.pk))

    assert result == {"idTagInfo": {"status": "Accepted"}}
    tx = await Transaction.objects.aget(pk=tx.pk)
    assert tx.meter_stop == 1301875
    assert tx.stopped_at == STOPPED_AT
    assert tx.stop_reason == "EVDisconnected"
    assert tx.stop_id_tag == TAG
    assert tx.energy_wh == 1301875 - 1285210
    assert tx.last_meter_wh == 1301875
    assert not tx.is_active
    assert [entry["timestamp"] for entry in tx.transaction_data] == [
        "2024-05-14T10:02:31.210Z",
        "2024-05-14T11:12:02.118Z",
    ]
    assert tx.transaction_data[1]["sampledValue"] == [
        {
            "value": "1301875",
            "context": "Transaction.End",
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
        }
    ]


async def test_it_stores_transaction_data_as_meter_values(station, tx):
    assert_result(await send(station, "stop_transaction", transactionId=tx.pk))

    stored = [
        (r.context, r.value, r.timestamp, r.transaction_id, r.connector_id)
        async for r in MeterValue.objects.order_by("timestamp")
    ]
    assert stored == [
        (
            "Transaction.Begin",
            "1285210",
            datetime(2024, 5, 14, 10, 2, 31, 210000, tzinfo=UTC),
            tx.pk,
            1,
        ),
        ("Transaction.End", "1301875", STOPPED_AT, tx.pk, 1),
    ]


async def test_a_retried_stop_changes_nothing(station, tx):
    first = assert_result(await send(station, "stop_transaction", transactionId=tx.pk))

    retry = assert_result(
        await send(station, "stop_transaction", transactionId=tx.pk, meterStop=1400000)
    )

    assert retry == first
    tx = await Transaction.objects.aget(pk=tx.pk)
    assert tx.meter_stop == 1301875
    assert tx.energy_wh == 16665
    assert await MeterValue.objects.acount() == 2
    assert await UnmatchedStopTransaction.objects.acount() == 0


async def test_a_stop_without_id_tag_and_reason_is_a_local_stop(station, tx):
    result = assert_result(
        await send(
            station,
            "stop_transaction",
            transactionId=tx.pk,
            idTag=...,
            reason=...,
            transactionData=...,
        )
    )

    # No idTag sent: no idTagInfo to give.
    assert result == {}
    tx = await Transaction.objects.aget(pk=tx.pk)
    assert tx.stop_reason == "Local"  # OCPP 1.6: reason "MAY only be omitted when Local"
    assert tx.stop_id_tag == ""
    assert tx.transaction_data is None


async def test_it_answers_the_stopping_tags_status(station, tx):
    await db(make_id_tag)(id_tag="OTHER-CARD", status="Blocked")

    result = assert_result(
        await send(station, "stop_transaction", transactionId=tx.pk, idTag="other-card")
    )

    assert result["idTagInfo"]["status"] == "Blocked"
    assert (await Transaction.objects.aget(pk=tx.pk)).stop_id_tag == "other-card"


async def test_its_own_tag_is_not_concurrent_with_the_transaction_it_stops(station, tx):
    tag = await db(make_id_tag)(id_tag=TAG)
    await Transaction.objects.filter(pk=tx.pk).aupdate(id_tag_ref=tag)

    result = assert_result(await send(station, "stop_transaction", transactionId=tx.pk))

    assert result["idTagInfo"]["status"] == "Accepted"


async def test_an_unknown_transaction_is_answered_and_recorded(station):
    await db(make_id_tag)(id_tag=TAG)

    answer = await send(station, "stop_transaction", transactionId=424242)

    assert answer[0] == 3  # never a CALLERROR: the station would retry forever
    assert answer[2] == {"idTagInfo": {"status": "Accepted"}}
    unmatched = await UnmatchedStopTransaction.objects.select_related("charge_point").aget()
    assert unmatched.charge_point.identity == "CP1"
    assert unmatched.transaction_id == 424242
    assert unmatched.meter_stop == 1301875
    assert unmatched.timestamp == STOPPED_AT
    assert unmatched.reason == "EVDisconnected"
    assert unmatched.id_tag == TAG
    assert len(unmatched.transaction_data) == 2
    assert await Transaction.objects.acount() == 0


@pytest.mark.parametrize("transaction_id", [2**31, 2**53, -1])
async def test_an_out_of_range_transaction_id_is_answered_and_recorded(station, transaction_id):
    answer = await send(station, "stop_transaction", transactionId=transaction_id)

    assert answer[0] == 3
    unmatched = await UnmatchedStopTransaction.objects.aget()
    assert unmatched.transaction_id == transaction_id


async def test_another_stations_transaction_is_not_stopped(station):
    other = await db(make_transaction)(charge_point=await db(make_charge_point)(identity="CP2"))

    answer = await send(station, "stop_transaction", transactionId=other.pk)

    assert answer[0] == 3
    assert (await Transaction.objects.aget(pk=other.pk)).is_active
    assert (await UnmatchedStopTransaction.objects.aget()).transaction_id == other.pk


async def test_a_full_session_through_the_gateway(station):
    await db(make_id_tag)(id_tag=TAG)
    started = assert_result(await send(station, "start_transaction"))
    tx_id = started["transactionId"]
    assert_result(await send(station, "meter_values", transactionId=tx_id))

    assert_result(await send(station, "stop_transaction", transactionId=tx_id))

    tx = await Transaction.objects.aget(pk=tx_id)
    assert tx.energy_wh == 1301875 - 1285210
    assert await MeterValue.objects.filter(transaction_id=tx_id).acount() == 5 + 2


async def test_readings_whose_difference_overflows_still_close_the_transaction(station, cp):
    tx = await db(make_transaction)(charge_point=cp, meter_start=-(2**63) + 1)

    answer = await send(station, "stop_transaction", transactionId=tx.pk, meterStop=2**63 - 1)

    assert answer[0] == 3
    tx = await Transaction.objects.aget(pk=tx.pk)
    assert not tx.is_active
    assert tx.meter_stop == 2**63 - 1
    assert tx.energy_wh is None
