"""Message-log retention: rows older than OCPP_MESSAGE_LOG_RETENTION_DAYS go, the rest stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from csms import tasks
from csms.models import MessageLog
from csms.services.logs import message_log_purge

pytestmark = pytest.mark.django_db


def log_row(identity: str, age: timedelta) -> MessageLog:
    return MessageLog.objects.create(
        identity=identity,
        direction="in",
        message_type=2,
        action="Heartbeat",
        message_id="1",
        payload='[2,"1","Heartbeat",{}]',
        created_at=timezone.now() - age,
    )


def remaining() -> set[str]:
    return set(MessageLog.objects.values_list("identity", flat=True))


def test_it_deletes_only_rows_older_than_the_retention(settings):
    settings.OCPP_MESSAGE_LOG_RETENTION_DAYS = 30
    log_row("OLD", timedelta(days=30, minutes=1))
    log_row("ANCIENT", timedelta(days=400))
    log_row("RECENT", timedelta(days=29, hours=23))
    log_row("NOW", timedelta(0))

    deleted = message_log_purge()

    assert deleted == 2
    assert remaining() == {"RECENT", "NOW"}


def test_the_periodic_task_applies_the_setting(settings):
    settings.OCPP_MESSAGE_LOG_RETENTION_DAYS = 7
    log_row("OLD", timedelta(days=8))
    log_row("RECENT", timedelta(days=6))

    assert tasks.message_log_purge.apply().get() == 1

    assert remaining() == {"RECENT"}


def test_a_retention_of_zero_keeps_everything(settings):
    settings.OCPP_MESSAGE_LOG_RETENTION_DAYS = 0
    log_row("ANCIENT", timedelta(days=4000))

    assert message_log_purge() == 0

    assert remaining() == {"ANCIENT"}


def test_the_purge_is_scheduled_hourly(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["purge-message-log"]

    assert schedule["task"] == "csms.tasks.message_log_purge"
    assert schedule["schedule"] == 3600.0
