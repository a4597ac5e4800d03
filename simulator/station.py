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

from simulator.operations.configuration import ConfigurationOperations
from simulator.operations.firmware_diagnostics import FirmwareDiagnosticsOperations
from simulator.operations.remote_control import RemoteControlOperations
from simulator.operations.reservations import ReservationOperations
from simulator.operations.smart_charging import SmartChargingOperations
from simulator.operations.trigger import TriggerOperations
from simulator.state import logger


class SimulatedStation(
    RemoteControlOperations,
    ConfigurationOperations,
    ReservationOperations,
    SmartChargingOperations,
    TriggerOperations,
    FirmwareDiagnosticsOperations,
):
    """One simulated charge point. ``await station.run()`` operates it until ``await
    station.stop()``; ``present_tag()`` / ``stop_session()`` act as its drivers."""

    # --- Lifecycle ----------------------------------------------------------------------

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
