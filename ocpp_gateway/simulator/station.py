"""A simulated OCPP 1.6J charge point, built on the ``ocpp`` package's ChargePoint.

It behaves like a real station towards any central system: boots (and retries while Pending or
Rejected), reports every connector's status, sends heartbeats at the interval it is given,
charges (Authorize, StartTransaction, MeterValues following the charging power, StopTransaction
with transactionData), keeps running sessions through a dropped connection (transaction
messages are sent once it is back), and answers every central-system-initiated 1.6 operation.

Concurrency: the ocpp package reads frames in one loop and awaits each handler before reading
the next, so a handler must never await a CALL of its own (the answer could not be read).
Handlers only decide and change state; whatever the station sends as a consequence runs in a
task that waits until the handler's answer has gone out (the ``@after`` hook opens its gate).

No Django here: the simulator runs against any OCPP 1.6J server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from ocpp_gateway.simulator.config import StationConfig
from ocpp_gateway.simulator.keys import standard_keys
from ocpp_gateway.simulator.meter import Reading, sampled_values
from ocpp_gateway.simulator.smart_charging import (
    MAX_PROFILE,
    TX_PROFILE,
    ChargingProfile,
    Electrical,
    ProfileStore,
    parse_datetime,
)
from ocpp_gateway.simulator.upload import UploadError, upload_file

logger = logging.getLogger("ocpp_gateway.simulator")
# Every frame in and out, from the ocpp package (INFO there): quiet unless asked for.
frames_logger = logging.getLogger("ocpp_gateway.simulator.frames")

SUBPROTOCOL = "ocpp1.6"
ACCEPTED = "Accepted"
REJECTED = "Rejected"

# Connector phases (the station's own view; the OCPP status is derived from them).
IDLE, PREPARING, CHARGING, FINISHING = "idle", "preparing", "charging", "finishing"
# Below 6 A per phase an AC EV cannot charge (IEC 61851): it pauses instead.
MIN_AC_AMPS = 6.0
GATE_TIMEOUT = 2.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class NotConnected(Exception):
    """The WebSocket closed (or was never open) while a CALL waited for its answer."""


@dataclass(eq=False, slots=True)
class Reservation:
    id: int
    connector_id: int
    id_tag: str
    expiry: datetime
    parent_id_tag: str | None = None
    timer: asyncio.Task[None] | None = None

    def admits(self, id_tag: str, parent_id_tag: str | None = None) -> bool:
        if id_tag.upper() == self.id_tag.upper():
            return True
        return bool(
            self.parent_id_tag
            and parent_id_tag
            and parent_id_tag.upper() == self.parent_id_tag.upper()
        )


@dataclass(eq=False, slots=True)
class Session:
    id_tag: str
    meter_start: int
    started_at: datetime
    origin: str  # "rfid" or "remote"
    reservation_id: int | None = None
    deadline: float | None = None  # monotonic time the driver stops at
    target_wh: float | None = None  # register value the driver stops at
    transaction_id: int | None = None
    id_tag_status: str = ACCEPTED


@dataclass(eq=False, slots=True)
class Connector:
    id: int
    operative: bool = True
    pending_operative: bool | None = None  # ChangeAvailability Scheduled
    phase: str = IDLE
    reservation: Reservation | None = None
    session: Session | None = None
    task: asyncio.Task[None] | None = None
    register_wh: float = 0.0
    power_w: float = 0.0
    offered_w: float = 0.0
    phases: int = 3
    soc: float | None = None
    ev_full: bool = False
    stop_reason: str | None = None
    unplug: bool = True  # go through Finishing after the stop (False on reboot/shutdown)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    last_tick: float = field(default_factory=time.monotonic)

    @property
    def busy(self) -> bool:
        return self.task is not None or self.phase != IDLE


class SimulatedStation(ChargePoint):
    """One simulated charge point. ``await station.run()`` operates it until ``await
    station.stop()``; ``present_tag()`` / ``stop_session()`` act as its drivers."""

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

    def present_tag(
        self,
        connector_id: int,
        id_tag: str,
        *,
        minutes: float | None = None,
        kwh: float | None = None,
    ) -> asyncio.Task[None] | None:
        """A driver plugs in at ``connector_id`` and presents ``id_tag``: Authorize, then
        StartTransaction. The driver leaves after ``minutes`` / ``kwh`` (default: drawn from
        the config; neither: until stopped). Returns the session's task, or None when the
        connector cannot take a session now."""
        connector = self.connectors.get(connector_id)
        if connector is None or not self._can_start(connector, id_tag):
            return None
        connector.phase = PREPARING
        connector.task = self._spawn(
            self._session(connector, id_tag, origin="rfid", minutes=minutes, kwh=kwh)
        )
        return connector.task

    def stop_session(self, connector_id: int, reason: str = "Local") -> bool:
        """The driver ends the session on ``connector_id`` (or something else does, by
        ``reason``). False when there is none."""
        connector = self.connectors.get(connector_id)
        if connector is None or connector.task is None:
            return False
        self._request_stop(connector, reason)
        return True

    async def stop(self, *, reason: str = "PowerLoss", timeout: float = 15.0) -> None:  # noqa: ASYNC109
        """Switch the station off: end every session (StopTransaction with ``reason``) while
        the connection allows, within ``timeout``, then disconnect; ``run()`` returns."""
        if self._stopping:
            await self._finished.wait()
            return
        self._stopping = True
        try:
            await asyncio.wait_for(self._stop_sessions(reason, unplug=False), timeout)
        except TimeoutError:
            open_sessions = sum(1 for c in self.connectors.values() if c.session is not None)
            logger.warning(
                "%s switched off with %d session(s) unreported", self.identity, open_sessions
            )
        self._drop.set()
        if self._running:
            await self._finished.wait()

    async def run(self) -> None:
        """Operate until stop(): connect, boot, serve, reconnect after a drop (exponential
        backoff with jitter), reboot on Reset or after a firmware install."""
        self._running = True
        if self.config.auto_sessions:
            for connector in self.connectors.values():
                self._spawn(self._auto_driver(connector))
        delay = self.config.reconnect_min
        try:
            while not self._stopping:
                # A reboot requested during a reboot (firmware after a Reset) reboots again.
                while self._rebooting and not self._stopping:
                    await self._power_cycle()
                    delay = self.config.reconnect_min
                if self._stopping:
                    break
                websocket = await self._open()
                if websocket is not None:
                    was_accepted = await self._serve(websocket)
                    if self._stopping:
                        break
                    if self._rebooting:
                        continue
                    if was_accepted:
                        delay = self.config.reconnect_min
                elif self._rebooting:
                    continue
                wait = delay * self.rng.uniform(0.8, 1.2)
                logger.info("%s reconnecting in %.1f s", self.identity, wait)
                await self._pause(wait)
                delay = min(delay * 2, self.config.reconnect_max)
        finally:
            self._ready.clear()
            for task in (*self._link_tasks, *self._tasks):
                task.cancel()
            await asyncio.gather(*self._link_tasks, *self._tasks, return_exceptions=True)
            self._finished.set()

    # --- Connection -------------------------------------------------------------------------

    async def _open(self) -> Any:
        headers = {}
        if self.config.password is not None:
            secret = f"{self.identity}:{self.config.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(secret).decode()
        ping = self.keys.get_int("WebSocketPingInterval") or None
        try:
            websocket = await connect(
                self.url,
                subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                additional_headers=headers,
                open_timeout=self.config.open_timeout,
                ping_interval=ping,
                ping_timeout=ping,
                close_timeout=2,
                compression=None,
            )
        except InvalidURI:
            raise
        except InvalidStatus as exc:
            logger.warning(
                "%s refused by the server: HTTP %s", self.identity, exc.response.status_code
            )
            return None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            logger.warning(
                "%s cannot connect to %s: %s", self.identity, self.url, exc or type(exc).__name__
            )
            return None
        if websocket.subprotocol != SUBPROTOCOL:
            logger.warning(
                "%s: the server did not confirm subprotocol %s", self.identity, SUBPROTOCOL
            )
        return websocket

    async def _serve(self, websocket: Any) -> bool:
        """Run one connection until it closes or we drop it. True if it reached Accepted."""
        self._connection = websocket
        self._response_queue: asyncio.Queue[Any] = asyncio.Queue()
        self._link_closed = closed = asyncio.Event()
        self.connected = True
        self.stats["connections"] += 1
        self._note(f"connected to {self.url}")
        receiver = self._spawn_link(self._receive())
        self._spawn_link(self._bring_up())
        dropper = asyncio.ensure_future(self._drop.wait())
        await asyncio.wait({receiver, dropper}, return_when=asyncio.FIRST_COMPLETED)
        dropper.cancel()
        accepted = self._ready.is_set()
        self.connected = False
        self._ready.clear()
        closed.set()
        for task in list(self._link_tasks):
            task.cancel()
        await asyncio.gather(*self._link_tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await websocket.close()
        self._drop.clear()
        return accepted

    async def _receive(self) -> None:
        try:
            await self.start()
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            self._note(f"connection closed (code {code})")

    async def _bring_up(self) -> None:
        """Boot if this power cycle has not been accepted yet; then report every connector
        and start heartbeats."""
        try:
            if self.registration != ACCEPTED:
                await self._boot_until_accepted()
            self._ready.set()
            async with self._status_lock:
                self._reported.clear()
            await self._sync_statuses(force=True)
            self._spawn_link(self._heartbeats())
        except NotConnected:
            pass

    async def _power_cycle(self) -> None:
        """The reboot itself: volatile state is gone, persistent settings stay."""
        self._drop.clear()
        self.registration = None
        self._rebooting = False
        self._reported.clear()
        for connector in self.connectors.values():
            connector.power_w = connector.offered_w = 0.0
        self._note("rebooting")
        await self._pause(self.config.reboot_seconds)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up when the station is being switched off."""
        if self._stopping or seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drop.wait(), seconds)

    # --- Sending ----------------------------------------------------------------------------

    async def _call_once(self, request: Any) -> Any:
        """One CALL on the current connection; NotConnected if it closes first."""
        closed = self._link_closed
        if closed is None or closed.is_set():
            raise NotConnected
        pending = asyncio.ensure_future(self.call(request, suppress=False))
        watcher = asyncio.ensure_future(closed.wait())
        try:
            done, _ = await asyncio.wait({pending, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not pending.done():
                pending.cancel()
        if pending not in done:
            raise NotConnected
        self.stats["calls"] += 1
        return pending.result()

    async def _request(self, request: Any, *, queue: bool = False) -> Any:
        """Send once registered; the answer, or None (offline, no answer, CALLERROR). With
        ``queue`` (transaction messages) wait for the connection and retry until answered:
        a station keeps those until the central system has them."""
        action = type(request).__name__
        while True:
            if not self._ready.is_set():
                if not queue:
                    return None
                await self._ready.wait()
            try:
                return await self._call_once(request)
            except NotConnected:
                if not queue:
                    return None
            except TimeoutError:
                logger.warning(
                    "%s %s: no answer within %g s",
                    self.identity,
                    action,
                    self.config.response_timeout,
                )
                if not queue:
                    return None
                await asyncio.sleep(1)
            except OCPPError as exc:
                self.stats["call_errors"] += 1
                logger.warning(
                    "%s %s refused: %s %s",
                    self.identity,
                    action,
                    type(exc).__name__,
                    exc.description,
                )
                return None

    # --- Boot and heartbeat -----------------------------------------------------------------

    def _boot_request(self) -> call.BootNotification:
        return call.BootNotification(
            charge_point_vendor=self.config.vendor[:20],
            charge_point_model=self.config.model[:20],
            charge_point_serial_number=f"SN-{self.identity}"[:25],
            firmware_version=self.firmware_version[:50],
            meter_type="SimMeter",
            meter_serial_number=f"M-{self.identity}"[:25],
        )

    async def _boot_once(self) -> Any:
        try:
            result = await self._call_once(self._boot_request())
        except TimeoutError:
            logger.warning("%s BootNotification: no answer", self.identity)
            return None
        except OCPPError as exc:
            logger.warning(
                "%s BootNotification refused: %s %s",
                self.identity,
                type(exc).__name__,
                exc.description,
            )
            return None
        self._apply_boot(result)
        return result

    def _apply_boot(self, result: Any) -> None:
        previous, self.registration = self.registration, result.status
        if result.status == ACCEPTED and result.interval > 0:
            self.keys.set("HeartbeatInterval", str(result.interval))
        self._registration_changed.set()
        if result.status == ACCEPTED and previous != ACCEPTED:
            self.stats["boots"] += 1
            self._note(f"boot Accepted, heartbeat every {self.keys.get('HeartbeatInterval')} s")
        elif result.status != ACCEPTED:
            self._note(f"boot {result.status}, retry in {self._boot_wait(result):g} s")

    def _boot_wait(self, result: Any) -> float:
        return float(result.interval) if result.interval > 0 else self.config.boot_retry_seconds

    async def _boot_until_accepted(self) -> None:
        while True:
            self._registration_changed.clear()
            result = await self._boot_once()
            if self.registration == ACCEPTED:
                return
            wait = self._boot_wait(result) if result else self.config.boot_retry_seconds
            # A TriggerMessage(BootNotification) may get us accepted before the wait is over.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._registration_changed.wait(), wait)
            if self.registration == ACCEPTED:
                return

    async def _heartbeats(self) -> None:
        while True:
            self._heartbeat_changed.clear()
            interval = self.keys.get_int("HeartbeatInterval")
            try:
                if interval > 0:
                    await asyncio.wait_for(self._heartbeat_changed.wait(), interval)
                else:
                    await self._heartbeat_changed.wait()
                continue  # the interval changed: start over with the new one
            except TimeoutError:
                pass
            if await self._request(call.Heartbeat()) is not None:
                self.stats["heartbeats"] += 1

    def _key_changed(self, name: str, value: str) -> None:
        if name == "HeartbeatInterval":
            self._heartbeat_changed.set()
        elif name == "MeterValueSampleInterval":
            for connector in self.connectors.values():
                connector.wake.set()

    # --- Status -----------------------------------------------------------------------------

    def status_of(self, connector_id: int) -> str:
        """The OCPP status of a connector (0 = the station), derived from its state."""
        if connector_id == 0:
            return "Available" if self.operative else "Unavailable"
        connector = self.connectors[connector_id]
        if connector.session is not None and connector.phase == CHARGING:
            if connector.power_w > 0:
                return "Charging"
            return "SuspendedEV" if connector.ev_full else "SuspendedEVSE"
        if connector.phase == PREPARING:
            return "Preparing"
        if connector.phase == FINISHING:
            return "Finishing"
        if not connector.operative:
            return "Unavailable"
        if connector.reservation is not None:
            return "Reserved"
        return "Available"

    async def _sync_statuses(self, *, force: bool = False) -> None:
        """StatusNotification for every connector whose status changed since last reported."""
        async with self._status_lock:
            for connector_id in range(self.config.connectors + 1):
                if not self._ready.is_set():
                    return
                status = self.status_of(connector_id)
                if not force and self._reported.get(connector_id) == status:
                    continue
                self._reported[connector_id] = status
                await self._send_status(connector_id, status)

    async def _send_status(self, connector_id: int, status: str) -> None:
        logger.debug("%s/%d %s", self.identity, connector_id, status)
        await self._request(
            call.StatusNotification(
                connector_id=connector_id,
                error_code="NoError",
                status=status,
                timestamp=iso(utcnow()),
            )
        )

    # --- Electrical model -------------------------------------------------------------------

    @property
    def max_power_w(self) -> float:
        return self.config.power_kw * 1000.0

    def _retune(self) -> None:
        """Advance every meter to now at the power it had, then set each connector's power
        from the charging profiles for what comes next."""
        now_m, now = time.monotonic(), utcnow()
        for connector in self.connectors.values():
            elapsed = now_m - connector.last_tick
            connector.last_tick = now_m
            if elapsed > 0 and connector.power_w > 0:
                energy = connector.power_w * elapsed / 3600.0
                connector.register_wh += energy
                if connector.soc is not None:
                    capacity = self.config.battery_kwh * 1000.0
                    connector.soc = min(100.0, connector.soc + 100.0 * energy / capacity)
        charging = [
            c for c in self.connectors.values() if c.session is not None and c.phase == CHARGING
        ]
        station = self.profiles.station_limit(now)
        for connector in self.connectors.values():
            offered, phases = self.max_power_w, self.config.phases
            if connector in charging:
                assert connector.session is not None
                tx = self.profiles.transaction_limit(
                    connector.id,
                    now,
                    transaction_id=connector.session.transaction_id,
                    tx_start=connector.session.started_at,
                )
                if tx is not None and tx.watts < offered:
                    offered, phases = tx.watts, tx.phases or phases
                if station is not None and station.watts / len(charging) < offered:
                    offered, phases = station.watts / len(charging), station.phases or phases
            offered = max(0.0, offered)
            minimum = MIN_AC_AMPS * self.config.voltage * phases
            if not self.config.dc and offered < min(minimum, self.max_power_w):
                offered = 0.0
            connector.offered_w, connector.phases = offered, phases
            connector.ev_full = connector.soc is not None and connector.soc >= 100.0
            if connector in charging and not connector.ev_full:
                connector.power_w = offered
            else:
                connector.power_w = 0.0

    def _reading(self, connector: Connector) -> Reading:
        return Reading(
            register_wh=connector.register_wh,
            power_w=connector.power_w,
            offered_w=connector.offered_w,
            phases=connector.phases,
            soc=connector.soc,
            max_power_w=self.max_power_w,
        )

    def _station_reading(self) -> Reading:
        connectors = list(self.connectors.values())
        return Reading(
            register_wh=sum(c.register_wh for c in connectors),
            power_w=sum(c.power_w for c in connectors),
            offered_w=sum(c.offered_w for c in connectors),
            max_power_w=self.max_power_w * len(connectors),
        )

    def _samples(self, reading: Reading, measurands: list[str], context: str) -> list[Any]:
        return sampled_values(
            reading,
            measurands,
            context=context,
            dc=self.config.dc,
            voltage=self.config.voltage,
            dc_voltage=self.config.dc_voltage,
        )

    async def _send_meter_values(self, connector_id: int, context: str) -> None:
        if connector_id == 0:
            reading, transaction_id = self._station_reading(), None
        else:
            connector = self.connectors[connector_id]
            reading = self._reading(connector)
            session = connector.session
            transaction_id = session.transaction_id if session is not None else None
        values = self._samples(reading, self.keys.get_list("MeterValuesSampledData"), context)
        if not values:
            return
        result = await self._request(
            call.MeterValues(
                connector_id=connector_id,
                meter_value=[{"timestamp": iso(utcnow()), "sampledValue": values}],
                transaction_id=transaction_id,
            )
        )
        if result is not None:
            self.stats["meter_values"] += 1

    # --- Sessions ---------------------------------------------------------------------------

    def _can_start(self, connector: Connector, id_tag: str) -> bool:
        if self._stopping or self._rebooting or self._install_pending:
            return False
        if connector.busy or not connector.operative or not self.operative:
            return False
        reservation = connector.reservation
        if reservation is not None:
            # With a parent tag on the reservation, Authorize tells whether the tag belongs.
            return reservation.admits(id_tag) or bool(reservation.parent_id_tag)
        return True

    def _request_stop(self, connector: Connector, reason: str, *, unplug: bool = True) -> None:
        if connector.stop_reason is None:
            connector.stop_reason = reason
            connector.unplug = unplug
        connector.wake.set()

    async def _stop_sessions(self, reason: str, *, unplug: bool) -> None:
        tasks = []
        for connector in self.connectors.values():
            if connector.task is not None and not connector.task.done():
                self._request_stop(connector, reason, unplug=unplug)
                tasks.append(connector.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _session(
        self,
        connector: Connector,
        id_tag: str,
        *,
        origin: str,
        gate: asyncio.Event | None = None,
        profile: ChargingProfile | None = None,
        minutes: float | None = None,
        kwh: float | None = None,
    ) -> None:
        try:
            if gate is not None:
                await self._await_gate(gate)
            await self._run_session(connector, id_tag, origin, profile, minutes, kwh)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s/%d session failed", self.identity, connector.id)
        finally:
            connector.task = None
            connector.stop_reason = None
            if connector.session is None:
                connector.phase = IDLE

    async def _run_session(
        self,
        connector: Connector,
        id_tag: str,
        origin: str,
        profile: ChargingProfile | None,
        minutes: float | None,
        kwh: float | None,
    ) -> None:
        connector.phase = PREPARING
        connector.stop_reason = None
        await self._sync_statuses()
        reservation = connector.reservation
        info: dict[str, Any] | None = {"status": ACCEPTED}
        needs_authorize = (
            origin == "rfid"
            or self.keys.get_bool("AuthorizeRemoteTxRequests")
            or (reservation is not None and not reservation.admits(id_tag))
        )
        if needs_authorize:
            info = await self._authorize(id_tag)
        status = (info or {}).get("status", "no answer")
        if status != ACCEPTED:
            self._note(f"#{connector.id} tag {id_tag} not authorized ({status})")
            self.stats["refused"] += 1
            await self._back_to_idle(connector)
            return
        if reservation is not None and not reservation.admits(
            id_tag, (info or {}).get("parent_id_tag")
        ):
            self._note(f"#{connector.id} tag {id_tag} does not hold reservation {reservation.id}")
            self.stats["refused"] += 1
            await self._back_to_idle(connector)
            return
        if connector.stop_reason is not None:
            await self._back_to_idle(connector)
            return

        minutes, kwh = self._driver_plan(minutes, kwh)
        now_m = time.monotonic()
        self._retune()
        session = Session(
            id_tag=id_tag,
            meter_start=int(connector.register_wh),
            started_at=utcnow(),
            origin=origin,
            reservation_id=reservation.id if reservation is not None else None,
            deadline=now_m + minutes * 60.0 if minutes else None,
            target_wh=connector.register_wh + kwh * 1000.0 if kwh else None,
        )
        if reservation is not None:
            self._drop_reservation(connector)
        if self.config.dc:
            connector.soc = self.rng.uniform(*self.config.initial_soc)
        connector.session = session
        connector.phase = CHARGING
        self._retune()
        result = await self._request(
            call.StartTransaction(
                connector_id=connector.id,
                id_tag=id_tag,
                meter_start=session.meter_start,
                timestamp=iso(session.started_at),
                reservation_id=session.reservation_id,
            ),
            queue=True,
        )
        if result is None:
            self._note(f"#{connector.id} StartTransaction refused; charging stopped")
            connector.session = None
            await self._back_to_idle(connector)
            return
        session.transaction_id = result.transaction_id
        session.id_tag_status = result.id_tag_info.get("status", ACCEPTED)
        self._remember(id_tag, result.id_tag_info)
        if profile is not None:
            profile.transaction_id = result.transaction_id
            self.profiles.install(profile)
        self._retune()
        self.stats["sessions_started"] += 1
        self._note(
            f"#{connector.id} session started, transaction {session.transaction_id}, tag "
            f"{id_tag} ({origin}), {connector.power_w / 1000:.1f} kW"
        )
        await self._sync_statuses()
        if session.id_tag_status != ACCEPTED and self.keys.get_bool("StopTransactionOnInvalidId"):
            self._request_stop(connector, "DeAuthorized")
        reason = await self._charge(connector, session)
        await self._end_session(connector, session, reason)

    def _driver_plan(self, minutes: float | None, kwh: float | None) -> tuple[float, float]:
        """How long / how much this driver charges: explicit, else drawn from the config."""
        if minutes is None and self.config.session_minutes is not None:
            minutes = self.rng.uniform(*self.config.session_minutes)
        if kwh is None and self.config.session_kwh is not None:
            kwh = self.rng.uniform(*self.config.session_kwh)
        return minutes or 0.0, kwh or 0.0

    async def _back_to_idle(self, connector: Connector) -> None:
        connector.phase = IDLE
        self._retune()
        await self._sync_statuses()

    async def _charge(self, connector: Connector, session: Session) -> str:
        """Meter the session until something ends it; returns the StopTransaction reason."""
        interval = self.keys.get_int("MeterValueSampleInterval")
        next_sample = time.monotonic() + interval
        while True:
            connector.wake.clear()
            if connector.stop_reason is not None:
                return connector.stop_reason
            self._retune()
            now_m = time.monotonic()
            if session.deadline is not None and now_m >= session.deadline:
                return "Local"
            if session.target_wh is not None and connector.register_wh >= session.target_wh:
                return "Local"
            if connector.ev_full:
                return "EVDisconnected"
            current = self.keys.get_int("MeterValueSampleInterval")
            if current != interval:
                interval, next_sample = current, now_m + current
            if interval > 0 and now_m >= next_sample:
                await self._send_meter_values(connector.id, "Sample.Periodic")
                next_sample += interval
                if next_sample <= now_m:
                    next_sample = now_m + interval
            await self._sync_statuses()

            waits = []
            if interval > 0:
                waits.append(next_sample - now_m)
            if session.deadline is not None:
                waits.append(session.deadline - now_m)
            if connector.power_w > 0:
                if session.target_wh is not None:
                    remaining = session.target_wh - connector.register_wh
                    waits.append(remaining / connector.power_w * 3600.0)
                if connector.soc is not None:
                    to_full = (100.0 - connector.soc) / 100.0 * self.config.battery_kwh * 1000
                    waits.append(to_full / connector.power_w * 3600.0)
            horizon = min(waits) if waits else 3600.0
            change = self.profiles.next_change(connector.id, utcnow(), horizon, session.started_at)
            if change is not None:
                waits.append(change + 0.01)
            timeout = max(0.0, min(waits)) if waits else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connector.wake.wait(), timeout)

    def _transaction_data(self, session: Session, end: Reading) -> list[dict[str, Any]]:
        measurands = self.keys.get_list("StopTxnSampledData")
        if not measurands:
            return []
        data = []
        if "Energy.Active.Import.Register" in measurands:
            begin = Reading(register_wh=session.meter_start, power_w=0.0, offered_w=0.0)
            data.append(
                {
                    "timestamp": iso(session.started_at),
                    "sampledValue": self._samples(
                        begin, ["Energy.Active.Import.Register"], "Transaction.Begin"
                    ),
                }
            )
        values = self._samples(end, measurands, "Transaction.End")
        if values:
            data.append({"timestamp": iso(utcnow()), "sampledValue": values})
        return data

    async def _end_session(self, connector: Connector, session: Session, reason: str) -> None:
        self._retune()
        end = self._reading(connector)
        end.power_w = 0.0
        meter_stop = int(connector.register_wh)
        stopped_at = utcnow()
        connector.phase = FINISHING if connector.unplug else IDLE
        self._retune()
        if session.transaction_id is not None:
            await self._request(
                call.StopTransaction(
                    meter_stop=meter_stop,
                    timestamp=iso(stopped_at),
                    transaction_id=session.transaction_id,
                    reason=reason,
                    # The tag that ended it, when a driver did (absent for resets and such).
                    id_tag=session.id_tag if reason == "Local" else None,
                    transaction_data=self._transaction_data(session, end) or None,
                ),
                queue=True,
            )
        self.profiles.end_transaction(connector.id)
        connector.session = None
        connector.soc, connector.ev_full = None, False
        energy = (meter_stop - session.meter_start) / 1000.0
        minutes = (stopped_at - session.started_at).total_seconds() / 60.0
        self.stats["sessions_stopped"] += 1
        self.stats["energy_wh"] += meter_stop - session.meter_start
        self._note(
            f"#{connector.id} session stopped, transaction {session.transaction_id}, "
            f"{energy:.2f} kWh in {minutes:.1f} min, reason {reason}"
        )
        if connector.pending_operative is not None:
            connector.operative, connector.pending_operative = connector.pending_operative, None
        if connector.phase == FINISHING:
            await self._sync_statuses()
            await self._pause(self.config.unplug_seconds)
        connector.phase = IDLE
        self._retune()
        await self._sync_statuses()

    async def _authorize(self, id_tag: str) -> dict[str, Any] | None:
        """idTagInfo for a tag: local list / cache first when LocalPreAuthorize, else the
        central system; offline, the local list / cache (LocalAuthorizeOffline) or
        AllowOfflineTxForUnknownId."""
        local = self._local_info(id_tag)
        pre_authorized = local is not None and local.get("status") == ACCEPTED
        if pre_authorized and self.keys.get_bool("LocalPreAuthorize"):
            return local
        if self._ready.is_set():
            result = await self._request(call.Authorize(id_tag=id_tag))
            if result is not None:
                self._remember(id_tag, result.id_tag_info)
                return dict(result.id_tag_info)
        if local is not None and self.keys.get_bool("LocalAuthorizeOffline"):
            return local
        if local is None and self.keys.get_bool("AllowOfflineTxForUnknownId"):
            return {"status": ACCEPTED}
        return None

    def _local_info(self, id_tag: str) -> dict[str, Any] | None:
        key = id_tag.upper()
        info = None
        if self.keys.get_bool("LocalAuthListEnabled") and key in self.local_list:
            info = self.local_list[key]
        elif self.keys.get_bool("AuthorizationCacheEnabled") and key in self.auth_cache:
            info = self.auth_cache[key]
        if info is None:
            return None
        info = dict(info)
        expiry = info.get("expiry_date")
        if info.get("status") == ACCEPTED and expiry:
            with contextlib.suppress(ValueError):
                if parse_datetime(expiry) <= utcnow():
                    info["status"] = "Expired"
        return info

    def _remember(self, id_tag: str, info: dict[str, Any]) -> None:
        if self.keys.get_bool("AuthorizationCacheEnabled"):
            self.auth_cache[id_tag.upper()] = dict(info)

    async def _auto_driver(self, connector: Connector) -> None:
        """Drivers come and go on this connector: plug in after a random idle time, present a
        random tag from the config, charge for a random time / energy, leave."""
        delay = self.rng.uniform(*self.config.first_session_seconds)
        tags = self.config.tags_for(connector.id)
        while True:
            await asyncio.sleep(delay)
            delay = self.rng.uniform(*self.config.idle_seconds)
            await self._ready.wait()
            if connector.task is not None:
                await asyncio.gather(connector.task, return_exceptions=True)
                continue
            task = self.present_tag(connector.id, self.rng.choice(tags))
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)

    # --- Reservations, availability, reboot -------------------------------------------------

    def _drop_reservation(self, connector: Connector) -> None:
        reservation = connector.reservation
        connector.reservation = None
        if reservation is not None and reservation.timer is not None:
            reservation.timer.cancel()

    async def _expire_reservation(self, connector: Connector, reservation: Reservation) -> None:
        await asyncio.sleep(max(0.0, (reservation.expiry - utcnow()).total_seconds()))
        if connector.reservation is reservation:
            connector.reservation = None
            self._note(f"#{connector.id} reservation {reservation.id} expired")
            await self._sync_statuses()

    async def _reboot(self, reason: str) -> None:
        if self._rebooting or self._stopping:
            return
        self._rebooting = True
        self._note(f"reboot ({reason})")
        await self._stop_sessions(reason, unplug=False)
        self._drop.set()

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

    # --- Central-system-initiated operations ------------------------------------------------
    # Every handler answers at once; follow-ups run after the answer (see _follow_up).

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        call_unique_id: str | None = None,
        **_: Any,
    ) -> call_result.RemoteStartTransaction:
        profile = None
        if charging_profile is not None:
            try:
                profile = ChargingProfile.from_ocpp(connector_id or 0, charging_profile, utcnow())
            except ValueError as exc:
                self._note(f"RemoteStartTransaction rejected: {exc}")
                return call_result.RemoteStartTransaction(status=REJECTED)
            if profile.purpose != TX_PROFILE:
                self._note("RemoteStartTransaction rejected: its profile is not a TxProfile")
                return call_result.RemoteStartTransaction(status=REJECTED)
        connector = self._connector_for_remote_start(id_tag, connector_id)
        if connector is None:
            self._note(f"RemoteStartTransaction for {id_tag} rejected: no free connector")
            return call_result.RemoteStartTransaction(status=REJECTED)
        if profile is not None:
            profile.connector_id = connector.id
        connector.phase = PREPARING
        connector.task = self._spawn(
            self._session(
                connector,
                id_tag,
                origin="remote",
                gate=self._gate(call_unique_id),
                profile=profile,
            )
        )
        self._note(f"RemoteStartTransaction for {id_tag} accepted on connector {connector.id}")
        return call_result.RemoteStartTransaction(status=ACCEPTED)

    def _connector_for_remote_start(
        self, id_tag: str, connector_id: int | None
    ) -> Connector | None:
        if connector_id is not None:
            connector = self.connectors.get(connector_id)
            return connector if connector and self._can_start(connector, id_tag) else None
        free = [c for c in self.connectors.values() if self._can_start(c, id_tag)]
        reserved = [c for c in free if c.reservation and c.reservation.admits(id_tag)]
        candidates = reserved or [c for c in free if c.reservation is None]
        return candidates[0] if candidates else None

    @after(Action.remote_start_transaction)
    def after_remote_start_transaction(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(
        self, transaction_id: int, call_unique_id: str | None = None, **_: Any
    ) -> call_result.RemoteStopTransaction:
        for connector in self.connectors.values():
            session = connector.session
            if session is not None and session.transaction_id == transaction_id:
                self._follow_up(call_unique_id, self._stop_later(connector, "Remote"))
                self._note(f"RemoteStopTransaction {transaction_id} accepted")
                return call_result.RemoteStopTransaction(status=ACCEPTED)
        self._note(f"RemoteStopTransaction {transaction_id} rejected: no such transaction")
        return call_result.RemoteStopTransaction(status=REJECTED)

    async def _stop_later(self, connector: Connector, reason: str) -> None:
        self._request_stop(connector, reason)

    @after(Action.remote_stop_transaction)
    def after_remote_stop_transaction(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.reset)
    def on_reset(self, call_unique_id: str | None = None, **payload: Any) -> call_result.Reset:
        kind = payload["type"]
        self._note(f"Reset {kind} accepted")
        self._follow_up(call_unique_id, self._reboot(f"{kind}Reset"))
        return call_result.Reset(status=ACCEPTED)

    @after(Action.reset)
    def after_reset(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.unlock_connector)
    def on_unlock_connector(
        self, connector_id: int, call_unique_id: str | None = None, **_: Any
    ) -> call_result.UnlockConnector:
        connector = self.connectors.get(connector_id)
        if connector is None:
            return call_result.UnlockConnector(status="NotSupported")
        if connector.task is not None:
            # The spec: a transaction on the connector is stopped first, then it unlocks.
            self._follow_up(call_unique_id, self._stop_later(connector, "UnlockCommand"))
        self._note(f"UnlockConnector {connector_id}: Unlocked")
        return call_result.UnlockConnector(status="Unlocked")

    @after(Action.unlock_connector)
    def after_unlock_connector(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.change_availability)
    def on_change_availability(
        self, connector_id: int, call_unique_id: str | None = None, **payload: Any
    ) -> call_result.ChangeAvailability:
        operative = payload["type"] == "Operative"
        if connector_id == 0:
            targets = list(self.connectors.values())
            self.operative = operative
        elif connector_id in self.connectors:
            targets = [self.connectors[connector_id]]
        else:
            return call_result.ChangeAvailability(status=REJECTED)
        scheduled = False
        for connector in targets:
            if connector.busy and connector.operative != operative:
                connector.pending_operative = operative
                scheduled = True
            else:
                connector.operative, connector.pending_operative = operative, None
        status = "Scheduled" if scheduled else ACCEPTED
        self._note(f"ChangeAvailability {connector_id} {payload['type']}: {status}")
        self._follow_up(call_unique_id, self._sync_statuses())
        return call_result.ChangeAvailability(status=status)

    @after(Action.change_availability)
    def after_change_availability(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.get_configuration)
    def on_get_configuration(
        self, key: list[str] | None = None, **_: Any
    ) -> call_result.GetConfiguration:
        known, unknown = self.keys.describe(key)
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(
        self, key: str, value: str, **_: Any
    ) -> call_result.ChangeConfiguration:
        status = self.keys.change(key, value)
        self._note(f"ChangeConfiguration {key}={value}: {status}")
        return call_result.ChangeConfiguration(status=status)

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        self.auth_cache.clear()
        self._note("ClearCache: Accepted")
        return call_result.ClearCache(status=ACCEPTED)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="UnknownVendorId")

    # Local authorization list

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.SendLocalList:
        status = self._apply_local_list(list_version, update_type, local_authorization_list or [])
        self._note(f"SendLocalList {update_type} version {list_version}: {status}")
        return call_result.SendLocalList(status=status)

    def _apply_local_list(
        self, version: int, update_type: str, entries: list[dict[str, Any]]
    ) -> str:
        if not self.keys.get_bool("LocalAuthListEnabled"):
            return "NotSupported"
        if len(entries) > self.keys.get_int("SendLocalListMaxLength"):
            return "Failed"
        if update_type == "Differential" and version <= self.local_list_version:
            return "VersionMismatch"
        updated = {} if update_type == "Full" else dict(self.local_list)
        for entry in entries:
            key = str(entry["id_tag"]).upper()
            info = entry.get("id_tag_info")
            if info:
                updated[key] = dict(info)
            else:
                # Differential: an entry without idTagInfo removes the tag.
                updated.pop(key, None)
        if len(updated) > self.keys.get_int("LocalAuthListMaxLength"):
            return "Failed"
        self.local_list, self.local_list_version = updated, version
        return ACCEPTED

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        if not self.keys.get_bool("LocalAuthListEnabled"):
            return call_result.GetLocalListVersion(list_version=-1)
        return call_result.GetLocalListVersion(list_version=self.local_list_version)

    # Reservations

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
        call_unique_id: str | None = None,
        **_: Any,
    ) -> call_result.ReserveNow:
        status = self._reserve(connector_id, expiry_date, id_tag, reservation_id, parent_id_tag)
        self._note(f"ReserveNow {reservation_id} connector {connector_id} for {id_tag}: {status}")
        if status == ACCEPTED:
            self._follow_up(call_unique_id, self._sync_statuses())
        return call_result.ReserveNow(status=status)

    def _reserve(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None,
    ) -> str:
        connector = self.connectors.get(connector_id)
        if connector is None:  # connector 0: ReserveConnectorZeroSupported is false
            return REJECTED
        try:
            expiry = parse_datetime(expiry_date)
        except ValueError:
            return REJECTED
        if expiry <= utcnow() or self._install_pending:
            return REJECTED
        if not connector.operative or not self.operative:
            return "Unavailable"
        held = connector.reservation
        if connector.busy or (held is not None and held.id != reservation_id):
            return "Occupied"
        # A reservation id that already exists is replaced (possibly on another connector).
        for other in self.connectors.values():
            if other.reservation is not None and other.reservation.id == reservation_id:
                self._drop_reservation(other)
        reservation = Reservation(reservation_id, connector_id, id_tag, expiry, parent_id_tag)
        reservation.timer = self._spawn(self._expire_reservation(connector, reservation))
        connector.reservation = reservation
        return ACCEPTED

    @after(Action.reserve_now)
    def after_reserve_now(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(
        self, reservation_id: int, call_unique_id: str | None = None, **_: Any
    ) -> call_result.CancelReservation:
        for connector in self.connectors.values():
            if connector.reservation is not None and connector.reservation.id == reservation_id:
                self._drop_reservation(connector)
                self._note(f"CancelReservation {reservation_id}: Accepted")
                self._follow_up(call_unique_id, self._sync_statuses())
                return call_result.CancelReservation(status=ACCEPTED)
        return call_result.CancelReservation(status=REJECTED)

    @after(Action.cancel_reservation)
    def after_cancel_reservation(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    # Smart charging

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self,
        connector_id: int,
        cs_charging_profiles: dict[str, Any],
        call_unique_id: str | None = None,
        **_: Any,
    ) -> call_result.SetChargingProfile:
        status, detail = self._install_profile(connector_id, cs_charging_profiles)
        self._note(f"SetChargingProfile on connector {connector_id}: {status}{detail}")
        if status == ACCEPTED:
            self._follow_up(call_unique_id, self._profiles_changed())
        return call_result.SetChargingProfile(status=status)

    def _install_profile(self, connector_id: int, data: dict[str, Any]) -> tuple[str, str]:
        if connector_id != 0 and connector_id not in self.connectors:
            return REJECTED, " (unknown connector)"
        try:
            profile = ChargingProfile.from_ocpp(connector_id, data, utcnow())
        except ValueError as exc:
            return REJECTED, f" ({exc})"
        if profile.stack_level > self.keys.get_int("ChargeProfileMaxStackLevel"):
            return REJECTED, " (stack level too high)"
        if len(profile.periods) > self.keys.get_int("ChargingScheduleMaxPeriods"):
            return REJECTED, " (too many periods)"
        if profile.purpose == MAX_PROFILE and connector_id != 0:
            return REJECTED, " (ChargePointMaxProfile belongs on connector 0)"
        if profile.purpose == TX_PROFILE:
            session = self.connectors[connector_id].session if connector_id else None
            if session is None or session.transaction_id is None:
                return REJECTED, " (no transaction on the connector)"
            if profile.transaction_id not in (None, session.transaction_id):
                return REJECTED, " (another transaction)"
            profile.transaction_id = session.transaction_id
        installed = [p for p in self.profiles.profiles if p.id != profile.id]
        if len(installed) >= self.keys.get_int("MaxChargingProfilesInstalled"):
            return REJECTED, " (too many profiles)"
        self._retune()  # energy so far at the old power
        self.profiles.install(profile)
        self._retune()
        return ACCEPTED, ""

    async def _profiles_changed(self) -> None:
        for connector in self.connectors.values():
            connector.wake.set()
        await self._sync_statuses()

    @after(Action.set_charging_profile)
    def after_set_charging_profile(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,  # the OCPP field name
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        call_unique_id: str | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        self._retune()
        removed = self.profiles.clear(
            profile_id=id,
            connector_id=connector_id,
            purpose=charging_profile_purpose,
            stack_level=stack_level,
        )
        self._retune()
        status = ACCEPTED if removed else "Unknown"
        self._note(f"ClearChargingProfile: {status} ({removed} removed)")
        if removed:
            self._follow_up(call_unique_id, self._profiles_changed())
        return call_result.ClearChargingProfile(status=status)

    @after(Action.clear_charging_profile)
    def after_clear_charging_profile(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self,
        connector_id: int,
        duration: int,
        charging_rate_unit: str | None = None,
        **_: Any,
    ) -> call_result.GetCompositeSchedule:
        if connector_id != 0 and connector_id not in self.connectors:
            return call_result.GetCompositeSchedule(status=REJECTED)
        unit = charging_rate_unit or ("W" if self.config.dc else "A")
        start = utcnow().replace(microsecond=0)
        session = self.connectors[connector_id].session if connector_id else None
        hardware = self.max_power_w * (len(self.connectors) if connector_id == 0 else 1)
        periods = self.profiles.composite(
            connector_id,
            start,
            duration,
            unit,
            hardware_watts=hardware,
            transaction_id=session.transaction_id if session else None,
            tx_start=session.started_at if session else None,
        )
        return call_result.GetCompositeSchedule(
            status=ACCEPTED,
            connector_id=connector_id,
            schedule_start=iso(start),
            charging_schedule={
                "duration": duration,
                "start_schedule": iso(start),
                "charging_rate_unit": unit,
                "charging_schedule_period": periods,
            },
        )

    # Remote trigger

    @on(Action.trigger_message)
    def on_trigger_message(
        self,
        requested_message: str,
        connector_id: int | None = None,
        call_unique_id: str | None = None,
        **_: Any,
    ) -> call_result.TriggerMessage:
        if connector_id is not None and connector_id != 0 and connector_id not in self.connectors:
            return call_result.TriggerMessage(status=REJECTED)
        self._note(f"TriggerMessage {requested_message}: Accepted")
        self._follow_up(call_unique_id, self._triggered(requested_message, connector_id))
        return call_result.TriggerMessage(status=ACCEPTED)

    async def _triggered(self, message: str, connector_id: int | None) -> None:
        if message == "BootNotification":
            with contextlib.suppress(NotConnected):
                await self._boot_once()
        elif message == "Heartbeat":
            await self._request(call.Heartbeat())
        elif message == "StatusNotification":
            ids = [connector_id] if connector_id is not None else range(len(self.connectors) + 1)
            for number in ids:
                await self._send_status(number, self.status_of(number))
        elif message == "MeterValues":
            ids = [connector_id] if connector_id is not None else list(self.connectors)
            self._retune()
            for number in ids:
                await self._send_meter_values(number, "Trigger")
        elif message == "FirmwareStatusNotification":
            await self._request(call.FirmwareStatusNotification(status=self.firmware_status))
        elif message == "DiagnosticsStatusNotification":
            await self._request(call.DiagnosticsStatusNotification(status=self.diagnostics_status))

    @after(Action.trigger_message)
    def after_trigger_message(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    # Firmware management

    @on(Action.update_firmware)
    def on_update_firmware(
        self,
        location: str,
        retrieve_date: str,
        call_unique_id: str | None = None,
        **_: Any,
    ) -> call_result.UpdateFirmware:
        self._note(f"UpdateFirmware from {location} at {retrieve_date}")
        if self._firmware_task is not None and not self._firmware_task.done():
            self._firmware_task.cancel()  # the newer request replaces the older one
        gate = self._gate(call_unique_id)
        self._firmware_task = self._spawn(self._update_firmware(gate, location, retrieve_date))
        return call_result.UpdateFirmware()

    async def _firmware_step(self, status: str) -> None:
        self.firmware_status = status
        self._note(f"firmware {status}")
        # Kept until delivered (e.g. across the reboot of a Reset that came meanwhile).
        await self._request(call.FirmwareStatusNotification(status=status), queue=True)

    async def _update_firmware(self, gate: asyncio.Event, location: str, retrieve: str) -> None:
        await self._await_gate(gate)
        try:
            when = parse_datetime(retrieve)
        except ValueError:
            when = utcnow()
        await asyncio.sleep(max(0.0, (when - utcnow()).total_seconds()))
        step = self.config.firmware_step_seconds
        await self._firmware_step("Downloading")
        await asyncio.sleep(step)
        if urlsplit(location).scheme.lower() not in {"http", "https", "ftp", "ftps", "sftp"}:
            await self._firmware_step("DownloadFailed")
            self.firmware_status = "Idle"
            return
        # Install only once no session runs; from now on no new session starts.
        self._install_pending = True
        try:
            await self._firmware_step("Downloaded")
            while running := [c.task for c in self.connectors.values() if c.task is not None]:
                await asyncio.gather(*running, return_exceptions=True)
            await self._firmware_step("Installing")
            await asyncio.sleep(step)
            name = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
            self.firmware_version = (name.rsplit(".", 1)[0] if "." in name else name)[:50] or (
                f"{self.firmware_version}+1"
            )
            await self._firmware_step("Installed")
            self.firmware_status = "Idle"
        finally:
            self._install_pending = False
        await self._reboot("Reboot")

    @after(Action.update_firmware)
    def after_update_firmware(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.get_diagnostics)
    def on_get_diagnostics(
        self,
        location: str,
        retries: int | None = None,
        retry_interval: int | None = None,
        start_time: str | None = None,
        stop_time: str | None = None,
        call_unique_id: str | None = None,
        **_: Any,
    ) -> call_result.GetDiagnostics:
        file_name = f"{self.identity}-diagnostics-{utcnow():%Y%m%dT%H%M%SZ}.log"
        self._note(f"GetDiagnostics to {location}: {file_name}")
        content = self._diagnostics_report(start_time, stop_time)
        self._follow_up(
            call_unique_id,
            self._upload_diagnostics(location, file_name, content, retries, retry_interval),
        )
        return call_result.GetDiagnostics(file_name=file_name)

    @after(Action.get_diagnostics)
    def after_get_diagnostics(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    async def _upload_diagnostics(
        self,
        location: str,
        file_name: str,
        content: bytes,
        retries: int | None,
        retry_interval: int | None,
    ) -> None:
        self.diagnostics_status = "Uploading"
        await self._request(call.DiagnosticsStatusNotification(status="Uploading"), queue=True)
        attempts = 1 + max(0, retries or 0)
        status = "UploadFailed"
        for attempt in range(attempts):
            try:
                code = await upload_file(
                    location,
                    file_name,
                    content,
                    method=self.config.upload_method,
                    timeout=self.config.upload_timeout,
                )
            except UploadError as exc:
                self._note(f"diagnostics upload failed: {exc}")
                if attempt + 1 < attempts:
                    await asyncio.sleep(retry_interval or 0)
                continue
            self._note(f"diagnostics uploaded (HTTP {code})")
            status = "Uploaded"
            break
        self.diagnostics_status = "Idle"
        await self._request(call.DiagnosticsStatusNotification(status=status), queue=True)

    def _diagnostics_report(self, start_time: str | None, stop_time: str | None) -> bytes:
        def bound(value: str | None) -> datetime | None:
            try:
                return parse_datetime(value) if value else None
            except ValueError:
                return None

        since, until = bound(start_time), bound(stop_time)
        lines = [
            f"station {self.identity}",
            f"vendor {self.config.vendor} model {self.config.model}",
            f"firmware {self.firmware_version}",
            f"generated {iso(utcnow())}",
            "",
            "[connectors]",
        ]
        for number in range(len(self.connectors) + 1):
            lines.append(f"{number} {self.status_of(number)}")
        lines += ["", "[configuration]"]
        lines += [f"{entry['key']}={entry['value']}" for entry in self.keys.describe(None)[0]]
        lines += ["", "[events]"]
        for moment, event in self.events:
            if (since is None or moment >= since) and (until is None or moment <= until):
                lines.append(f"{iso(moment)} {event}")
        return ("\n".join(lines) + "\n").encode()
