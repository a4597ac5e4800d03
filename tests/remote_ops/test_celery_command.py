"""A command issued from a real Celery worker process reaches a station held by another process
(here the test's own consumer) through the Redis channel layer, and its answer is stored."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from channels.db import database_sync_to_async

from csms.models import ChargePoint, Command
from ocpp_gateway.tasks import command_send_task
from tests.factories import make_user
from tests.servers import start_celery_worker, stop

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL) shared with the worker"
    ),
]


@pytest.fixture
def worker():
    process = start_celery_worker()
    yield process
    stop(process)


async def test_it_sends_a_command_from_a_celery_worker(online_station, worker, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    station = await online_station("CP-TASK")
    charge_point = await ChargePoint.objects.aget(identity="CP-TASK")
    sam = await database_sync_to_async(make_user)(username="sam-support", role="support")

    command_send_task.delay(
        charge_point.pk, "GetConfiguration", {"key": ["HeartbeatInterval"]}, sam.pk, 20
    )

    frame = await station.receive(timeout=40)  # includes the worker's start-up
    assert frame[0] == 2 and frame[2] == "GetConfiguration"
    assert frame[3] == {"key": ["HeartbeatInterval"]}
    answer = {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}
    await station.send_text(json.dumps([3, frame[1], answer]))

    for _ in range(100):
        command = await Command.objects.aget(pk=frame[1])
        if command.is_final:
            break
        await asyncio.sleep(0.1)
    assert command.state == Command.State.ANSWERED
    assert command.response == answer
    assert command.source == "task"
    assert command.issued_by_id == sam.pk
    assert worker.poll() is None
