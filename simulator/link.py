"""One connection at a time to the central system: WebSocket with subprotocol ocpp1.6 and
Basic auth, boot until Accepted, heartbeats, connector status, and sending CALLs
(transaction messages are held back until the connection is back)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from simulator.core import StationCore
from simulator.state import (
    ACCEPTED,
    CHARGING,
    FINISHING,
    PREPARING,
    SUBPROTOCOL,
    NotConnected,
    iso,
    logger,
    utcnow,
)


class Link(StationCore):
    """The connection to the central system: open, serve and close it, CALLs and their
    answers, boot, heartbeats and StatusNotification."""

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
