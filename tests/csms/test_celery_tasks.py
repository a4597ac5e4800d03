"""Periodic jobs run by a real Celery worker over the Redis broker (needs REDIS_URL)."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from csms.models import MessageLog
from csms.tasks import message_log_purge
from tests.servers import start_celery_worker, stop

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)"),
]


def _log(identity: str, age: timedelta) -> MessageLog:
    return MessageLog.objects.create(
        identity=identity,
        direction="in",
        action="Heartbeat",
        payload='[2,"1","Heartbeat",{}]',
        created_at=timezone.now() - age,
    )


@pytest.fixture
def worker():
    process = start_celery_worker()
    yield process
    stop(process)


def test_it_purges_message_logs_past_retention_in_a_real_worker(worker, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    old = _log("CP-OLD", timedelta(days=31))
    recent = _log("CP-NEW", timedelta(days=1))

    message_log_purge.delay()

    deadline = time.monotonic() + 30
    while MessageLog.objects.filter(pk=old.pk).exists():
        assert worker.poll() is None, "the worker died"
        assert time.monotonic() < deadline, "the worker did not purge within 30 s"
        time.sleep(0.2)
    assert MessageLog.objects.filter(pk=recent.pk).exists()
