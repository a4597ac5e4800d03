"""Auto-stop: when the running cost (incl. VAT) reaches the hold less WALLET_HOLD_MARGIN the
hold is extended while the wallet has money; with nothing left, the session is stopped
remotely (cause balance), once however many meter values follow. A session whose link task
was lost is linked by its meter values, so it is stopped too."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from csms.models import Command
from tests.factories import make_transaction
from tests.wallet.factories import fund
from tests.wallet.test_sessions_helpers import (
    balances,
    code_of,
    eager_tasks,
    online_station,
    priced,
    station_meters,
    station_starts,
    station_stops,
)
from wallet.models import AppSession, JournalEntry
from wallet.services.sessions import app_sessions_expire, app_sessions_meter

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _eager() -> Iterator[None]:
    with eager_tasks():
        yield


@pytest.fixture(autouse=True)
def wallet_policy(settings: Any) -> None:
    settings.WALLET_SESSION_MIN_BALANCE = Decimal("5")
    settings.WALLET_SESSION_HOLD = Decimal("20")
    settings.WALLET_HOLD_MARGIN = Decimal("1")
    settings.WALLET_HOLD_EXTENSION = Decimal("10")


def charging(driver_app: Any, capture: Any) -> tuple[AppSession, Any]:
    priced(energy="0.30", vat="20")  # 0.36 EUR/kWh incl. VAT
    station = online_station()
    with capture(execute=True):
        response = driver_app.post(
            "/api/v1/app/sessions/", {"connector_code": code_of(station)}, format="json"
        )
        session = AppSession.objects.get(pk=response.data["id"])
        tx = station_starts(session, meter_start=0)
    return session, tx


def stops() -> int:
    return Command.objects.filter(action="RemoteStopTransaction", source="app").count()


def test_it_stops_a_session_once_the_small_balance_is_used_up(
    driver_app, app_driver, django_capture_on_commit_callbacks
):
    fund(app_driver, "6.00")
    session, tx = charging(driver_app, django_capture_on_commit_callbacks)
    assert session.held == Decimal("6.00")

    with django_capture_on_commit_callbacks(execute=True):
        station_meters(tx, 10_000)  # 3.60: below 6.00 - 1.00
    session.refresh_from_db()
    assert session.state == "charging" and stops() == 0

    with django_capture_on_commit_callbacks(execute=True):
        station_meters(tx, 14_000)  # 5.04: within the margin, nothing left to hold
    session.refresh_from_db()
    assert (session.state, session.stop_cause) == ("stopping", "balance")
    assert session.stop_command.request == {"transactionId": tx.pk}
    assert stops() == 1

    with django_capture_on_commit_callbacks(execute=True):
        station_meters(tx, 15_000)
        station_meters(tx, 16_000)
    assert stops() == 1  # one stop, however many meter values follow

    with django_capture_on_commit_callbacks(execute=True):
        station_stops(tx, 16_500)  # 5.94, inside the hold
    session.refresh_from_db()
    assert (session.state, session.stop_cause) == ("finished", "balance")
    b = balances(app_driver)
    assert (b.available, b.held, b.owed) == (Decimal("0.06"), Decimal("0.00"), Decimal("0"))


def test_it_extends_the_hold_while_the_wallet_has_money(
    driver_app, app_driver, django_capture_on_commit_callbacks
):
    fund(app_driver, "50.00")
    session, tx = charging(driver_app, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        station_meters(tx, 55_000)  # 19.80 >= 20 - 1
    session.refresh_from_db()
    assert session.state == "charging" and session.held == Decimal("30.00")
    assert JournalEntry.objects.filter(idempotency_key=f"session:{session.pk}:hold:1").exists()
    b = balances(app_driver)
    assert (b.available, b.held) == (Decimal("20.00"), Decimal("30.00"))

    with django_capture_on_commit_callbacks(execute=True):
        station_meters(tx, 137_000)  # 49.32: extends to 50 (all there is), then stops
    session.refresh_from_db()
    assert session.held == Decimal("50.00")
    assert (session.state, session.stop_cause) == ("stopping", "balance")
    assert balances(app_driver).available == Decimal("0.00")


def test_a_cost_jump_past_one_extension_takes_several(
    driver_app, app_driver, django_capture_on_commit_callbacks
):
    fund(app_driver, "100.00")
    session, tx = charging(driver_app, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        station_meters(tx, 100_000)  # 36.00: 20 -> 30 -> 40

    session.refresh_from_db()
    assert session.state == "charging" and session.held == Decimal("40.00")


def test_an_unreachable_station_is_stopped_at_the_next_meter_values(
    driver_app, app_driver, django_capture_on_commit_callbacks
):
    fund(app_driver, "6.00")
    session, tx = charging(driver_app, django_capture_on_commit_callbacks)
    station = session.charge_point
    station.connected = False
    station.save()
    with django_capture_on_commit_callbacks(execute=True):
        station_meters(tx, 15_000)
    session.refresh_from_db()
    assert session.state == "charging" and stops() == 0

    station.connected = True
    station.save()
    with django_capture_on_commit_callbacks(execute=True):
        station_meters(tx, 15_500)
    session.refresh_from_db()
    assert session.state == "stopping" and stops() == 1


# --- A lost link task -------------------------------------------------------------------------


def started_without_link(driver_app: Any, capture: Any) -> tuple[AppSession, Any]:
    """An app start whose StartTransaction was stored but whose ``app_session_link`` task
    was never queued (the broker down): the transaction's on-commit work is dropped."""
    priced(energy="0.30", vat="20")
    station = online_station()
    with capture(execute=True):
        response = driver_app.post(
            "/api/v1/app/sessions/", {"connector_code": code_of(station)}, format="json"
        )
    session = AppSession.objects.get(pk=response.data["id"])
    with capture(execute=False):
        tx = station_starts(session, meter_start=0)
    session.refresh_from_db()
    assert (session.state, session.transaction) == ("starting", None)
    return session, tx


def test_meter_values_link_a_session_whose_link_task_was_lost_and_stop_it(
    driver_app, app_driver, django_capture_on_commit_callbacks
):
    fund(app_driver, "6.00")
    session, tx = started_without_link(driver_app, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        station_meters(tx, 10_000)  # 3.60
    session.refresh_from_db()
    assert (session.state, session.transaction) == ("charging", tx)

    with django_capture_on_commit_callbacks(execute=True):
        station_meters(tx, 14_000)  # 5.04: within the margin of the 6.00 held
    session.refresh_from_db()
    assert (session.state, session.stop_cause) == ("stopping", "balance")
    assert stops() == 1


def test_meter_values_link_a_lost_session_that_expired_meanwhile_and_stop_it(
    driver_app, app_driver, django_capture_on_commit_callbacks
):
    fund(app_driver, "6.00")
    session, tx = started_without_link(driver_app, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        app_sessions_expire(now=session.start_deadline + dt.timedelta(seconds=1))
    session.refresh_from_db()
    assert session.state == "failed" and balances(app_driver).held == Decimal("0.00")

    with django_capture_on_commit_callbacks(execute=True):
        station_meters(tx, 10_000)
    session.refresh_from_db()
    # Linked as a late start: held again, charging, under the balance check.
    assert (session.state, session.transaction, session.held) == ("charging", tx, Decimal("6.00"))

    with django_capture_on_commit_callbacks(execute=True):
        station_meters(tx, 14_000)
    session.refresh_from_db()
    assert (session.state, session.stop_cause) == ("stopping", "balance")
    assert stops() == 1


def test_meter_values_of_other_sessions_link_nothing(
    driver_app, app_driver, django_capture_on_commit_callbacks, django_assert_num_queries
):
    fund(app_driver, "6.00")
    session, _ = charging(driver_app, django_capture_on_commit_callbacks)
    card_tx = make_transaction(charge_point=session.charge_point, connector_id=2, id_tag="CARD")

    # One query finds no unlinked app transaction, one finds the app sessions.
    with django_assert_num_queries(2):
        assert app_sessions_meter(transaction_ids=[card_tx.pk]) == 0
