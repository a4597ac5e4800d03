"""The base of a simulated station: its state, configuration keys, background tasks and
gates (see the concurrency note in ``simulator.station``)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter, deque
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from ocpp.v16 import ChargePoint

from simulator.config import StationConfig
from simulator.keys import standard_keys
from simulator.smart_charging import Electrical, ProfileStore
from simulator.state import GATE_TIMEOUT, Connector, frames_logger, logger, utcnow


class StationCore(ChargePoint):
    """The station's state and the plumbing every part of it uses: background tasks, the
    gates that hold a follow-up until the answer to its CALL has gone out, the event log."""

    def __init__(self, config: StationConfig) -> None:
        super().__init__(
            config.identity, None, response_timeout=config.response_timeout, logger=frames_logger
        )
        self.config = config
        self.rng = random.Random(config.seed)
        self.keys = standard_keys(
            connectors=config.connectors,
            dc=config.dc,
            heartbeat_interval=config.heartbeat_interval,
            meter_interval=config.meter_interval,
        )
        self.keys.listeners.append(self._key_changed)
        self.electrical = Electrical(
            dc=config.dc,
            voltage=config.voltage,
            dc_voltage=config.dc_voltage,
            phases=config.phases,
        )
        self.profiles = ProfileStore(self.electrical)
        self.connectors = {n: Connector(n) for n in range(1, config.connectors + 1)}
        self.firmware_version = config.firmware_version
        self.registration: str | None = None  # of this power cycle
        self.operative = True  # connector 0: the station as a whole
        self.local_list: dict[str, dict[str, Any]] = {}  # upper-cased tag -> idTagInfo
        self.local_list_version = 0
        self.auth_cache: dict[str, dict[str, Any]] = {}
        self.firmware_status = "Idle"
        self.diagnostics_status = "Idle"
        self.connected = False
        self.events: deque[tuple[datetime, str]] = deque(maxlen=500)
        self.stats: Counter[str] = Counter()

        self._ready = asyncio.Event()  # connected and registration Accepted
        self._registration_changed = asyncio.Event()
        self._heartbeat_changed = asyncio.Event()
        self._drop = asyncio.Event()  # close the connection (reboot, stop)
        self._finished = asyncio.Event()
        self._link_closed: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # live across connections
        self._link_tasks: set[asyncio.Task[Any]] = set()  # end with the connection
        self._gates: dict[str, asyncio.Event] = {}
        self._status_lock = asyncio.Lock()
        self._reported: dict[int, str] = {}
        self._running = False
        self._stopping = False
        self._rebooting = False
        self._install_pending = False
        self._firmware_task: asyncio.Task[None] | None = None

    # --- Public -----------------------------------------------------------------------------

    @property
    def identity(self) -> str:
        return self.config.identity

    @property
    def url(self) -> str:
        return f"{self.config.url.rstrip('/')}/{self.identity}"

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def wait_ready(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        await asyncio.wait_for(self._ready.wait(), timeout)

    def _key_changed(self, name: str, value: str) -> None:
        if name == "HeartbeatInterval":
            self._heartbeat_changed.set()
        elif name == "MeterValueSampleInterval":
            for connector in self.connectors.values():
                connector.wake.set()

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up when the station is being switched off."""
        if self._stopping or seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drop.wait(), seconds)

    # --- Tasks ------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _spawn_link(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._link_tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._link_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s task failed", self.identity, exc_info=task.exception())

    def _gate(self, call_id: str | None) -> asyncio.Event:
        gate = asyncio.Event()
        if call_id is not None:
            self._gates[call_id] = gate
        return gate

    def _open_gate(self, call_id: str) -> None:
        gate = self._gates.pop(call_id, None)
        if gate is not None:
            gate.set()

    @staticmethod
    async def _await_gate(gate: asyncio.Event) -> None:
        # The answer normally leaves within microseconds; if it never does (connection lost)
        # the station goes ahead anyway, as a real one that already accepted would.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gate.wait(), GATE_TIMEOUT)

    def _follow_up(self, call_id: str | None, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` once the answer to ``call_id`` has been sent."""
        gate = self._gate(call_id)

        async def after_answer() -> None:
            await self._await_gate(gate)
            await coro

        self._spawn(after_answer())

    def _note(self, event: str) -> None:
        self.events.append((utcnow(), event))
        logger.info("%s %s", self.identity, event)

    def _drop_reservation(self, connector: Connector) -> None:
        reservation = connector.reservation
        connector.reservation = None
        if reservation is not None and reservation.timer is not None:
            reservation.timer.cancel()
