"""Online / offline, last seen, and a second connection replacing the first."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from csms.models import ChargePoint
from ocpp_gateway.consumers import REPLACED_CLOSE_CODE
from tests.conftest import communicator_for
from tests.factories import make_charge_point
from tests.ocpp_gateway.support import assert_result, db, drain, send

pytestmark = pytest.mark.django_db(transaction=True)


async def station_row(identity: str = "CP1") -> ChargePoint:
    return await ChargePoint.objects.aget(identity=identity)


async def test_it_marks_the_station_online_on_connect(connect_station):
    await db(make_charge_point)(identity="CP1")

    await connect_station("CP1")

    cp = await station_row()
    assert cp.connected is True
    assert cp.ws_channel_name
    assert cp.connected_at is not None
    assert cp.last_seen is not None
    assert cp.is_online is True


async def test_it_marks_the_station_offline_at_once_on_disconnect():
    await db(make_charge_point)(identity="CP1")
    communicator = communicator_for("CP1")
    assert (await communicator.connect(timeout=5))[0]

    await communicator.disconnect()
    await drain()

    cp = await station_row()
    assert cp.connected is False
    assert cp.ws_channel_name == ""
    assert cp.disconnected_at is not None
    assert cp.is_online is False


async def test_a_second_connection_replaces_the_first():
    await db(make_charge_point)(identity="CP1")
    first = communicator_for("CP1")
    assert (await first.connect(timeout=5))[0]
    first_channel = (await station_row()).ws_channel_name

    second = communicator_for("CP1")
    assert (await second.connect(timeout=5))[0]
    try:
        # The first socket is closed by the server...
        closed = await first.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": REPLACED_CLOSE_CODE}
        # ...and its disconnect, when it arrives, does not take the station offline.
        await first.disconnect()
        await drain()

        cp = await station_row()
        assert cp.connected is True
        assert cp.ws_channel_name not in ("", first_channel)
        # The new connection is the one that works.
        await second.send_to(text_data=json.dumps([2, "hb", "Heartbeat", {}]))
        answer = json.loads(await second.receive_from(timeout=5))
        assert answer[0] == 3 and answer[1] == "hb"
    finally:
        await second.disconnect()
        await drain()
    assert (await station_row()).connected is False


async def test_it_updates_last_seen_from_any_frame(connect_station):
    cp = await db(make_charge_point)(identity="CP1")
    station = await connect_station("CP1")
    long_ago = timezone.now() - timedelta(days=3)
    await ChargePoint.objects.filter(pk=cp.pk).aupdate(last_seen=long_ago)

    await station.send_text("this is not json")  # not even a valid frame counts as a sign of life
    assert await station.receive_nothing()
    await drain()

    assert (await station_row()).last_seen > long_ago + timedelta(days=2)


async def test_it_updates_last_seen_on_heartbeat(connect_station):
    cp = await db(make_charge_point)(identity="CP1")
    station = await connect_station("CP1")
    long_ago = timezone.now() - timedelta(days=3)
    await ChargePoint.objects.filter(pk=cp.pk).aupdate(last_seen=long_ago)

    assert_result(await send(station, "heartbeat"))
    await drain()

    assert (await station_row()).last_seen > long_ago + timedelta(days=2)


@pytest.mark.django_db
def test_a_station_silent_for_more_than_twice_its_heartbeat_interval_shows_offline(settings):
    settings.OCPP_HEARTBEAT_INTERVAL = 300
    now = timezone.now()
    fresh = make_charge_point(connected=True, last_seen=now - timedelta(seconds=590))
    silent = make_charge_point(connected=True, last_seen=now - timedelta(seconds=610))
    own_interval = make_charge_point(
        connected=True, last_seen=now - timedelta(seconds=610), heartbeat_interval=600
    )
    disconnected = make_charge_point(connected=False, last_seen=now)
    never_seen = make_charge_point(connected=True, last_seen=None)

    assert fresh.is_online is True
    assert silent.is_online is False
    assert own_interval.is_online is True
    assert disconnected.is_online is False
    assert never_seen.is_online is False
