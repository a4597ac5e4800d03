"""Heartbeat: answered with the current time; the station is seen (last_seen) by it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from csms.models import ChargePoint
from ocpp_gateway.schemas import parse_timestamp
from tests.factories import make_charge_point
from tests.ocpp_gateway.support import assert_result, db, drain, send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def station(connect_station):
    await db(make_charge_point)(identity="CP1")
    return await connect_station("CP1")


async def test_heartbeat_answers_the_current_time(station):
    result = assert_result(await send(station, "heartbeat"), "19223201")

    assert set(result) == {"currentTime"}
    assert parse_timestamp(result["currentTime"]).tzinfo is not None


async def test_it_stamps_the_station_as_seen(station):
    long_ago = timezone.now() - timedelta(hours=1)
    await ChargePoint.objects.filter(identity="CP1").aupdate(last_seen=long_ago)

    assert_result(await send(station, "heartbeat"), "19223201")
    await drain()

    last_seen = (await ChargePoint.objects.aget(identity="CP1")).last_seen
    assert last_seen is not None and last_seen > long_ago + timedelta(minutes=59)
