"""Retention of what stations leave behind besides the message log: refused handshakes after
OCPP_CONNECTION_ATTEMPT_RETENTION_DAYS, status history (StatusNotification rows, firmware and
diagnostics status events) after OCPP_STATUS_HISTORY_RETENTION_DAYS; hourly, by Celery beat."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from csms import tasks
from csms.models import (
    ConnectionAttempt,
    DiagnosticsStatusEvent,
    FirmwareStatusEvent,
    StatusNotification,
)
from csms.services.logs import status_history_purge
from csms.services.stations import connection_attempts_purge
from tests.factories import make_charge_point, make_connector

pytestmark = pytest.mark.django_db


def attempt(identity: str, *, age: timedelta, first_seen: timedelta | None = None) -> None:
    now = timezone.now()
    ConnectionAttempt.objects.create(
        identity=identity,
        reason=ConnectionAttempt.Reason.BAD_CREDENTIALS,
        created_at=now - (first_seen or age),
        last_at=now - age,
    )


def history(identity: str, age: timedelta) -> None:
    station = make_charge_point(identity=identity)
    received_at = timezone.now() - age
    StatusNotification.objects.create(
        charge_point=station,
        connector_id=1,
        status="Available",
        error_code="NoError",
        received_at=received_at,
    )
    FirmwareStatusEvent.objects.create(
        charge_point=station, status="Installed", received_at=received_at
    )
    DiagnosticsStatusEvent.objects.create(
        charge_point=station, status="Uploaded", received_at=received_at
    )


def history_left() -> dict[str, set[str]]:
    return {
        model.__name__: set(model.objects.values_list("charge_point__identity", flat=True))
        for model in (StatusNotification, FirmwareStatusEvent, DiagnosticsStatusEvent)
    }


def test_it_deletes_connection_attempts_whose_last_attempt_is_past_the_retention(settings):
    settings.OCPP_CONNECTION_ATTEMPT_RETENTION_DAYS = 30
    attempt("OLD", age=timedelta(days=31))
    attempt("RECENT", age=timedelta(days=29))
    # First seen long ago but still being counted: it stays.
    attempt("ONGOING", age=timedelta(minutes=1), first_seen=timedelta(days=90))

    assert connection_attempts_purge() == 1

    assert set(ConnectionAttempt.objects.values_list("identity", flat=True)) == {
        "RECENT",
        "ONGOING",
    }


def test_it_deletes_status_history_past_the_retention(settings):
    settings.OCPP_STATUS_HISTORY_RETENTION_DAYS = 90
    history("OLD", timedelta(days=91))
    history("RECENT", timedelta(days=89))

    assert status_history_purge() == 3

    assert history_left() == {
        "StatusNotification": {"RECENT"},
        "FirmwareStatusEvent": {"RECENT"},
        "DiagnosticsStatusEvent": {"RECENT"},
    }


def test_it_keeps_the_current_connector_status(settings):
    settings.OCPP_STATUS_HISTORY_RETENTION_DAYS = 1
    history("OLD", timedelta(days=5))
    station = make_charge_point(identity="CP-NOW")
    make_connector(charge_point=station, connector_id=1, status="Charging")

    status_history_purge()

    assert station.connectors.get(connector_id=1).status == "Charging"


def test_a_retention_of_zero_keeps_everything(settings):
    settings.OCPP_CONNECTION_ATTEMPT_RETENTION_DAYS = 0
    settings.OCPP_STATUS_HISTORY_RETENTION_DAYS = 0
    attempt("ANCIENT", age=timedelta(days=4000))
    history("ANCIENT", timedelta(days=4000))

    assert connection_attempts_purge() == 0
    assert status_history_purge() == 0

    assert ConnectionAttempt.objects.count() == 1
    assert history_left()["StatusNotification"] == {"ANCIENT"}


def test_the_periodic_task_applies_both_settings(settings):
    settings.OCPP_CONNECTION_ATTEMPT_RETENTION_DAYS = 7
    settings.OCPP_STATUS_HISTORY_RETENTION_DAYS = 14
    attempt("OLD", age=timedelta(days=8))
    history("OLD", timedelta(days=15))
    history("RECENT", timedelta(days=13))

    result = tasks.station_history_purge.apply().get()

    assert result == {"connection_attempts": 1, "status_history": 3}


def test_the_purge_is_scheduled_hourly(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["purge-station-history"]

    assert schedule["task"] == "csms.tasks.station_history_purge"
    assert schedule["schedule"] == 3600.0


def test_the_defaults_keep_attempts_a_month_and_status_history_a_quarter():
    from csms import settings as project_settings

    assert project_settings.OCPP_CONNECTION_ATTEMPT_RETENTION_DAYS == 30
    assert project_settings.OCPP_STATUS_HISTORY_RETENTION_DAYS == 90
