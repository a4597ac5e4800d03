from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from csms.models import ChargePoint
from tests.conftest import communicator_for
from tests.factories import make_charge_point

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_marks_the_station_offline_when_its_consumer_dies_unexpectedly():
    await database_sync_to_async(make_charge_point)(identity="CP-CRASH")
    communicator = communicator_for("CP-CRASH")
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    station = await ChargePoint.objects.aget(identity="CP-CRASH")
    assert station.connected is True

    # An event no handler exists for makes Channels raise inside the consumer: the same path
    # as any unexpected failure (e.g. the channel layer's connection breaking).
    await get_channel_layer().send(station.ws_channel_name, {"type": "no.such.event"})

    with pytest.raises(ValueError, match="No handler for message type"):
        await communicator.wait(timeout=5)
    for _ in range(50):
        station = await ChargePoint.objects.aget(identity="CP-CRASH")
        if not station.connected:
            break
        await asyncio.sleep(0.05)
    assert station.connected is False
    assert station.ws_channel_name == ""
