"""App sessions: start by connector code (each refusal), the state machine starting ->
charging -> stopping -> finished, failures by rejection and by timeout (holds released), a
late start, the driver's stop and cancel, and the balances after each step."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from billing.models import Order
from csms.models import Command, IdTag, Reservation
from tests.factories import make_transaction
from tests.wallet.factories import fund, make_driver
from tests.wallet.test_sessions_helpers import (
    answer,
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
from wallet.selectors.ledger import ledger_mismatches
from wallet.services.sessions import app_sessions_expire

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _eager() -> Iterator[None]:
    with eager_tasks():
        yield


URL = "/api/v1/app/sessions/"


def start(client: Any, code: str, **headers: Any) -> Any:
    return client.post(URL, {"connector_code": code}, format="json", **headers)


@pytest.fixture
def station() -> Any:
    priced()
    return online_station()


@pytest.fixture
def funded(app_driver: Any) -> Any:
    fund(app_driver, "50.00")
    return app_driver


# --- Starting ---------------------------------------------------------------------------------


def test_it_starts_holds_and_sends_remote_start_with_the_virtual_tag(
    driver_app, funded, station, settings
):
    settings.WALLET_SESSION_HOLD = Decimal("20")
    response = start(driver_app, code_of(station).lower())  # codes are case-insensitive

    assert response.status_code == 201, response.data
    body = response.data
    assert body["state"] == "starting" and body["held"] == "20.00"
    assert body["station"] == station.identity and body["connector_id"] == 1
    session = AppSession.objects.get(pk=body["id"])
    command = session.start_command
    assert command is not None
    assert (command.action, command.source) == ("RemoteStartTransaction", "app")
    assert command.request == {
        "connectorId": 1,
        "idTag": funded.wallet.virtual_id_tag.id_tag,
    }
    assert session.start_deadline > timezone.now()
    b = balances(funded)
    assert (b.available, b.held) == (Decimal("30.00"), Decimal("20.00"))
    hold = JournalEntry.objects.get(idempotency_key=f"session:{session.pk}:hold:0")
    assert hold.session == session


def test_it_holds_only_what_the_wallet_has(driver_app, app_driver, station, settings):
    settings.WALLET_SESSION_HOLD = Decimal("20")
    fund(app_driver, "7.50")

    body = start(driver_app, code_of(station)).data

    assert body["held"] == "7.50"
    assert balances(app_driver).available == Decimal("0.00")


def test_a_retry_with_the_same_idempotency_key_returns_the_same_session(
    driver_app, funded, station
):
    first = start(driver_app, code_of(station), HTTP_IDEMPOTENCY_KEY="k-1")
    again = start(driver_app, code_of(station), HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.data["id"] == again.data["id"]
    assert AppSession.objects.count() == 1
    assert Command.objects.filter(action="RemoteStartTransaction").count() == 1


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ("offline", 409, "connector_offline"),
        ("faulted", 409, "connector_faulted"),
        ("unavailable", 409, "connector_unavailable"),
        ("charging", 409, "connector_occupied"),
        ("running_tx", 409, "connector_occupied"),
        ("reserved", 409, "connector_reserved"),
        ("poor", 402, "insufficient_balance"),
        ("blocked", 409, "tag_blocked"),
    ],
)
def test_it_refuses_a_start_that_cannot_work(driver_app, app_driver, station, setup, status, code):
    fund(app_driver, "2.00" if setup == "poor" else "50.00")
    connector = station.connectors.get(connector_id=1)
    if setup == "offline":
        station.connected = False
        station.save()
    elif setup in ("faulted", "unavailable", "charging"):
        connector.status = {"faulted": "Faulted", "unavailable": "Unavailable"}.get(
            setup, "Charging"
        )
        connector.save()
    elif setup == "running_tx":
        make_transaction(charge_point=station, connector_id=1, id_tag="SOMEONE")
    elif setup == "reserved":
        Reservation.objects.create(
            charge_point=station,
            connector_id=1,
            id_tag="SOMEONE",
            expiry_date=timezone.now() + dt.timedelta(hours=1),
            state=Reservation.State.ACTIVE,
        )
    elif setup == "blocked":
        IdTag.objects.filter(pk=app_driver.wallet.virtual_id_tag_id).update(status="Blocked")

    response = start(driver_app, connector.code)

    assert response.status_code == status, response.data
    assert response.data["code"] == code
    assert response.data["detail"]
    assert not AppSession.objects.exists()
    assert balances(app_driver).held == Decimal("0")


def test_a_reservation_for_the_drivers_own_tag_is_no_obstacle(driver_app, funded, station):
    Reservation.objects.create(
        charge_point=station,
        connector_id=1,
        id_tag=funded.wallet.virtual_id_tag.id_tag.lower(),
        expiry_date=timezone.now() + dt.timedelta(hours=1),
        state=Reservation.State.ACTIVE,
    )

    assert start(driver_app, code_of(station)).status_code == 201


def test_an_unknown_code_is_404(driver_app, funded, station):
    response = start(driver_app, "NOSUCHCD")

    assert response.status_code == 404 and response.data["code"] == "unknown_connector"


def test_a_missing_code_is_400(driver_app, funded):
    assert driver_app.post(URL, {}, format="json").status_code == 400


def test_another_drivers_start_in_flight_makes_the_connector_occupied(
    driver_app, other_driver_app, funded, other_driver, station
):
    fund(other_driver, "50.00")
    assert start(driver_app, code_of(station)).status_code == 201

    response = start(other_driver_app, code_of(station))

    assert response.status_code == 409 and response.data["code"] == "connector_occupied"


def test_one_active_app_session_per_driver(driver_app, funded, station):
    second = online_station("CP-APP-2")
    assert start(driver_app, code_of(station)).status_code == 201

    response = start(driver_app, code_of(second))

    assert response.status_code == 409 and response.data["code"] == "session_active"


def test_personas_other_than_a_driver_cannot_start(operator_app, anonymous_app, station):
    assert start(operator_app, code_of(station)).status_code == 403
    assert start(anonymous_app, code_of(station)).status_code == 401


# --- The state machine ------------------------------------------------------------------------


def test_the_whole_life_starting_charging_stopping_finished(
    driver_app, funded, station, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        body = start(driver_app, code_of(station)).data
    session = AppSession.objects.get(pk=body["id"])
    with django_capture_on_commit_callbacks(execute=True):
        answer(session.start_command, "Accepted")
        tx = station_starts(session, meter_start=1000)
    session.refresh_from_db()
    assert session.state == "charging" and session.transaction == tx
    assert session.charging_at is not None

    with django_capture_on_commit_callbacks(execute=True):
        station_meters(tx, 11_000, power_w=11_040, soc=55)
    live = driver_app.get(f"{URL}{session.pk}/").data
    assert live["state"] == "charging"
    assert live["energy_kwh"] == "10.000" and live["power_kw"] == "11.040"
    assert live["soc"] == 55 and live["duration_seconds"] >= 30 * 60
    assert live["cost"] == {"excl_vat": "3.00", "incl_vat": "3.60", "currency": "EUR"}

    with django_capture_on_commit_callbacks(execute=True):
        stopping = driver_app.post(f"{URL}{session.pk}/stop/").data
    assert stopping["state"] == "stopping" and stopping["stop_cause"] == "driver"
    session.refresh_from_db()
    assert session.stop_command.action == "RemoteStopTransaction"
    assert session.stop_command.request == {"transactionId": tx.pk}

    with django_capture_on_commit_callbacks(execute=True):
        answer(session.stop_command, "Accepted")
        station_stops(tx, 11_000)
    done = driver_app.get(f"{URL}{session.pk}/").data
    assert done["state"] == "finished" and done["held"] == "0.00"
    assert done["stop_cause"] == "driver"
    assert done["order"]["state"] == "paid" and done["order"]["total_incl_vat"] == "3.60"
    assert done["cost"]["incl_vat"] == "3.60"
    b = balances(funded)
    assert (b.available, b.held, b.owed) == (Decimal("46.40"), Decimal("0.00"), Decimal("0"))
    assert ledger_mismatches() == []


def test_a_session_the_station_stops_by_itself_finishes_with_cause_station(
    driver_app, funded, station, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session = AppSession.objects.get(pk=start(driver_app, code_of(station)).data["id"])
        tx = station_starts(session)
        station_meters(tx, 6_000)
        station_stops(tx, 6_000, reason="EVDisconnected")

    session.refresh_from_db()
    assert (session.state, session.stop_cause) == ("finished", "station")
    assert Order.objects.get(transaction=tx).state == "paid"
    assert balances(funded).available == Decimal("48.20")  # 5 kWh at 0.30 + 20% VAT


def test_a_rejected_start_fails_and_releases_the_hold(
    driver_app, funded, station, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session = AppSession.objects.get(pk=start(driver_app, code_of(station)).data["id"])
        answer(session.start_command, "Rejected")

    session.refresh_from_db()
    assert session.state == "failed" and "Rejected" in session.failure_reason
    assert session.held == 0
    b = balances(funded)
    assert (b.available, b.held) == (Decimal("50.00"), Decimal("0.00"))
    assert JournalEntry.objects.filter(idempotency_key=f"session:{session.pk}:release-failed")


def test_a_start_the_gateway_could_not_deliver_fails(
    driver_app, funded, station, django_capture_on_commit_callbacks
):
    from csms.services.commands import command_fail

    with django_capture_on_commit_callbacks(execute=True):
        session = AppSession.objects.get(pk=start(driver_app, code_of(station)).data["id"])
        command_fail(command_id=session.start_command_id, description="socket closed")

    session.refresh_from_db()
    assert session.state == "failed" and "socket closed" in session.failure_reason
    assert balances(funded).held == Decimal("0.00")


def test_a_start_without_start_transaction_by_the_deadline_fails(
    driver_app, funded, station, django_capture_on_commit_callbacks
):
    session = AppSession.objects.get(pk=start(driver_app, code_of(station)).data["id"])

    assert app_sessions_expire(now=session.start_deadline - dt.timedelta(seconds=1)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert app_sessions_expire(now=session.start_deadline + dt.timedelta(seconds=1)) == 1

    session.refresh_from_db()
    assert session.state == "failed" and "did not start" in session.failure_reason
    assert balances(funded).available == Decimal("50.00")
    assert app_sessions_expire(now=session.start_deadline + dt.timedelta(hours=1)) == 0


def test_a_late_start_after_a_timeout_is_still_the_drivers_session(
    driver_app, funded, station, django_capture_on_commit_callbacks, settings
):
    settings.WALLET_SESSION_HOLD = Decimal("20")
    session = AppSession.objects.get(pk=start(driver_app, code_of(station)).data["id"])
    app_sessions_expire(now=session.start_deadline + dt.timedelta(seconds=1))

    with django_capture_on_commit_callbacks(execute=True):
        tx = station_starts(session)

    session.refresh_from_db()
    assert (session.state, session.transaction) == ("charging", tx)
    assert session.held == Decimal("20") and session.failure_reason == ""
    with django_capture_on_commit_callbacks(execute=True):
        station_stops(tx, 6_000, reason="Local")
    session.refresh_from_db()
    assert session.state == "finished"
    b = balances(funded)
    assert (b.available, b.held) == (Decimal("48.20"), Decimal("0.00"))


def test_a_late_start_after_the_driver_canceled_is_stopped_remotely(
    driver_app, funded, station, django_capture_on_commit_callbacks
):
    session = AppSession.objects.get(pk=start(driver_app, code_of(station)).data["id"])
    canceled = driver_app.post(f"{URL}{session.pk}/stop/").data
    assert (canceled["state"], canceled["stop_cause"]) == ("failed", "driver")
    assert balances(funded).held == Decimal("0.00")

    with django_capture_on_commit_callbacks(execute=True):
        tx = station_starts(session)

    session.refresh_from_db()
    assert (session.state, session.transaction) == ("stopping", tx)
    assert session.stop_command.request == {"transactionId": tx.pk}


def test_a_stop_the_station_refuses_leaves_the_session_charging(
    driver_app, funded, station, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session = AppSession.objects.get(pk=start(driver_app, code_of(station)).data["id"])
        station_starts(session)
        driver_app.post(f"{URL}{session.pk}/stop/")
    session.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        answer(session.stop_command, "Rejected")

    session.refresh_from_db()
    assert (session.state, session.stop_cause) == ("charging", "")


def test_stopping_twice_sends_one_stop_and_a_finished_session_cannot_stop(
    driver_app, funded, station, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session = AppSession.objects.get(pk=start(driver_app, code_of(station)).data["id"])
        tx = station_starts(session)
    assert driver_app.post(f"{URL}{session.pk}/stop/").status_code == 200
    assert driver_app.post(f"{URL}{session.pk}/stop/").status_code == 200
    assert Command.objects.filter(action="RemoteStopTransaction").count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        station_stops(tx, 1000)

    response = driver_app.post(f"{URL}{session.pk}/stop/")
    assert response.status_code == 409 and response.data["code"] == "session_over"


def test_a_stop_when_the_station_is_offline_is_409(
    driver_app, funded, station, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session = AppSession.objects.get(pk=start(driver_app, code_of(station)).data["id"])
        station_starts(session)
    station.connected = False
    station.save()

    response = driver_app.post(f"{URL}{session.pk}/stop/")

    assert response.status_code == 409 and response.data["code"] == "connector_offline"
    session.refresh_from_db()
    assert session.state == "charging"


def test_a_session_with_another_tag_is_not_linked(
    driver_app, funded, station, django_capture_on_commit_callbacks
):
    session = AppSession.objects.get(pk=start(driver_app, code_of(station)).data["id"])
    with django_capture_on_commit_callbacks(execute=True):
        make_driver(email="x@example.com")
        from django.db import transaction

        from csms.services.transactions import transaction_start

        with transaction.atomic():
            transaction_start(
                charge_point=station,
                connector_id=1,
                id_tag="RFID-CARD",
                meter_start=0,
                timestamp=timezone.now(),
            )
    session.refresh_from_db()
    assert session.state == "starting" and session.transaction is None


# --- Lists and personas -----------------------------------------------------------------------


def test_the_list_is_the_drivers_own_newest_first_without_n_plus_one(
    driver_app,
    other_driver_app,
    funded,
    other_driver,
    station,
    django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
):
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            session = AppSession.objects.get(pk=start(driver_app, code_of(station)).data["id"])
            tx = station_starts(session)
            station_stops(tx, 5000)
    with django_assert_max_num_queries(8):
        body = driver_app.get(URL).data

    assert body["count"] == 3
    ids = [s["id"] for s in body["results"]]
    assert ids == sorted(ids, reverse=True)
    assert all(s["state"] == "finished" and s["order"] for s in body["results"])
    assert other_driver_app.get(URL).data["count"] == 0
    assert other_driver_app.get(f"{URL}{ids[0]}/").status_code == 404
    assert other_driver_app.post(f"{URL}{ids[0]}/stop/").status_code == 404


def test_personas_on_the_session_endpoints(operator_app, anonymous_app):
    for client, status in ((operator_app, 403), (anonymous_app, 401)):
        assert client.get(URL).status_code == status
        assert client.get(f"{URL}1/").status_code == status
        assert client.post(f"{URL}1/stop/").status_code == status
