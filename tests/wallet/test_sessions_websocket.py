"""The app's live view: WebSocket /ws/app/sessions/<id>/ with the access token (query string
or subprotocol); the snapshot at connect, then a push per meter batch and state change; a
bad token closes with 4401, another driver's session with 4404, subprotocols without app.v1
with 4400."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from tests.wallet.factories import fund, make_driver
from tests.wallet.test_sessions_helpers import (
    code_of,
    eager_tasks,
    online_station,
    priced,
    station_meters,
    station_starts,
    station_stops,
)
from wallet.models import AppSession
from wallet.services.sessions import app_session_start, app_session_stop

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _eager() -> Iterator[None]:
    with eager_tasks():
        yield


def token_for(user: Any) -> str:
    return str(AccessToken.for_user(user))


def socket(path: str, subprotocols: list[str] | None = None) -> WebsocketCommunicator:
    from csms.asgi import application

    return WebsocketCommunicator(application, path, subprotocols=subprotocols)


@database_sync_to_async
def a_session(email: str = "dana@example.com", balance: str = "30.00") -> tuple[Any, AppSession]:
    priced()
    driver = make_driver(email=email)
    fund(driver, balance)
    station = online_station()
    session, _ = app_session_start(wallet=driver.wallet, connector_code=code_of(station))
    return driver, session


async def test_it_sends_the_snapshot_then_live_figures_then_the_end():
    driver, session = await a_session()
    ws = socket(f"/ws/app/sessions/{session.pk}/?token={token_for(driver)}")
    connected, _ = await ws.connect()
    assert connected

    first = await ws.receive_json_from()
    assert first["type"] == "session" and first["state"] == "starting"
    assert first["id"] == session.pk and first["held"] == "20.00"

    tx = await database_sync_to_async(station_starts)(session, meter_start=0)
    charging = await ws.receive_json_from()
    assert charging["state"] == "charging" and charging["transaction_id"] == tx.pk

    await database_sync_to_async(station_meters)(tx, 5_000, power_w=22_000, soc=40)
    live = await ws.receive_json_from()
    assert (live["energy_kwh"], live["power_kw"], live["soc"]) == ("5.000", "22.000", 40)
    assert live["cost"] == {"excl_vat": "1.50", "incl_vat": "1.80", "currency": "EUR"}
    assert live["duration_seconds"] >= 30 * 60

    await database_sync_to_async(app_session_stop)(wallet=driver.wallet, session_id=session.pk)
    stopping = await ws.receive_json_from()
    assert (stopping["state"], stopping["stop_cause"]) == ("stopping", "driver")

    await database_sync_to_async(station_stops)(tx, 5_000)
    states = []
    while not states or states[-1] != "finished":
        states.append((await ws.receive_json_from(timeout=5))["state"])
    final = states[-1]
    assert final == "finished"
    await ws.disconnect()


async def test_ping_is_answered():
    driver, session = await a_session()
    ws = socket(f"/ws/app/sessions/{session.pk}/?token={token_for(driver)}")
    await ws.connect()
    await ws.receive_json_from()

    await ws.send_json_to({"type": "ping"})

    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.disconnect()


async def test_the_token_may_come_as_a_subprotocol():
    driver, session = await a_session()
    ws = socket(
        f"/ws/app/sessions/{session.pk}/", subprotocols=["app.v1", f"bearer.{token_for(driver)}"]
    )
    connected, subprotocol = await ws.connect()

    assert connected and subprotocol == "app.v1"
    assert (await ws.receive_json_from())["id"] == session.pk
    await ws.disconnect()


async def test_app_v1_is_answered_when_offered_with_a_token_in_the_url():
    driver, session = await a_session()
    ws = socket(f"/ws/app/sessions/{session.pk}/?token={token_for(driver)}", ["app.v1"])

    connected, subprotocol = await ws.connect()

    assert connected and subprotocol == "app.v1"
    await ws.disconnect()


@pytest.mark.parametrize("offered", [["bearer"], ["json"], ["ocpp1.6"]])
async def test_subprotocols_without_app_v1_close_with_4400(offered):
    # A browser fails a handshake answered with none of the protocols it offered: there is
    # nothing to answer, so the socket says why instead of half-opening.
    driver, session = await a_session()
    token = token_for(driver)
    protocols = [f"bearer.{token}" if p == "bearer" else p for p in offered]
    ws = socket(f"/ws/app/sessions/{session.pk}/?token={token}", subprotocols=protocols)

    connected, code = await ws.connect()

    assert not connected and code == 4400


@pytest.mark.parametrize("token", ["", "not-a-jwt", "expired"])
async def test_a_missing_wrong_or_expired_token_closes_with_4401(token):
    driver, session = await a_session()
    if token == "expired":
        access = AccessToken.for_user(driver)
        access.set_exp(lifetime=-timedelta(seconds=1))
        token = str(access)
    ws = socket(f"/ws/app/sessions/{session.pk}/?token={token}")

    connected, code = await ws.connect()

    assert not connected and code == 4401


async def test_another_drivers_session_closes_with_4404():
    _, session = await a_session()
    otto = await database_sync_to_async(make_driver)(email="otto@example.com")
    for path in (f"/ws/app/sessions/{session.pk}/", "/ws/app/sessions/999999/"):
        ws = socket(f"{path}?token={token_for(otto)}")
        connected, code = await ws.connect()
        assert not connected and code == 4404


async def test_an_auto_stop_reaches_the_driver(settings):
    settings.WALLET_SESSION_MIN_BALANCE = Decimal("5")
    driver, session = await a_session(balance="6.00")
    ws = socket(f"/ws/app/sessions/{session.pk}/?token={token_for(driver)}")
    await ws.connect()
    await ws.receive_json_from()
    tx = await database_sync_to_async(station_starts)(session, meter_start=0)
    await ws.receive_json_from()

    await database_sync_to_async(station_meters)(tx, 14_000)  # 5.04 of 6.00 held

    pushed = await ws.receive_json_from()
    assert (pushed["state"], pushed["stop_cause"]) == ("stopping", "balance")
    await ws.disconnect()
