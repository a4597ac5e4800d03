"""The Available rule for stale sessions: a session whose connector the station has reported
Available, after the session began and for longer than OCPP_STALE_SESSION_GRACE, is closed
by the beat task csms.tasks.transactions_close_stale."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from csms import signals, tasks
from csms.models import Transaction
from csms.services.stations import connector_status_update
from csms.services.transactions import transaction_stop, transactions_close_stale_available
from tests.factories import make_charge_point, make_connector, make_transaction

pytestmark = pytest.mark.django_db

GRACE = 600


@pytest.fixture(autouse=True)
def _grace(settings):
    settings.OCPP_STALE_SESSION_GRACE = GRACE


def _session_then_available(*, available_for: timedelta, status: str = "Available"):
    now = timezone.now()
    station = make_charge_point()
    tx = make_transaction(
        charge_point=station, meter_start=100, last_meter_wh=2100, last_meter_at=now
    )
    Transaction.objects.filter(pk=tx.pk).update(created_at=now - available_for - timedelta(hours=1))
    make_connector(
        charge_point=station, status=status, status_since=now - available_for, status_timestamp=now
    )
    return tx


def test_it_closes_a_session_whose_connector_is_available_past_the_grace():
    tx = _session_then_available(available_for=timedelta(seconds=GRACE + 60))

    assert transactions_close_stale_available() == 1

    tx.refresh_from_db()
    assert (tx.stop_reason, tx.meter_stop, tx.energy_wh) == ("StaleAvailable", 2100, 2000)
    assert tx.stopped_at is not None


def test_it_waits_for_the_grace_a_late_stop_transaction_may_need():
    tx = _session_then_available(available_for=timedelta(seconds=GRACE - 60))

    assert transactions_close_stale_available() == 0

    tx.refresh_from_db()
    assert tx.is_active


def test_it_leaves_a_session_whose_connector_is_in_use():
    tx = _session_then_available(available_for=timedelta(hours=2), status="SuspendedEV")

    transactions_close_stale_available()

    tx.refresh_from_db()
    assert tx.is_active


def test_a_connector_available_since_before_the_session_began_is_no_evidence():
    # A station that starts a session without reporting the connector in use.
    now = timezone.now()
    station = make_charge_point()
    make_connector(charge_point=station, status_since=now - timedelta(hours=3))
    tx = make_transaction(charge_point=station)
    Transaction.objects.filter(pk=tx.pk).update(created_at=now - timedelta(hours=2))

    transactions_close_stale_available()

    tx.refresh_from_db()
    assert tx.is_active


def test_a_grace_of_zero_turns_the_rule_off(settings):
    settings.OCPP_STALE_SESSION_GRACE = 0
    tx = _session_then_available(available_for=timedelta(days=1))

    assert transactions_close_stale_available() == 0

    tx.refresh_from_db()
    assert tx.is_active


def test_the_rule_counts_from_when_the_station_reported_available():
    station = make_charge_point()
    tx = make_transaction(charge_point=station, meter_start=100)
    for status in ("Charging", "Finishing", "Available"):
        connector_status_update(
            charge_point=station,
            connector_id=1,
            status=status,
            error_code="NoError",
            timestamp=timezone.now() + timedelta(hours=5),  # a clock far ahead changes nothing
        )

    assert transactions_close_stale_available() == 0  # just now: within the grace
    later = timezone.now() + timedelta(seconds=GRACE + 1)
    assert transactions_close_stale_available(now=later) == 1

    tx.refresh_from_db()
    assert tx.stop_reason == "StaleAvailable"


def test_the_beat_task_runs_the_rule_every_minute():
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    entry = next(e for e in schedule.values() if e["task"] == "csms.tasks.transactions_close_stale")
    assert entry["schedule"] <= 60
    tx = _session_then_available(available_for=timedelta(seconds=GRACE + 60))

    assert tasks.transactions_close_stale.apply().get() == 1

    tx.refresh_from_db()
    assert not tx.is_active


def test_billing_hears_of_every_end_once_stale_or_not():
    heard = []

    def receiver(sender, transaction, stale, **kwargs):
        heard.append((transaction.pk, transaction.stop_reason, stale))

    signals.transaction_stopped.connect(receiver, dispatch_uid="test-stale-billing")
    try:
        stale_tx = _session_then_available(available_for=timedelta(seconds=GRACE + 60))
        transactions_close_stale_available()
        transactions_close_stale_available()
        normal = make_transaction()
        transaction_stop(
            charge_point=normal.charge_point,
            transaction_id=normal.pk,
            meter_stop=5000,
            timestamp=timezone.now(),
            reason="EVDisconnected",
        )
    finally:
        signals.transaction_stopped.disconnect(dispatch_uid="test-stale-billing")

    assert heard == [
        (stale_tx.pk, "StaleAvailable", True),
        (normal.pk, "EVDisconnected", False),
    ]
