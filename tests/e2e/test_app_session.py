"""End to end: a driver charges from the app against the real server (daphne, eager Celery)
and a simulated station (simulator/): start by connector code, live figures over the
WebSocket, stop, the order paid and the session finished; and an auto-stop when a small
balance runs out at a fast charger."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import websockets
from django.contrib.auth import get_user_model
from django.db import connections
from rest_framework_simplejwt.tokens import AccessToken

from csms.models import Connector
from simulator import SimulatedStation, StationConfig
from tests.e2e.conftest import E2E_MARKS, STARTUP_TIMEOUT, Server
from tests.servers import ROOT, free_port, process_env, start_daphne, stop
from wallet.models import AppSession, Wallet
from wallet.selectors.ledger import wallet_balances

pytestmark = E2E_MARKS

IDENTITY = "E2E-APP-1"
EMAIL = "e2e-driver@example.com"
STEP = 20.0

STATION_SEED = """
from django.db import transaction
from billing.pricing.ocpi import tariff_from_ocpi
from billing.services import tariff_create
from csms.models import ChargePoint
with transaction.atomic():
    tariff_create(name="E2E", is_default=True, pricing=tariff_from_ocpi({
        "currency": "EUR",
        "elements": [{"price_components": [
            {"type": "ENERGY", "price": "3.00", "vat": "20", "step_size": 1}]}]}))
ChargePoint.objects.create(identity="%(identity)s", name="App station")
"""
DRIVER_SEED = """
from tests.wallet.factories import fund, make_driver
driver = make_driver(email="%(email)s")
fund(driver, "%(balance)s")
"""


def seed(url: str, balance: str | None) -> None:
    """The tariff (3.00 EUR/kWh + 20% VAT: a fast session costs something), the station and,
    with a ``balance``, a funded driver, written by the project's own code in the server's
    database."""
    code = STATION_SEED % {"identity": IDENTITY}
    if balance is not None:
        code += DRIVER_SEED % {"email": EMAIL, "balance": balance}
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=process_env(DATABASE_URL=url),
        check=True,
        timeout=120,
    )


@pytest.fixture
def app_server(server_database: tuple[str, str]) -> Iterator[Callable[..., Server]]:
    url, alias = server_database
    started: list[Any] = []

    def start(balance: str, **env: str) -> Server:
        seed(url, balance)
        port = free_port()
        process = start_daphne(
            port,
            startup_timeout=STARTUP_TIMEOUT,
            DATABASE_URL=url,
            OCPP_ALLOW_UNKNOWN_CHARGE_POINTS="false",
            CELERY_TASK_ALWAYS_EAGER="true",
            LOG_LEVEL="WARNING",
            **env,
        )
        started.append(process)
        return Server(port=port, db=alias, process=process)

    yield start
    for process in started:
        stop(process)


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on a worker thread (the ORM is synchronous), closing the database
    connections it opened there: the test database must be droppable afterwards."""

    def run() -> Any:
        try:
            return fn(*args)
        finally:
            connections.close_all()

    return await asyncio.to_thread(run)


def token(server: Server) -> str:
    user = get_user_model().objects.using(server.db).get(username=EMAIL)
    return str(AccessToken.for_user(user))


def http(server: Server, method: str, path: str, access: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{server.http_url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {access}", "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=STEP) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def station(server: Server, power_kw: float) -> SimulatedStation:
    return SimulatedStation(
        StationConfig(
            identity=IDENTITY,
            url=server.ws_url,
            connectors=1,
            power_kw=power_kw,
            dc=True,
            battery_kwh=200,
            initial_soc=(10, 10),
            meter_interval=1,
            auto_sessions=False,
            session_minutes=None,
            reconnect_min=0.1,
            reconnect_max=0.5,
            unplug_seconds=0.0,
            seed=1,
        )
    )


async def connector_code(server: Server) -> str:
    """The code of connector 1, once the station has reported it Available."""
    deadline = time.monotonic() + STEP

    def read() -> str | None:
        found = Connector.objects.using(server.db).filter(
            charge_point__identity=IDENTITY, connector_id=1, status="Available"
        )
        return found.values_list("code", flat=True).first()

    while time.monotonic() < deadline:
        if code := await in_thread(read):
            return code
        await asyncio.sleep(0.2)
    raise TimeoutError("the station never reported connector 1 Available")


async def until(ws: Any, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Messages from the session's socket up to the first matching ``predicate``."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(STEP * 2):
        while True:
            message = json.loads(await ws.recv())
            seen.append(message)
            if predicate(message):
                return seen


async def charge(server: Server, *, power_kw: float, stop_after_kwh: Decimal | None) -> Any:
    simulated = station(server, power_kw)
    running = asyncio.create_task(simulated.run())
    try:
        code = await connector_code(server)
        access = await in_thread(token, server)
        status, started = await asyncio.to_thread(
            http, server, "POST", "/api/v1/app/sessions/", access, {"connector_code": code.lower()}
        )
        assert status == 201, started
        assert started["state"] == "starting"
        session_id = started["id"]
        async with websockets.connect(
            f"ws://127.0.0.1:{server.port}/ws/app/sessions/{session_id}/?token={access}",
            open_timeout=STEP,
        ) as ws:
            snapshot = json.loads(await ws.recv())
            assert snapshot["type"] == "session" and snapshot["id"] == session_id
            if stop_after_kwh is not None:
                live = await until(
                    ws,
                    lambda m: (
                        m["state"] == "charging" and Decimal(m["energy_kwh"] or 0) >= stop_after_kwh
                    ),
                )
                status, stopping = await asyncio.to_thread(
                    http, server, "POST", f"/api/v1/app/sessions/{session_id}/stop/", access
                )
                assert status == 200, stopping
                assert stopping["state"] in ("stopping", "finished")
            else:
                live = []
            rest = await until(ws, lambda m: m["state"] == "finished")
        status, final = await asyncio.to_thread(
            http, server, "GET", f"/api/v1/app/sessions/{session_id}/", access
        )
        assert status == 200
        return live + rest, final
    finally:
        await simulated.stop(timeout=10)
        await asyncio.wait_for(running, 15)


def test_a_driver_starts_by_code_watches_live_stops_and_pays(app_server):
    server = app_server("50.00")

    messages, final = asyncio.run(charge(server, power_kw=150, stop_after_kwh=Decimal("0.2")))

    states = [m["state"] for m in messages]
    assert "charging" in states and states[-1] == "finished"
    live = [m for m in messages if m["state"] == "charging" and m["power_kw"]]
    assert live and Decimal(live[-1]["power_kw"]) > 0
    assert live[-1]["cost"]["incl_vat"] is not None and live[-1]["cost"]["currency"] == "EUR"
    assert final["state"] == "finished" and final["stop_cause"] == "driver"
    assert final["order"]["state"] == "paid" and final["held"] == "0.00"
    session = AppSession.objects.using(server.db).get(pk=final["id"])
    wallet = Wallet.objects.using(server.db).get(pk=session.wallet_id)
    balances = wallet_balances(wallet=wallet) if server.db == "default" else None
    total = Decimal(final["order"]["total_incl_vat"])
    assert total > 0
    if balances is not None:
        assert balances.available == Decimal("50.00") - total and balances.held == 0


def test_a_small_balance_is_stopped_remotely_when_it_runs_out(app_server):
    server = app_server(
        "3.00",
        WALLET_SESSION_MIN_BALANCE="1",
        WALLET_HOLD_MARGIN="1.5",
    )

    messages, final = asyncio.run(charge(server, power_kw=350, stop_after_kwh=None))

    causes = [(m["state"], m["stop_cause"]) for m in messages]
    assert ("stopping", "balance") in causes
    assert final["state"] == "finished" and final["stop_cause"] == "balance"
    assert final["held"] == "0.00" and final["order"]["state"] in ("paid", "unpaid")
    assert Decimal(final["cost"]["incl_vat"]) >= Decimal("1.50")
