"""A Redis outage: the OCPP path needs only the database, so stations stay connected and are
answered while the channel layer is gone; only remote commands fail (503 at once), and after
Redis returns the layer reconnects by itself and the very first command reaches the station.

Redis is never stopped: the gateway reaches it through a proxy the test cuts and restores
(tests.servers.TcpProxy), in front of REDIS_URL's server or, without one, a private
redis-server on a free port (skipped when there is none)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from csms.models import Command
from csms.settings import redis_channel_layer
from ocpp_gateway import calls
from ocpp_gateway.layer_watch import get_layer_watch
from tests.conftest import Station
from tests.factories import make_charge_point
from tests.ocpp_gateway.support import db, send
from tests.servers import TcpProxy, free_port, wait_for_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_server() -> Iterator[tuple[str, int, int]]:
    """(host, port, db) of a Redis to put behind the proxy."""
    url = os.environ.get("REDIS_URL")
    if url:
        parts = urlsplit(url)
        yield parts.hostname or "127.0.0.1", parts.port or 6379, int(parts.path[1:] or 0)
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("needs Redis: set REDIS_URL, or install redis-server")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process=process)
        yield "127.0.0.1", port, 0
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def redis_proxy(redis_server: tuple[str, int, int], settings: Any) -> AsyncIterator[TcpProxy]:
    """The gateway's channel layer is Redis, reached through a proxy the test can cut."""
    host, port, database = redis_server
    proxy = TcpProxy(host, port)
    await proxy.start()
    settings.CHANNEL_LAYERS = {
        "default": redis_channel_layer(f"redis://127.0.0.1:{proxy.port}/{database}")
    }
    settings.OCPP_COMMAND_TIMEOUT = 5.0
    yield proxy
    await proxy.close()


async def _redis_down(proxy: TcpProxy) -> None:
    """Cut Redis and wait until the gateway's blocked channel read has noticed."""
    await proxy.cut()
    for _ in range(100):
        if not get_layer_watch().is_up:
            return
        await asyncio.sleep(0.02)


async def _answered(station: Station, action: str, answer: dict[str, Any]) -> Command:
    """Send ``action`` to the station the way every issuer does, answer it, return it."""
    sending = asyncio.ensure_future(
        calls.acommand_send(charge_point=station.charge_point, action=action, payload={})
    )
    frame = await station.receive(timeout=10)
    assert frame[:3] == [2, frame[1], action]
    await station.send_text(json.dumps([3, frame[1], answer]))
    return await asyncio.wait_for(sending, timeout=10)


async def _station(connect_station: Any, identity: str) -> Station:
    charge_point = await db(make_charge_point)(identity=identity)
    station = await connect_station(identity)
    station.charge_point = charge_point  # type: ignore[attr-defined]
    return station


async def test_it_keeps_stations_connected_and_answered_while_redis_is_down(
    redis_proxy, connect_station
):
    station = await _station(connect_station, "CP-OUTAGE-1")
    assert (await send(station, "heartbeat"))[0] == 3

    await _redis_down(redis_proxy)

    # The connected station is still served: its frames need only the database.
    assert (await send(station, "heartbeat"))[0] == 3
    assert (await send(station, "status_notification_connector0"))[0] == 3
    # A station connecting during the outage is accepted and served too.
    latecomer = await _station(connect_station, "CP-OUTAGE-2")
    assert (await send(latecomer, "boot_notification_minimal"))[0] == 3
    assert await station.receive_nothing(0.3)  # no close frame (1011) for either

    await redis_proxy.restore()
    assert (await send(station, "heartbeat"))[0] == 3


async def test_it_fails_commands_at_once_while_redis_is_down_and_sends_the_first_one_after(
    redis_proxy, connect_station
):
    station = await _station(connect_station, "CP-OUTAGE-3")
    assert (await _answered(station, "ClearCache", {"status": "Accepted"})).state == "answered"

    await _redis_down(redis_proxy)
    with pytest.raises(calls.GatewayUnavailable) as refused:
        await calls.acommand_send(
            charge_point=station.charge_point, action="ClearCache", payload={}
        )
    assert refused.value.status_code == 503
    assert await Command.objects.filter(state=Command.State.FAILED).acount() == 1

    await redis_proxy.restore()
    first = await _answered(station, "ClearCache", {"status": "Accepted"})
    assert first.state == "answered"
    assert (await send(station, "heartbeat"))[0] == 3
