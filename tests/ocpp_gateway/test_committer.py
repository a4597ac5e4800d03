"""Group commit: one station's failure never undoes another's work, and an answer leaves only
after what it acknowledges is committed."""

from __future__ import annotations

import asyncio

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from csms.models import ChargePoint, FirmwareStatusEvent, MessageLog, StatusNotification
from ocpp_gateway import handlers
from ocpp_gateway.committer import GroupCommitter, log_row
from tests.factories import make_charge_point
from tests.ocpp_gateway.support import assert_error, assert_result, db, drain, send

pytestmark = pytest.mark.django_db(transaction=True)

MISSING_STATION = 2_000_000_000


def record_firmware(charge_point_id: int, status: str) -> int:
    return FirmwareStatusEvent.objects.create(charge_point_id=charge_point_id, status=status).pk


def record_then_raise(charge_point_id: int) -> None:
    FirmwareStatusEvent.objects.create(charge_point_id=charge_point_id, status="Idle")
    raise RuntimeError("handler bug")


def dangling_row() -> None:
    """A row whose foreign key is only checked at COMMIT (Django creates deferred FKs): the
    kind of failure no savepoint catches."""
    FirmwareStatusEvent.objects.create(charge_point_id=MISSING_STATION, status="Idle")


async def statuses() -> list[str]:
    return [e.status async for e in FirmwareStatusEvent.objects.order_by("id")]


async def test_a_failing_job_does_not_undo_another_stations_work_in_its_batch():
    cp1 = await db(make_charge_point)(identity="CP1")
    cp2 = await db(make_charge_point)(identity="CP2")
    committer = GroupCommitter(max_batch=10)

    results = await asyncio.gather(
        committer.run(record_firmware, cp1.pk, "Downloading"),
        committer.run(record_then_raise, cp2.pk),
        committer.run(record_firmware, cp2.pk, "Downloaded"),
        return_exceptions=True,
    )

    assert committer.batches == 1  # they really shared one transaction
    assert isinstance(results[0], int)
    assert isinstance(results[1], RuntimeError)
    assert isinstance(results[2], int)
    # The failing job's own write is gone; the others' are committed.
    assert await statuses() == ["Downloading", "Downloaded"]


async def test_a_job_whose_commit_fails_fails_alone():
    cp1 = await db(make_charge_point)(identity="CP1")
    committer = GroupCommitter(max_batch=10)

    results = await asyncio.gather(
        committer.run(record_firmware, cp1.pk, "Downloading"),
        committer.run(dangling_row),
        committer.run(record_firmware, cp1.pk, "Installed"),
        return_exceptions=True,
    )

    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert isinstance(results[1], IntegrityError)
    assert await statuses() == ["Downloading", "Installed"]
    assert not await FirmwareStatusEvent.objects.filter(charge_point_id=MISSING_STATION).aexists()


async def test_the_result_is_delivered_only_after_commit():
    cp1 = await db(make_charge_point)(identity="CP1")
    committer = GroupCommitter(max_batch=10)
    events: list[str] = []

    def job() -> str:
        assert transaction.get_connection().in_atomic_block
        transaction.on_commit(lambda: events.append("committed"))
        FirmwareStatusEvent.objects.create(charge_point_id=cp1.pk, status="Idle")
        return "done"

    assert await committer.run(job) == "done"
    events.append("answered")

    assert events == ["committed", "answered"]


async def test_batches_are_capped_at_max_batch():
    cp1 = await db(make_charge_point)(identity="CP1")
    committer = GroupCommitter(max_batch=2)

    await asyncio.gather(*(committer.run(record_firmware, cp1.pk, str(i)) for i in range(5)))

    assert committer.batches == 3
    assert committer.jobs == 5
    assert sorted(await statuses()) == ["0", "1", "2", "3", "4"]


async def test_log_rows_and_last_seen_ride_along_and_survive_a_failed_job():
    cp1 = await db(make_charge_point)(identity="CP1")
    committer = GroupCommitter(max_batch=10)
    committer.log(log_row(charge_point_id=cp1.pk, identity="CP1", direction="in", payload="x"))
    seen = timezone.now()
    committer.touch(cp1.pk, seen)

    with pytest.raises(IntegrityError):
        await committer.run(dangling_row)
    await committer.drain()

    assert await MessageLog.objects.filter(identity="CP1", payload="x").aexists()
    assert (await ChargePoint.objects.aget(pk=cp1.pk)).last_seen == seen


async def test_log_rows_of_a_station_deleted_meanwhile_are_kept_unlinked():
    cp1 = await db(make_charge_point)(identity="CP1")
    committer = GroupCommitter(max_batch=10)
    committer.log(log_row(charge_point_id=cp1.pk, identity="CP1", direction="in", payload="a"))
    committer.log(
        log_row(charge_point_id=MISSING_STATION, identity="GONE", direction="in", payload="b")
    )

    await committer.drain()

    kept = {r.identity: r.charge_point_id async for r in MessageLog.objects.all()}
    assert kept == {"CP1": cp1.pk, "GONE": None}


# --- Through the consumer -------------------------------------------------------------------


async def test_a_message_whose_commit_fails_is_answered_internal_error_and_nothing_is_stored(
    connect_station, monkeypatch
):
    await db(make_charge_point)(identity="CP1")
    station = await connect_station("CP1")
    real = handlers.HANDLERS["StatusNotification"]

    def status_then_dangling(ctx, payload):
        answer = real(ctx, payload)
        dangling_row()
        return answer

    monkeypatch.setitem(handlers.HANDLERS, "StatusNotification", status_then_dangling)

    assert_error(await send(station, "status_notification_faulted"), "InternalError", "3")

    assert await StatusNotification.objects.acount() == 0
    monkeypatch.setitem(handlers.HANDLERS, "StatusNotification", real)
    assert_result(await send(station, "status_notification_faulted"))
    assert await StatusNotification.objects.acount() == 1
    await drain()
    assert await MessageLog.objects.filter(message_id="3", direction="out").acount() == 2


async def test_a_handler_bug_is_answered_internal_error_and_the_station_carries_on(
    connect_station, monkeypatch
):
    await db(make_charge_point)(identity="CP1")
    station = await connect_station("CP1")

    def broken(ctx, payload):
        raise ZeroDivisionError

    monkeypatch.setitem(handlers.HANDLERS, "Authorize", broken)

    assert_error(await send(station, "authorize"), "InternalError", "894725")
    assert_result(await send(station, "heartbeat"))


# --- Message-log rows the database refuses ----------------------------------------------------


async def test_a_log_row_the_database_refuses_costs_no_other_stations_row_in_its_batch():
    # The consumer never builds such a row any more (protocol.loads refuses lone surrogates);
    # this is the last line: whatever a row holds, the batch keeps every other row, and the bad
    # one is kept too, with what the database cannot hold escaped.
    cp1 = await db(make_charge_point)(identity="CP1")
    cp2 = await db(make_charge_point)(identity="CP2")
    committer = GroupCommitter(max_batch=10)
    committer.log(
        log_row(
            charge_point_id=cp1.pk,
            identity="CP1",
            direction="in",
            message_type=2,
            action="Heartbeat",
            message_id="bad-\ud800",
            payload='[2, "bad-\ud800", "Heartbeat", {}]',
        )
    )
    committer.log(
        log_row(
            charge_point_id=cp2.pk,
            identity="CP2",
            direction="in",
            message_type=2,
            action="Heartbeat",
            message_id="good-1",
            payload='[2, "good-1", "Heartbeat", {}]',
        )
    )
    seen = timezone.now()
    committer.touch(cp2.pk, seen)

    await committer.drain()

    assert committer.batches == 1
    rows = {r.identity: (r.message_id, r.payload) async for r in MessageLog.objects.all()}
    assert rows == {
        "CP1": ("bad-\\ud800", '[2, "bad-\\ud800", "Heartbeat", {}]'),
        "CP2": ("good-1", '[2, "good-1", "Heartbeat", {}]'),
    }
    assert (await ChargePoint.objects.aget(pk=cp2.pk)).last_seen == seen


async def test_one_stations_hostile_frame_never_drops_another_stations_log_rows(connect_station):
    await db(make_charge_point)(identity="CP1")
    await db(make_charge_point)(identity="CP2")
    hostile = await connect_station("CP1")
    bystander = await connect_station("CP2")

    # Both frames are read before the committer takes its next batch: they share it.
    await hostile.send_text(r'[2, "id-\ud800", "Heart\ud800beat", {"x": 1e999}]')
    await bystander.send_text('[2, "b-1", "Heartbeat", {}]')
    assert_result(await bystander.receive(), "b-1")
    assert await hostile.receive_nothing()
    await drain()

    bystander_rows = [
        (r.direction, r.message_id)
        async for r in MessageLog.objects.filter(identity="CP2").order_by("id")
    ]
    assert bystander_rows == [("in", "b-1"), ("out", "b-1")]
    assert await MessageLog.objects.filter(identity="CP1", direction="in").acount() == 1
