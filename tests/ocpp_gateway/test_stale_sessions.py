"""Stale sessions: a session the station never stopped is closed when it starts a new one on
the same connector or boots again; its own StopTransaction, if it comes later, is answered
and changes nothing. (The Available rule is a beat task: tests/csms/test_stale_sessions.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from csms.models import MeterValue, Transaction
from tests.factories import make_charge_point, make_id_tag, make_transaction
from tests.ocpp_gateway.support import assert_result, db, send

pytestmark = pytest.mark.django_db(transaction=True)

TAG = "04E91C5A123A80"  # the tag of start_transaction.json and stop_transaction.json
STARTED = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
LAST_READING = datetime(2024, 5, 14, 9, 40, tzinfo=UTC)
NEW_START = datetime(2024, 5, 14, 10, 2, 31, 210000, tzinfo=UTC)  # start_transaction.json


@pytest.fixture
async def cp():
    return await db(make_charge_point)(identity="CP1")


@pytest.fixture
async def station(cp, connect_station):
    return await connect_station("CP1")


@pytest.fixture
async def tag():
    return await db(make_id_tag)(id_tag=TAG)


@pytest.fixture
async def open_tx(cp, tag):
    """The driver's session of an hour ago, never stopped by the station."""
    return await db(make_transaction)(
        charge_point=cp,
        connector_id=1,
        id_tag=TAG,
        id_tag_ref=tag,
        meter_start=1270000,
        started_at=STARTED,
        last_meter_wh=1280000,
        last_meter_at=LAST_READING,
    )


async def test_a_new_session_on_the_connector_closes_the_open_one(station, open_tx):
    result = assert_result(await send(station, "start_transaction"))

    # The same driver is not refused for the session the station forgot to stop.
    assert result["idTagInfo"]["status"] == "Accepted"
    assert result["transactionId"] != open_tx.pk
    old = await Transaction.objects.aget(pk=open_tx.pk)
    assert old.stop_reason == "StaleNewSession"
    assert old.meter_stop == 1280000  # its last reading
    assert old.energy_wh == 10000
    assert old.stopped_at == LAST_READING
    new = await Transaction.objects.aget(pk=result["transactionId"])
    assert new.is_active and new.started_at == NEW_START


async def test_a_stale_session_without_readings_ends_at_its_meter_start(station, cp):
    bare = await db(make_transaction)(
        charge_point=cp, connector_id=1, id_tag="OTHER", meter_start=1270000, started_at=STARTED
    )

    assert_result(await send(station, "start_transaction"))

    bare = await Transaction.objects.aget(pk=bare.pk)
    assert (bare.stop_reason, bare.meter_stop, bare.energy_wh) == ("StaleNewSession", 1270000, 0)
    assert bare.stopped_at == STARTED


async def test_a_new_session_on_another_connector_leaves_the_open_one_running(station, cp):
    other = await db(make_transaction)(charge_point=cp, connector_id=2, id_tag="OTHER")

    assert_result(await send(station, "start_transaction"))

    assert (await Transaction.objects.aget(pk=other.pk)).is_active


async def test_a_retried_start_closes_nothing(station):
    first = assert_result(await send(station, "start_transaction"))

    again = assert_result(await send(station, "start_transaction"))

    assert again["transactionId"] == first["transactionId"]
    assert (await Transaction.objects.aget(pk=first["transactionId"])).is_active


async def test_a_boot_closes_every_open_session_of_the_station(station, cp, open_tx):
    second = await db(make_transaction)(
        charge_point=cp, connector_id=2, id_tag="OTHER", meter_start=500, last_meter_wh=900
    )
    elsewhere = await db(make_transaction)(
        charge_point=await db(make_charge_point)(identity="CP2"), id_tag="THIRD"
    )
    before = timezone.now()

    assert_result(await send(station, "boot_notification_minimal"))

    first = await Transaction.objects.aget(pk=open_tx.pk)
    assert (first.stop_reason, first.meter_stop, first.stopped_at) == (
        "StaleReboot",
        1280000,
        LAST_READING,
    )
    second = await Transaction.objects.aget(pk=second.pk)
    assert (second.stop_reason, second.meter_stop, second.energy_wh) == ("StaleReboot", 900, 400)
    assert second.stopped_at <= timezone.now() and second.stopped_at >= second.started_at
    assert before - timedelta(minutes=1) <= second.stopped_at
    assert (await Transaction.objects.aget(pk=elsewhere.pk)).is_active


async def test_the_drivers_tag_is_free_again_after_a_reboot_closed_its_session(
    station, open_tx, connect_station
):
    await db(make_charge_point)(identity="CP2")
    elsewhere = await connect_station("CP2")
    assert_result(await send(station, "boot_notification_minimal"))

    result = assert_result(await send(elsewhere, "start_transaction"))

    assert result["idTagInfo"]["status"] == "Accepted"


async def test_a_late_stop_transaction_is_accepted_and_changes_nothing(station, open_tx):
    assert_result(await send(station, "boot_notification_minimal"))
    closed = await Transaction.objects.aget(pk=open_tx.pk)

    result = assert_result(await send(station, "stop_transaction", transactionId=open_tx.pk))
    retried = assert_result(
        await send(station, "stop_transaction", transactionId=open_tx.pk, meterStop=1)
    )

    assert result == retried == {"idTagInfo": {"status": "Accepted"}}
    after = await Transaction.objects.aget(pk=open_tx.pk)
    assert (after.stop_reason, after.meter_stop, after.stopped_at, after.energy_wh) == (
        closed.stop_reason,
        closed.meter_stop,
        closed.stopped_at,
        closed.energy_wh,
    )
    # What the station said is kept for review (the first time only), and so are its samples.
    assert after.late_stop["meterStop"] == 1301875
    assert after.late_stop["reason"] == "EVDisconnected"
    assert after.late_stop["timestamp"] == "2024-05-14T11:12:02Z"
    assert after.late_stop["idTag"] == TAG
    assert len(after.late_stop["transactionData"]) == 2
    assert await MeterValue.objects.filter(transaction_id=open_tx.pk).acount() == 2
