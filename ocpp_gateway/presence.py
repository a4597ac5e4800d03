"""Which gateway process holds a station's socket, and clearing up after one that died.

A process killed with -9 (or a crashed host) never runs its consumers' ``disconnect``: its
stations stayed ``connected`` on channels nobody reads, so they showed online for up to twice
their heartbeat and a command to one waited its whole timeout. Now each gateway process
(daphne; one event loop) has a :class:`GatewayPresence`:

- a ``GatewayProcess`` row with a random id, its host and pid, and a heartbeat written every
  OCPP_GATEWAY_HEARTBEAT_INTERVAL seconds; every station it connects names that id
  (``ChargePoint.gateway_process``), and it keeps ``{station: channel}`` of its own sockets;
- on start-up (the first request or handshake it serves, before serving it) and at every
  heartbeat it reaps the dead: processes silent for GATEWAY_DEAD_AFTER_BEATS intervals
  anywhere, and processes on its own host whose pid no longer runs or is its own (a process
  restarted in the same container gets the same pid). Their stations go offline at once and
  their open commands fail, so a command to such a station gets 409 at once
  (csms.services.stations.gateway_processes_reap);
- if it finds its own row gone (taken for dead during a long database outage) it marks the
  sockets it still holds connected again.

Station rows name a process id rather than matching a prefix of the channel name: the
in-memory layer names the channels of every process alike, and an equality match on an
indexed column needs no knowledge of a layer's naming. The Celery beat task
``gateway_processes_reap`` reaps silent processes too, for when no gateway process is left.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from csms.selectors.stations import gateway_processes_on_host, gateway_processes_silent
from csms.services.stations import (
    charge_points_reclaim,
    gateway_process_beat,
    gateway_processes_reap,
)

logger = logging.getLogger(__name__)
HOST = socket.gethostname()


def _pid_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        return True
    return True


def reap_dead_processes(*, own_id: str = "", own_pid: int | None = None) -> int:
    """Reap every gateway process known dead from here (see the module docstring). ``own_id``
    and ``own_pid`` are the caller's, when it is a gateway process. Returns how many stations
    were marked offline."""
    dead = set(
        gateway_processes_silent(heartbeat_interval=settings.OCPP_GATEWAY_HEARTBEAT_INTERVAL)
    )
    for process_id, pid in gateway_processes_on_host(host=HOST):
        if process_id != own_id and (pid == own_pid or not _pid_runs(pid)):
            dead.add(process_id)
    dead.discard(own_id)
    if not dead:
        return 0
    return gateway_processes_reap(process_ids=sorted(dead), timestamp=timezone.now())


class GatewayPresence:
    """This process as a holder of station sockets (one per event loop, like the committer)."""

    def __init__(self, *, interval: float) -> None:
        self.id = uuid.uuid4().hex
        self.pid = os.getpid()
        self.interval = interval
        # charge_point_id -> channel name of the sockets this process holds now.
        self.connections: dict[int, str] = {}
        self._started: asyncio.Task[None] | None = None
        self._beats: asyncio.Task[None] | None = None

    async def ensure_started(self) -> None:
        """Register this process and reap the dead ones, once; later calls return at once."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_task(self._start())
        if not self._started.done():
            await asyncio.shield(self._started)

    def held(self, charge_point_id: int, channel_name: str) -> None:
        self.connections[charge_point_id] = channel_name

    def released(self, charge_point_id: int, channel_name: str) -> None:
        if self.connections.get(charge_point_id) == channel_name:
            del self.connections[charge_point_id]

    async def _start(self) -> None:
        try:
            await database_sync_to_async(self._beat)(dict(self.connections), True)
        except Exception:
            logger.exception("could not register this gateway process; retrying at its heartbeat")
        self._beats = asyncio.get_running_loop().create_task(self._beat_forever())

    async def _beat_forever(self) -> None:
        last_ok = True
        while True:
            await asyncio.sleep(self.interval)
            try:
                # A process that could not beat either (the database was away) must not take
                # its silent peers for dead before they had a beat's chance to come back.
                await database_sync_to_async(self._beat)(dict(self.connections), last_ok)
                last_ok = True
            except Exception:
                logger.exception("gateway process heartbeat failed")
                last_ok = False

    def _beat(self, connections: dict[int, str], reap: bool) -> None:
        # Runs in the database thread; ``connections`` is a copy taken on the event loop.
        with transaction.atomic():
            known = gateway_process_beat(
                process_id=self.id, host=HOST, pid=self.pid, timestamp=timezone.now()
            )
            if not known and connections:
                reclaimed = charge_points_reclaim(gateway_process=self.id, channels=connections)
                logger.error(
                    "this gateway process was taken for dead (heartbeat lapsed); "
                    "%d connected station(s) marked connected again",
                    reclaimed,
                )
        if reap:
            reap_dead_processes(own_id=self.id, own_pid=self.pid)


_presences: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GatewayPresence] = (
    weakref.WeakKeyDictionary()
)


def get_presence() -> GatewayPresence:
    """The presence of the running event loop (one per process under daphne)."""
    loop = asyncio.get_running_loop()
    presence = _presences.get(loop)
    if presence is None:
        presence = GatewayPresence(interval=settings.OCPP_GATEWAY_HEARTBEAT_INTERVAL)
        _presences[loop] = presence
    return presence


def held_here(process_id: str) -> bool:
    """Whether ``process_id`` is a gateway presence of this very process (any event loop)."""
    return bool(process_id) and any(p.id == process_id for p in list(_presences.values()))


ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def starting_presence(app: ASGIApp) -> ASGIApp:
    """Wrap the ASGI application so the process registers and reaps the dead before it serves
    its first request or handshake (daphne has no start-up hook), and an operator's first
    look after a restart already shows the dead process's stations offline."""

    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            await get_presence().ensure_started()
        await app(scope, receive, send)

    return application
