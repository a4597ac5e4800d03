"""The simulator against the real gateway: a loopback WebSocket server hands each connection
to the platform's ASGI application (consumer, handlers, group commit, database), so the
station's traffic is handled exactly as under daphne."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from websockets.asyncio.server import ServerConnection, serve

from csms.models import ChargePoint, Command, Connector, MeterValue, Transaction
from simulator import SimulatedStation
from tests.factories import make_charge_point, make_id_tag
from tests.simulator.conftest import fast_config

pytestmark = pytest.mark.django_db(transaction=True)


async def _bridge(connection: ServerConnection) -> None:
    from csms.asgi import application

    request = connection.request
    assert request is not None
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in request.headers.raw_items()
        if name.lower() == "authorization"
    ]
    communicator = WebsocketCommunicator(
        application,
        request.path,
        subprotocols=[p.strip() for p in offered.split(",") if p.strip()],
        headers=headers,
    )
    connected, _ = await communicator.connect(timeout=5)
    if not connected:
        await connection.close(1008)
        return

    async def upstream() -> None:
        async for message in connection:
            await communicator.send_to(text_data=message)

    async def downstream() -> None:
        while True:
            event = await communicator.receive_output(timeout=3600)
            if event["type"] == "websocket.send":
                await connection.send(event["text"])
            elif event["type"] == "websocket.close":
                await connection.close(event.get("code", 1000))
                return

    tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
    with contextlib.suppress(Exception):
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    with contextlib.suppress(Exception):
        await communicator.disconnect(timeout=5)


@pytest.fixture
async def gateway_url() -> AsyncIterator[str]:
    server = await serve(_bridge, "127.0.0.1", 0, subprotocols=["ocpp1.6"])  # type: ignore[list-item]
    yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp"
    server.close()
    await server.wait_closed()
    from ocpp_gateway.committer import get_committer

    await get_committer().drain()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:  # noqa: ASYNC109
    """Poll the database until ``check`` returns something truthy."""
    async with asyncio.timeout(timeout):
        while not (result := await check()):  # noqa: ASYNC110 - nothing to wait on but the DB
            await asyncio.sleep(0.05)
    return result


@pytest.fixture
async def station_on_gateway(gateway_url: str) -> AsyncIterator[Callable[..., Any]]:
    running: list[tuple[SimulatedStation, asyncio.Task[None]]] = []

    async def _start(**overrides: Any) -> SimulatedStation:
        station = SimulatedStation(fast_config(gateway_url, **overrides))
        running.append((station, asyncio.ensure_future(station.run())))
        await station.wait_ready(10)
        return station

    yield _start
    for station, task in running:
        await station.stop(timeout=5)
        await asyncio.wait_for(task, 10)


async def test_a_simulated_session_is_stored_by_the_gateway(station_on_gateway):
    await database_sync_to_async(make_charge_point)(identity="SIMGW1")
    await database_sync_to_async(make_id_tag)(id_tag="GW-TAG")
    station = await station_on_gateway(identity="SIMGW1", meter_interval=1)

    station.present_tag(1, "GW-TAG")
    tx = await eventually(
        lambda: Transaction.objects.filter(charge_point__identity="SIMGW1").afirst()
    )
    await eventually(
        lambda: (
            MeterValue.objects.filter(transaction=tx, context="Sample.Periodic")
            .values("timestamp")
            .distinct()
            .acount()
        )
    )
    station.stop_session(1)
    tx = await eventually(
        lambda: Transaction.objects.filter(pk=tx.pk, stopped_at__isnull=False).afirst()
    )
    await eventually(
        lambda: Connector.objects.filter(
            charge_point__identity="SIMGW1", connector_id=1, status="Available"
        ).aexists()
    )

    cp = await ChargePoint.objects.aget(identity="SIMGW1")
    assert cp.vendor == "OCPP-Sim" and cp.model == "SimAC-11kW"
    assert tx.id_tag == "GW-TAG" and tx.start_status == "Accepted"
    assert tx.stop_reason == "Local"
    assert tx.meter_stop > tx.meter_start == 0
    measured = {
        (m.measurand, m.phase)
        async for m in MeterValue.objects.filter(transaction=tx, context="Sample.Periodic")
    }
    assert {
        ("Energy.Active.Import.Register", ""),
        ("Power.Active.Import", ""),
        ("Current.Import", "L1"),
        ("Current.Import", "L3"),
        ("Voltage", "L2-N"),
    } <= measured
    assert await Connector.objects.filter(charge_point=cp).acount() == 3  # 0, 1 and 2


async def test_a_remote_stop_from_the_platform_reaches_the_simulated_station(station_on_gateway):
    charge_point = await database_sync_to_async(make_charge_point)(identity="SIMGW2")
    await database_sync_to_async(make_id_tag)(id_tag="GW-TAG2")
    station = await station_on_gateway(identity="SIMGW2", meter_interval=0)
    station.present_tag(2, "GW-TAG2")
    tx = await eventually(lambda: Transaction.objects.filter(charge_point=charge_point).afirst())
    await eventually(
        lambda: Connector.objects.filter(
            charge_point=charge_point, connector_id=2, status="Charging"
        ).aexists()
    )

    command = await Command.objects.acreate(
        charge_point=charge_point,
        action="RemoteStopTransaction",
        request={"transactionId": tx.pk},
        source="cli",
    )
    await charge_point.arefresh_from_db()
    await get_channel_layer().send(
        charge_point.ws_channel_name, {"type": "ocpp.call", "command_id": str(command.pk)}
    )
    command = await eventually(
        lambda: Command.objects.filter(pk=command.pk, state=Command.State.ANSWERED).afirst()
    )
    tx = await eventually(
        lambda: Transaction.objects.filter(pk=tx.pk, stopped_at__isnull=False).afirst()
    )

    assert command.response == {"status": "Accepted"}
    assert tx.stop_reason == "Remote"
