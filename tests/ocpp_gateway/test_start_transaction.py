"""StartTransaction: ids from the database, idempotent retries, reservations, unknown tags."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from csms.models import ChargePoint, Reservation, Transaction
from tests.factories import make_charge_point, make_id_tag, make_transaction
from tests.ocpp_gateway.support import assert_result, db, frame, send

pytestmark = pytest.mark.django_db(transaction=True)

TAG = "04E91C5A123A80"


@pytest.fixture
async def station(connect_station):
    await db(make_charge_point)(identity="CP1")
    return await connect_station("CP1")


async def test_it_opens_a_transaction_with_an_id_from_the_database(station):
    await db(make_id_tag)(id_tag=TAG)

    result = assert_result(await send(station, "start_transaction"))

    assert result["idTagInfo"] == {"status": "Accepted"}
    tx = await Transaction.objects.select_related("charge_point").aget()
    assert result["transactionId"] == tx.pk
    assert tx.charge_point.identity == "CP1"
    assert tx.connector_id == 1
    assert tx.id_tag == TAG
    assert tx.meter_start == 1285210
    assert tx.started_at == datetime(2024, 5, 14, 10, 2, 31, 210000, tzinfo=UTC)
    assert tx.is_active
    assert tx.start_status == "Accepted"


async def test_transaction_ids_are_distinct(station):
    await db(make_id_tag)(id_tag=TAG)
    first = assert_result(await send(station, "start_transaction"))["transactionId"]
    await send(station, "stop_transaction", transactionId=first)

    second = assert_result(
        await send(station, "start_transaction", timestamp="2024-05-14T12:00:00Z")
    )["transactionId"]

    assert second != first


async def test_a_retried_start_returns_the_same_id_and_creates_no_second_row(station):
    await db(make_id_tag)(id_tag=TAG)
    first = assert_result(await send(station, "start_transaction"))

    retry = assert_result(await send(station, "start_transaction"))

    # Not ConcurrentTx either: it is the same transaction, not a second one.
    assert retry == first
    assert await Transaction.objects.acount() == 1


async def test_a_retry_with_the_same_instant_in_another_zone_is_the_same_transaction(station):
    await db(make_id_tag)(id_tag=TAG)
    first = assert_result(await send(station, "start_transaction"))

    retry = assert_result(
        await send(station, "start_transaction", timestamp="2024-05-14T12:02:31.210+02:00")
    )

    assert retry["transactionId"] == first["transactionId"]
    assert await Transaction.objects.acount() == 1


async def test_a_different_start_is_a_new_transaction(station):
    await db(make_id_tag)(id_tag=TAG)
    first = assert_result(await send(station, "start_transaction"))

    other = assert_result(await send(station, "start_transaction", connectorId=2))

    assert other["transactionId"] != first["transactionId"]
    assert await Transaction.objects.acount() == 2


async def test_it_keeps_the_reservation_id_and_uses_the_reservation_up(station):
    await db(make_id_tag)(id_tag=TAG)
    cp = await ChargePoint.objects.aget(identity="CP1")
    await Reservation.objects.acreate(
        id=42,
        charge_point=cp,
        connector_id=2,
        id_tag=TAG,
        expiry_date=timezone.now() + timedelta(minutes=15),
        state=Reservation.State.ACTIVE,
    )

    result = assert_result(await send(station, "start_transaction_reservation"))

    tx = await Transaction.objects.aget(pk=result["transactionId"])
    assert tx.reservation_id == 42
    assert tx.started_at == datetime(2024, 5, 14, 9, 0, tzinfo=UTC)  # +02:00 normalised
    reservation = await Reservation.objects.aget(pk=42)
    assert reservation.state == Reservation.State.USED
    assert reservation.transaction_id == tx.pk


async def test_it_keeps_a_reservation_id_it_does_not_know(station):
    result = assert_result(await send(station, "start_transaction_reservation", reservationId=7))

    assert (await Transaction.objects.aget(pk=result["transactionId"])).reservation_id == 7


async def test_it_records_a_transaction_for_an_unknown_tag_with_invalid_status(station):
    # The station may already be charging (offline authorisation): never lose the session.
    result = assert_result(await send(station, "start_transaction", idTag="NOT-REGISTERED"))

    assert result["idTagInfo"] == {"status": "Invalid"}
    tx = await Transaction.objects.aget(pk=result["transactionId"])
    assert tx.start_status == "Invalid"
    assert tx.id_tag == "NOT-REGISTERED"
    assert tx.id_tag_ref_id is None


async def test_it_links_the_tag_case_insensitively(station):
    tag = await db(make_id_tag)(id_tag=TAG)

    result = assert_result(await send(station, "start_transaction", idTag=TAG.lower()))

    tx = await Transaction.objects.aget(pk=result["transactionId"])
    assert tx.id_tag == TAG.lower()  # as the station sent it
    assert tx.id_tag_ref_id == tag.pk


async def test_it_answers_blocked_but_records_the_transaction(station):
    await db(make_id_tag)(id_tag=TAG, status="Blocked")

    result = assert_result(await send(station, "start_transaction"))

    assert result["idTagInfo"]["status"] == "Blocked"
    assert await Transaction.objects.filter(pk=result["transactionId"]).aexists()


async def test_it_answers_concurrent_tx_when_the_tag_is_charging_elsewhere(station):
    tag = await db(make_id_tag)(id_tag=TAG)
    await db(make_transaction)(
        charge_point=await db(make_charge_point)(identity="CP2"), id_tag=TAG, id_tag_ref=tag
    )

    result = assert_result(await send(station, "start_transaction"))

    assert result["idTagInfo"]["status"] == "ConcurrentTx"
    assert await Transaction.objects.acount() == 2


async def test_a_tag_may_run_as_many_sessions_as_its_limit(station):
    tag = await db(make_id_tag)(id_tag=TAG, max_concurrent_sessions=2)
    elsewhere = await db(make_charge_point)(identity="CP2")
    await db(make_transaction)(charge_point=elsewhere, id_tag=TAG, id_tag_ref=tag)

    second = assert_result(await send(station, "start_transaction", connectorId=1))
    third = assert_result(await send(station, "start_transaction", connectorId=2))

    assert second["idTagInfo"]["status"] == "Accepted"
    assert third["idTagInfo"]["status"] == "ConcurrentTx"


async def test_a_limit_of_zero_lets_a_tag_run_any_number_of_sessions(station):
    tag = await db(make_id_tag)(id_tag=TAG, max_concurrent_sessions=0)
    elsewhere = await db(make_charge_point)(identity="CP2")
    for connector_id in (1, 2, 3):
        await db(make_transaction)(
            charge_point=elsewhere, connector_id=connector_id, id_tag=TAG, id_tag_ref=tag
        )

    result = assert_result(await send(station, "start_transaction"))

    assert result["idTagInfo"]["status"] == "Accepted"


async def test_a_session_answered_concurrent_tx_does_not_hold_one_of_the_tags_slots(station):
    # A station that keeps a refused session open (StopTransactionOnInvalidId false) must not
    # block the driver once the session that was accepted has ended.
    tag = await db(make_id_tag)(id_tag=TAG)
    accepted = await db(make_transaction)(
        charge_point=await db(make_charge_point)(identity="CP2"), id_tag=TAG, id_tag_ref=tag
    )
    refused = assert_result(await send(station, "start_transaction", connectorId=1))
    assert refused["idTagInfo"]["status"] == "ConcurrentTx"
    accepted.stopped_at = timezone.now()
    await accepted.asave()

    result = assert_result(await send(station, "start_transaction", connectorId=2))

    assert result["idTagInfo"]["status"] == "Accepted"


async def test_two_stations_starting_with_one_tag_at_once_get_one_accepted(
    station, connect_station
):
    # Both frames arrive together, so the group committer runs them in one batch.
    await db(make_id_tag)(id_tag=TAG)
    await db(make_charge_point)(identity="CP2")
    other = await connect_station("CP2")

    await station.send_text(json.dumps(frame("start_transaction")))
    await other.send_text(json.dumps(frame("start_transaction")))
    answers = [assert_result(await station.receive()), assert_result(await other.receive())]

    statuses = sorted(answer["idTagInfo"]["status"] for answer in answers)
    assert statuses == ["Accepted", "ConcurrentTx"]
    assert await Transaction.objects.acount() == 2


async def test_a_retried_start_refused_as_concurrent_is_answered_the_same(station):
    tag = await db(make_id_tag)(id_tag=TAG)
    other = await db(make_transaction)(
        charge_point=await db(make_charge_point)(identity="CP2"), id_tag=TAG, id_tag_ref=tag
    )
    first = assert_result(await send(station, "start_transaction"))
    other.stopped_at = timezone.now()
    await other.asave()

    retry = assert_result(await send(station, "start_transaction"))

    assert retry == first
    assert retry["idTagInfo"]["status"] == "ConcurrentTx"


async def test_it_sets_the_live_meter_to_meter_start(station):
    result = assert_result(await send(station, "start_transaction"))

    tx = await Transaction.objects.aget(pk=result["transactionId"])
    assert tx.last_meter_wh == 1285210
