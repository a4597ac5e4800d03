"""One path from any process: two real daphne processes share PostgreSQL and Redis; the
station's socket is held by process A, the API call lands on process B, and the answer comes
back to B's HTTP response through the Redis channel layer."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from ocpp.routing import on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import connect

from csms.models import ChargePoint, Command
from tests.factories import make_charge_point, make_token, make_user
from tests.servers import free_port, start_daphne, stop

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
        reason="needs PostgreSQL and Redis shared by two server processes "
        "(set DATABASE_URL and REDIS_URL; CI does)",
    ),
]


class AnsweringStation(OcppChargePoint):
    """A charge point (the ocpp package's client) that answers GetConfiguration and Reset."""

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **kwargs: Any) -> Any:
        return call_result.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            unknown_key=[k for k in key or [] if k != "HeartbeatInterval"],
        )

    @on(Action.reset)
    def on_reset(self, type: str, **kwargs: Any) -> Any:
        return call_result.Reset(status="Accepted")


@pytest.fixture
def servers(transactional_db: Any) -> Iterator[tuple[int, int]]:
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.skip("two processes need a shared PostgreSQL database")
    ports = (free_port(), free_port())
    processes = []
    try:
        for port in ports:
            processes.append(start_daphne(port, OCPP_COMMAND_TIMEOUT="10"))
        yield ports
    finally:
        for process in processes:
            stop(process)


def _post(port: int, path: str, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_a_command_posted_to_one_process_reaches_a_station_on_the_other(servers):
    port_a, port_b = servers
    make_charge_point(identity="E2E1")
    token = make_token(make_user(username="olivia-operator", role="operator"))

    async def scenario() -> list[tuple[int, dict[str, Any]]]:
        async with connect(
            f"ws://127.0.0.1:{port_a}/ocpp/E2E1", subprotocols=["ocpp1.6"], open_timeout=10
        ) as ws:
            station = AnsweringStation("E2E1", ws)
            listening = asyncio.ensure_future(station.start())
            try:
                boot = await asyncio.wait_for(
                    station.call(
                        call.BootNotification(charge_point_model="M", charge_point_vendor="V")
                    ),
                    timeout=10,
                )
                assert boot.status == "Accepted"
                path = "/api/v1/charge-points/E2E1/commands/"
                results = []
                for body in (
                    {"action": "GetConfiguration", "payload": {"key": ["HeartbeatInterval", "X"]}},
                    {"action": "Reset", "payload": {"type": "Soft"}},
                ):
                    results.append(await asyncio.to_thread(_post, port_b, path, token, body))
                return results
            finally:
                listening.cancel()

    (status1, body1), (status2, body2) = asyncio.run(asyncio.wait_for(scenario(), timeout=60))

    assert status1 == 200, body1
    assert body1["state"] == "answered"
    assert body1["response"] == {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknownKey": ["X"],
    }
    assert status2 == 200, body2
    assert body2["response"] == {"status": "Accepted"}
    # Stored by process A (the station's), read back by process B, visible here.
    commands = {c.action: c for c in Command.objects.select_related("issued_by")}
    assert commands["GetConfiguration"].state == Command.State.ANSWERED
    assert commands["Reset"].issued_by.username == "olivia-operator"
    cp = ChargePoint.objects.get(identity="E2E1")
    assert cp.configuration == {"HeartbeatInterval": {"value": "300", "readonly": False}}
    assert cp.configuration_unknown_keys == ["X"]
