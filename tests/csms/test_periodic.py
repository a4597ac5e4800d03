"""``manage.py periodic``: the beat schedule run in place, for ``make run`` (no broker, so no
beat and no worker). Without it a newcomer's commands never time out and old rows stay."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from csms.models import Command, MessageLog
from ocpp_gateway.management.commands import runplatform
from tests.factories import make_charge_point

pytestmark = pytest.mark.django_db


def test_it_runs_every_job_of_the_beat_schedule(settings):
    settings.OCPP_MESSAGE_LOG_RETENTION_DAYS = 7
    MessageLog.objects.create(
        identity="OLD",
        direction="in",
        message_type=2,
        action="Heartbeat",
        message_id="1",
        payload='[2,"1","Heartbeat",{}]',
        created_at=timezone.now() - timedelta(days=8),
    )
    stale = Command.objects.create(
        charge_point=make_charge_point(),
        action="Reset",
        request={"type": "Soft"},
        state=Command.State.SENT,
        timeout=30.0,
        created_at=timezone.now() - timedelta(minutes=5),
    )

    call_command("periodic", "--once")

    assert not MessageLog.objects.exists()
    stale.refresh_from_db()
    assert stale.state == Command.State.TIMED_OUT


def test_a_failing_job_is_logged_and_the_others_still_run(settings, caplog, monkeypatch):
    from csms import tasks

    def broken() -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tasks.message_log_purge, "run", broken)
    stale = Command.objects.create(
        charge_point=make_charge_point(),
        action="Reset",
        request={"type": "Soft"},
        state=Command.State.SENT,
        timeout=30.0,
        created_at=timezone.now() - timedelta(minutes=5),
    )

    with caplog.at_level(logging.ERROR, logger="csms.periodic"):
        call_command("periodic", "--once")

    assert "purge-message-log failed" in caplog.text
    assert "disk on fire" in caplog.text
    stale.refresh_from_db()
    assert stale.state == Command.State.TIMED_OUT


def test_it_refuses_a_schedule_it_cannot_keep(settings):
    from celery.schedules import crontab

    settings.CELERY_BEAT_SCHEDULE = {
        "nightly": {"task": "csms.tasks.message_log_purge", "schedule": crontab(hour=3)}
    }

    with pytest.raises(CommandError, match="interval schedules only"):
        call_command("periodic", "--once")


@pytest.mark.parametrize(("eager", "expected"), [(True, True), (False, False)])
def test_runplatform_runs_it_only_without_a_broker(settings, monkeypatch, eager, expected):
    settings.CELERY_TASK_ALWAYS_EAGER = eager
    started: list[list[str]] = []

    class Process:
        returncode = 0

        def __init__(self, argv: list[str], **kwargs: Any) -> None:
            started.append(argv)

        def wait(self, timeout: float | None = None) -> int:
            raise KeyboardInterrupt  # Ctrl-C at once: the children are started by then

        def poll(self) -> int:
            return 0

    monkeypatch.setattr(runplatform, "_check_port_free", lambda host, port: None)
    monkeypatch.setattr(runplatform.subprocess, "Popen", Process)
    monkeypatch.setattr(runplatform.signal, "signal", lambda *a: None)

    call_command("runplatform", "--port", "18999")

    assert any(argv[-1] == "periodic" for argv in started) is expected
