"""After a gateway process dies without closing its sockets (kill -9, a crashed host), the
stations it held must not stay online: the next gateway process to start clears them before it
serves anything, live processes and the beat task clear those of a process whose heartbeat
stopped, and a command to such a station is refused at once (409), not left to time out."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from csms.models import ChargePoint, Command, GatewayProcess
from csms.services.stations import gateway_processes_reap
from ocpp_gateway import calls, presence, tasks
from ocpp_gateway.presence import get_presence
from tests.factories import make_charge_point

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


def _exited_pid() -> int:
    """The pid of a process that has exited: what a killed gateway process leaves."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _held_by(process: GatewayProcess, identity: str) -> ChargePoint:
    """A station the process holds: connected on one of its channels, seen just now."""
    now = timezone.now()
    return make_charge_point(
        identity=identity,
        connected=True,
        ws_channel_name=f"specific.{process.id}!{identity}",
        gateway_process=process.id,
        connected_at=now,
        last_seen=now,
    )


def _gateway_process(*, host: str = presence.HOST, pid: int, silent_for: float = 0) -> Any:
    now = timezone.now()
    return GatewayProcess.objects.create(
        id=f"p{pid}{host}"[:32],
        host=host,
        pid=pid,
        started_at=now - timedelta(hours=1),
        heartbeat_at=now - timedelta(seconds=silent_for),
    )


async def test_it_clears_a_killed_process_stations_on_start_up_and_refuses_their_commands_at_once(
    connect_station, settings
):
    settings.OCPP_COMMAND_TIMEOUT = 30.0
    # Killed a moment ago, so its heartbeat is still fresh; it ran on this host.
    killed = await db(_gateway_process)(pid=await asyncio.to_thread(_exited_pid))
    stranded = await db(_held_by)(killed, "CP-STRANDED")
    in_flight = await Command.objects.acreate(
        charge_point=stranded, action="ClearCache", request={}, state=Command.State.SENT
    )

    # The restarted process's first handshake (or request) reaps before it is served.
    await db(make_charge_point)(identity="CP-BACK")
    await connect_station("CP-BACK")

    stranded = await ChargePoint.objects.aget(pk=stranded.pk)
    assert (stranded.connected, stranded.ws_channel_name, stranded.is_online) == (False, "", False)
    assert stranded.disconnected_at is not None
    assert (await Command.objects.aget(pk=in_flight.pk)).state == Command.State.FAILED
    assert not await GatewayProcess.objects.filter(pk=killed.pk).aexists()
    with pytest.raises(calls.StationOffline) as refused:
        await calls.acommand_send(charge_point=stranded, action="ClearCache", payload={})
    assert refused.value.status_code == 409

    back = await ChargePoint.objects.aget(identity="CP-BACK")
    assert (back.connected, back.gateway_process) == (True, get_presence().id)
    assert await GatewayProcess.objects.filter(pk=get_presence().id).aexists()


def test_the_beat_task_clears_the_stations_of_a_process_whose_heartbeat_stopped(settings):
    settings.OCPP_GATEWAY_HEARTBEAT_INTERVAL = 10.0
    crashed_host = _gateway_process(host="web-2", pid=7, silent_for=31)
    alive = _gateway_process(host="web-3", pid=7, silent_for=5)
    lost = _held_by(crashed_host, "CP-LOST")
    kept = _held_by(alive, "CP-KEPT")

    assert tasks.gateway_processes_reap() == 1

    lost.refresh_from_db()
    kept.refresh_from_db()
    assert (lost.connected, lost.gateway_process) == (False, "")
    assert (kept.connected, kept.gateway_process) == (True, alive.id)
    assert not GatewayProcess.objects.filter(pk=crashed_host.pk).exists()
    assert GatewayProcess.objects.filter(pk=alive.pk).exists()


def test_a_station_that_reconnected_elsewhere_is_not_cleared_with_its_old_process():
    dead = _gateway_process(host="web-2", pid=7, silent_for=600)
    live = _gateway_process(host="web-3", pid=8)
    moved = _held_by(live, "CP-MOVED")

    assert gateway_processes_reap(process_ids=[dead.id], timestamp=timezone.now()) == 0

    moved.refresh_from_db()
    assert (moved.connected, moved.gateway_process) == (True, live.id)


async def test_a_live_process_taken_for_dead_marks_its_stations_connected_again(
    connect_station, settings
):
    settings.OCPP_GATEWAY_HEARTBEAT_INTERVAL = 0.1
    await db(make_charge_point)(identity="CP-STAYS")
    await connect_station("CP-STAYS")
    ours = get_presence().id

    # A peer judged this process dead (its heartbeat had lapsed in a database outage).
    await db(gateway_processes_reap)(process_ids=[ours], timestamp=timezone.now())
    assert not (await ChargePoint.objects.aget(identity="CP-STAYS")).connected

    for _ in range(100):
        station = await ChargePoint.objects.aget(identity="CP-STAYS")
        if station.connected:
            break
        await asyncio.sleep(0.05)
    assert (station.connected, station.gateway_process) == (True, ours)
    assert station.ws_channel_name
