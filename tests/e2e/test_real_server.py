"""End to end: the real daphne process, driven by the ``ocpp`` package's ChargePoint over
``websockets``, exactly as a charger would; then what it stored, read back from the database."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest
import websockets
from ocpp.v16 import ChargePoint as OcppClient
from ocpp.v16 import call
from rest_framework.authtoken.models import Token
from websockets.exceptions import InvalidStatus

from csms.models import (
    ChargePoint,
    ConnectionAttempt,
    Connector,
    IdTag,
    MessageLog,
    MeterValue,
    Transaction,
)
from csms.services.stations import charge_point_set_password_hash
from tests.e2e.conftest import E2E_MARKS, Server

pytestmark = E2E_MARKS

IDENTITY = "E2E-CP1"
PASSWORD = "e2e-station-password-01"
TAG = "E2E-TAG-0001"
STEP_TIMEOUT = 15.0


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def register(server: Server) -> ChargePoint:
    station = ChargePoint(identity=IDENTITY, name="End-to-end station")
    charge_point_set_password_hash(charge_point=station, password=PASSWORD)
    station.save(using=server.db)
    IdTag(id_tag=TAG).save(using=server.db)
    return station


async def drive_a_charging_session(server: Server) -> dict[str, Any]:
    """Boot, Status, Authorize, Start, MeterValues, Stop as a real charger does them."""
    answers: dict[str, Any] = {}
    async with websockets.connect(
        f"{server.ws_url}/{IDENTITY}",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth(IDENTITY, PASSWORD),
        open_timeout=STEP_TIMEOUT,
        close_timeout=5,
    ) as ws:
        answers["subprotocol"] = ws.subprotocol
        client = OcppClient(IDENTITY, ws, response_timeout=STEP_TIMEOUT)
        reader = asyncio.create_task(client.start())
        try:

            async def send(payload: Any) -> Any:
                return await client.call(payload, suppress=False)

            answers["boot"] = await send(
                call.BootNotification(
                    charge_point_vendor="E2E Vendor",
                    charge_point_model="E2E-22kW",
                    charge_point_serial_number="E2E-SN-1",
                    firmware_version="1.2.3",
                )
            )
            await send(
                call.StatusNotification(connector_id=0, error_code="NoError", status="Available")
            )
            await send(
                call.StatusNotification(
                    connector_id=1,
                    error_code="NoError",
                    status="Preparing",
                    timestamp="2024-05-14T10:00:00Z",
                )
            )
            answers["authorize"] = await send(call.Authorize(id_tag=TAG))
            answers["start"] = await send(
                call.StartTransaction(
                    connector_id=1,
                    id_tag=TAG,
                    meter_start=10_000,
                    timestamp="2024-05-14T10:00:05Z",
                )
            )
            tx_id = answers["start"].transaction_id
            await send(
                call.StatusNotification(
                    connector_id=1,
                    error_code="NoError",
                    status="Charging",
                    timestamp="2024-05-14T10:00:06Z",
                )
            )
            await send(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=tx_id,
                    meter_value=[
                        {
                            "timestamp": "2024-05-14T10:15:00Z",
                            "sampled_value": [
                                {
                                    "value": "12.5",
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "kWh",
                                    "context": "Sample.Periodic",
                                },
                                {
                                    "value": "11000",
                                    "measurand": "Power.Active.Import",
                                    "unit": "W",
                                    "context": "Sample.Periodic",
                                },
                            ],
                        }
                    ],
                )
            )
            answers["stop"] = await send(
                call.StopTransaction(
                    meter_stop=15_250,
                    timestamp="2024-05-14T10:30:00Z",
                    transaction_id=tx_id,
                    id_tag=TAG,
                    reason="EVDisconnected",
                    transaction_data=[
                        {
                            "timestamp": "2024-05-14T10:30:00Z",
                            "sampled_value": [
                                {
                                    "value": "15250",
                                    "context": "Transaction.End",
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                }
                            ],
                        }
                    ],
                )
            )
            await send(
                call.StatusNotification(
                    connector_id=1,
                    error_code="NoError",
                    status="Available",
                    timestamp="2024-05-14T10:30:01Z",
                )
            )
            answers["heartbeat"] = await send(call.Heartbeat())
        finally:
            reader.cancel()
    return answers


def api_get(server: Server, path: str) -> Any:
    """GET /api/v1/<path> of the real server as an operator (token auth)."""
    from django.contrib.auth import get_user_model

    user = get_user_model()(username="e2e-operator", is_staff=True, is_superuser=True)
    user.set_unusable_password()
    user.save(using=server.db)
    token = Token.objects.using(server.db).create(user=user)
    request = urllib.request.Request(
        f"{server.http_url}/api/v1/{path}",
        headers={"Authorization": f"Token {token.key}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=STEP_TIMEOUT) as response:
            return json.loads(response.read())
    finally:
        user.delete()


def wait_until(condition: Any, *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def test_a_charger_runs_a_session_against_the_real_server(csms_server: Server):
    register(csms_server)
    db = csms_server.db

    answers = asyncio.run(asyncio.wait_for(drive_a_charging_session(csms_server), 120))

    # What the charger was told.
    assert answers["subprotocol"] == "ocpp1.6"
    assert answers["boot"].status == "Accepted"
    assert answers["boot"].interval == 60
    assert answers["authorize"].id_tag_info["status"] == "Accepted"
    assert answers["start"].id_tag_info["status"] == "Accepted"
    assert answers["stop"].id_tag_info["status"] == "Accepted"
    assert answers["heartbeat"].current_time.endswith("Z")
    tx_id = answers["start"].transaction_id

    # What the server stored.
    station = ChargePoint.objects.using(db).get(identity=IDENTITY)
    assert (station.vendor, station.model) == ("E2E Vendor", "E2E-22kW")
    assert station.firmware_version == "1.2.3"
    assert station.last_boot_at is not None
    connectors = dict(
        Connector.objects.using(db)
        .filter(charge_point=station)
        .values_list("connector_id", "status")
    )
    assert connectors == {0: "Available", 1: "Available"}

    tx = Transaction.objects.using(db).get(pk=tx_id)
    assert tx.charge_point_id == station.pk
    assert (tx.meter_start, tx.meter_stop, tx.energy_wh) == (10_000, 15_250, 5_250)
    assert tx.started_at == datetime(2024, 5, 14, 10, 0, 5, tzinfo=UTC)
    assert tx.stopped_at == datetime(2024, 5, 14, 10, 30, tzinfo=UTC)
    assert tx.stop_reason == "EVDisconnected"
    samples = list(
        MeterValue.objects.using(db)
        .filter(transaction_id=tx_id)
        .order_by("timestamp", "measurand")
        .values_list("measurand", "value", "unit", "context")
    )
    assert samples == [
        ("Energy.Active.Import.Register", "12.5", "kWh", "Sample.Periodic"),
        ("Power.Active.Import", "11000", "W", "Sample.Periodic"),
        ("Energy.Active.Import.Register", "15250", "Wh", "Transaction.End"),
    ]

    # The read API of the same server shows the session.
    shown = api_get(csms_server, f"transactions/{tx_id}/")
    assert shown["charge_point"] == IDENTITY
    assert (shown["meter_start"], shown["meter_stop"], shown["energy_wh"]) == (
        10_000,
        15_250,
        5_250,
    )
    assert shown["stop_reason"] == "EVDisconnected"
    assert shown["active"] is False
    values = api_get(csms_server, f"transactions/{tx_id}/meter-values/")
    values = values["results"] if isinstance(values, dict) else values
    assert sorted(v["value"] for v in values) == ["11000", "12.5", "15250"]
    station_view = api_get(csms_server, f"charge-points/{IDENTITY}/")
    assert station_view["vendor"] == "E2E Vendor"
    assert {c["connector_id"]: c["status"] for c in station_view["connectors"]} == {
        0: "Available",
        1: "Available",
    }

    # Offline as soon as the socket closed; every frame in and out logged.
    wait_until(lambda: not ChargePoint.objects.using(db).get(pk=station.pk).connected)
    logged = MessageLog.objects.using(db).filter(identity=IDENTITY)
    assert logged.filter(direction="in", message_type=2).count() == 10
    assert logged.filter(direction="out", message_type=3).count() == 10


def test_the_real_server_refuses_wrong_credentials_and_records_them(csms_server: Server):
    register(csms_server)

    async def connect_with_wrong_password() -> None:
        async with websockets.connect(
            f"{csms_server.ws_url}/{IDENTITY}",
            subprotocols=["ocpp1.6"],
            additional_headers=basic_auth(IDENTITY, "not-the-password-at-all"),
            open_timeout=STEP_TIMEOUT,
        ):
            pass

    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(connect_with_wrong_password())

    assert refused.value.response.status_code == 403
    attempt = ConnectionAttempt.objects.using(csms_server.db).get(identity=IDENTITY)
    assert attempt.reason == ConnectionAttempt.Reason.BAD_CREDENTIALS
    station = ChargePoint.objects.using(csms_server.db).get(identity=IDENTITY)
    assert station.connected is False


def test_a_quecpython_station_connects_with_the_subprotocol_its_firmware_sends(
    csms_server: Server,
):
    # The QuecPython OCPP client (project seed 004) offers only "ocpp1.6.0". websockets, like
    # any RFC 6455 client, fails the handshake unless the server selects a value it offered.
    register(csms_server)

    async def connect() -> tuple[str | None, Any]:
        async with websockets.connect(
            f"{csms_server.ws_url}/{IDENTITY}",
            subprotocols=["ocpp1.6.0"],  # type: ignore[list-item]
            additional_headers=basic_auth(IDENTITY, PASSWORD),
            open_timeout=STEP_TIMEOUT,
        ) as ws:
            await ws.send(json.dumps([2, "q-1", "Heartbeat", {}]))
            return ws.subprotocol, json.loads(await asyncio.wait_for(ws.recv(), STEP_TIMEOUT))

    subprotocol, answer = asyncio.run(connect())

    assert subprotocol == "ocpp1.6.0"
    assert answer[:2] == [3, "q-1"]


def test_a_lone_surrogate_in_a_message_id_does_not_close_the_real_socket(csms_server: Server):
    # Answering would put the id back on the wire, which daphne cannot encode as UTF-8: the
    # consumer died and the socket closed with 1011. The frame is ignored instead.
    register(csms_server)

    async def hostile_then_heartbeat() -> Any:
        async with websockets.connect(
            f"{csms_server.ws_url}/{IDENTITY}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=basic_auth(IDENTITY, PASSWORD),
            open_timeout=STEP_TIMEOUT,
        ) as ws:
            await ws.send(r'[2, "id-\ud800", "Heartbeat", {}]')
            await ws.send(json.dumps([2, "after-1", "Heartbeat", {}]))
            return json.loads(await asyncio.wait_for(ws.recv(), STEP_TIMEOUT))

    answer = asyncio.run(hostile_then_heartbeat())

    assert answer[:2] == [3, "after-1"]
