"""End to end: a real daphne process is killed with -9 while a station is connected, and
restarted. The station does not come back: the restarted process shows it offline and refuses
a command to it at once (409), instead of letting the command wait out its timeout."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.error
import urllib.request
from typing import Any

import websockets
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from csms.models import ChargePoint
from tests.e2e.conftest import E2E_MARKS, STARTUP_TIMEOUT
from tests.servers import free_port, start_daphne, stop

pytestmark = E2E_MARKS

IDENTITY = "E2E-KILLED"


def _server(url: str) -> Any:
    return start_daphne(
        free_port(),
        startup_timeout=STARTUP_TIMEOUT,
        DATABASE_URL=url,
        OCPP_ALLOW_UNKNOWN_CHARGE_POINTS="true",
        OCPP_COMMAND_TIMEOUT="30",
    )


def _port(process: Any) -> int:
    return int(process.args[process.args.index("-p") + 1])


def _post_command(port: int, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/charge-points/{IDENTITY}/commands/",
        data=json.dumps({"action": "ClearCache", "payload": {}}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_a_station_held_by_a_killed_process_is_offline_after_the_restart(server_database):
    url, alias = server_database
    first = _server(url)

    async def connect_then_kill() -> None:
        async with websockets.connect(
            f"ws://127.0.0.1:{_port(first)}/ocpp/{IDENTITY}", subprotocols=["ocpp1.6"]
        ) as ws:
            await ws.send(json.dumps([2, "1", "Heartbeat", {}]))
            assert json.loads(await asyncio.wait_for(ws.recv(), 15))[0] == 3
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)

    try:
        asyncio.run(connect_then_kill())
    finally:
        stop(first)
    assert ChargePoint.objects.using(alias).get(identity=IDENTITY).connected  # left behind

    user = get_user_model()(username="e2e-operator", is_superuser=True, is_staff=True)
    user.set_unusable_password()
    user.save(using=alias)
    token = Token.objects.using(alias).create(user=user).key
    second = _server(url)
    try:
        status, body = _post_command(_port(second), token)
    finally:
        stop(second)

    assert status == 409, body
    assert body["code"] == "station_offline"
    station = ChargePoint.objects.using(alias).get(identity=IDENTITY)
    assert (station.connected, station.ws_channel_name) == (False, "")
