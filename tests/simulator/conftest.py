"""A small central system written with the ``ocpp`` package and ``websockets`` (no database),
on 127.0.0.1 with an ephemeral port, that records every CALL a simulated station sends and
lets a test send calls to it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import ServerConnection, serve

from simulator import SimulatedStation, StationConfig


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Message:
    identity: str
    action: str
    payload: dict[str, Any]


class StationLink(ChargePoint):
    """The central system's end of one station's connection."""

    def __init__(self, identity: str, connection: ServerConnection, cs: FakeCentralSystem):
        super().__init__(identity, connection, response_timeout=5)
        self.cs = cs

    async def route_message(self, raw_msg: str) -> None:
        frame = json.loads(raw_msg)
        if frame[0] == 2:
            self.cs.record(Message(self.id, frame[2], frame[3]))
        await super().route_message(raw_msg)

    @on(Action.boot_notification)
    def on_boot(self, **_: Any) -> call_result.BootNotification:
        status, interval = self.cs.next_boot_answer()
        return call_result.BootNotification(
            current_time=now_iso(), interval=interval, status=status
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=now_iso())

    @on(Action.status_notification)
    def on_status(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info=self.cs.tag_info(id_tag))

    @on(Action.start_transaction)
    def on_start(self, id_tag: str, **_: Any) -> call_result.StartTransaction:
        return call_result.StartTransaction(
            transaction_id=next(self.cs.transaction_ids), id_tag_info=self.cs.tag_info(id_tag)
        )

    @on(Action.stop_transaction)
    def on_stop(self, **_: Any) -> call_result.StopTransaction:
        return call_result.StopTransaction()

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.firmware_status_notification)
    def on_firmware_status(self, **_: Any) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status(self, **_: Any) -> call_result.DiagnosticsStatusNotification:
        return call_result.DiagnosticsStatusNotification()


@dataclass
class FakeCentralSystem:
    heartbeat_interval: int = 300
    boot_answers: list[tuple[str, int]] = field(default_factory=list)  # then Accepted
    tags: dict[str, str] = field(default_factory=dict)  # tag -> status; unknown: Accepted
    messages: list[Message] = field(default_factory=list)
    links: dict[str, StationLink] = field(default_factory=dict)
    headers: list[dict[str, str]] = field(default_factory=list)
    connections: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        self.transaction_ids = itertools.count(100)
        self._changed = asyncio.Event()  # replaced by a fresh one at every new message
        self._server: Any = None

    async def start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", 0, subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/ocpp"

    async def close(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        identity = connection.request.path.rstrip("/").rsplit("/", 1)[-1]
        self.headers.append(dict(connection.request.headers.raw_items()))
        link = StationLink(identity, connection, self)
        self.links[identity] = link
        self.connections += 1
        with contextlib.suppress(Exception):
            await link.start()

    def next_boot_answer(self) -> tuple[str, int]:
        if self.boot_answers:
            return self.boot_answers.pop(0)
        return "Accepted", self.heartbeat_interval

    def tag_info(self, id_tag: str) -> dict[str, Any]:
        return {"status": self.tags.get(id_tag, "Accepted")}

    def record(self, message: Message) -> None:
        self.messages.append(message)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def of(self, action: str) -> list[dict[str, Any]]:
        return [m.payload for m in self.messages if m.action == action]

    def actions(self) -> list[str]:
        return [m.action for m in self.messages]

    async def wait_for(
        self,
        action: str,
        where: Callable[[dict[str, Any]], bool] = lambda payload: True,
        *,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """The count-th recorded CALL of this action matching ``where`` (waits for it)."""

        def found() -> list[dict[str, Any]]:
            return [p for p in self.of(action) if where(p)]

        async with asyncio.timeout(timeout):
            while len(matches := found()) < count:
                await self._changed.wait()
        return matches[count - 1]

    async def call(self, identity: str, request: Any) -> Any:
        """Send a CALL to the station and return the ocpp call_result dataclass."""
        return await self.links[identity].call(request, suppress=False)


@pytest.fixture
async def central() -> AsyncIterator[FakeCentralSystem]:
    cs = FakeCentralSystem()
    await cs.start()
    yield cs
    await cs.close()


def fast_config(url: str, identity: str = "SIM001", **overrides: Any) -> StationConfig:
    """Station timings shrunk for tests; no automatic drivers unless asked."""
    settings: dict[str, Any] = {
        "identity": identity,
        "url": url,
        "reconnect_min": 0.05,
        "reconnect_max": 0.2,
        "reboot_seconds": 0.05,
        "unplug_seconds": 0.0,
        "firmware_step_seconds": 0.05,
        "boot_retry_seconds": 0.1,
        "response_timeout": 5.0,
        "session_minutes": None,
        "seed": 1,
    }
    settings.update(overrides)
    return StationConfig(**settings)


@pytest.fixture
async def start_station(central: FakeCentralSystem) -> AsyncIterator[Any]:
    """``station = await start_station(**config)``: running against ``central``, booted and
    past its first StatusNotifications; switched off at teardown."""
    running: list[tuple[SimulatedStation, asyncio.Task[None]]] = []

    async def _start(*, wait: bool = True, **overrides: Any) -> SimulatedStation:
        station = SimulatedStation(fast_config(central.url, **overrides))
        running.append((station, asyncio.ensure_future(station.run())))
        if wait:
            await station.wait_ready(5)
            await central.wait_for(
                "StatusNotification",
                lambda p: p["connectorId"] == station.config.connectors,
            )
        return station

    yield _start
    for station, task in running:
        await station.stop(timeout=2)
        await asyncio.wait_for(task, 5)
