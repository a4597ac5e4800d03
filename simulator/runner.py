"""Run a fleet of simulated stations until told to stop (or for a fixed duration)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter
from dataclasses import dataclass, replace

from simulator.config import FleetConfig
from simulator.station import SimulatedStation

logger = logging.getLogger("simulator")


@dataclass(slots=True)
class FleetSummary:
    stations: int
    seconds: float
    stats: Counter[str]

    def __str__(self) -> str:
        s = self.stats
        return (
            f"{self.stations} station(s) for {self.seconds:.0f} s: {s['boots']} boot(s), "
            f"{s['sessions_started']} session(s) started, {s['sessions_stopped']} stopped, "
            f"{s['energy_wh'] / 1000:.2f} kWh, {s['meter_values']} MeterValues, "
            f"{s['calls']} calls answered, {s['call_errors']} refused"
        )


def build_stations(fleet: FleetConfig) -> list[SimulatedStation]:
    template = fleet.station
    return [
        SimulatedStation(
            replace(
                template,
                identity=identity,
                seed=None if template.seed is None else template.seed + index,
            )
        )
        for index, identity in enumerate(fleet.identities)
    ]


async def run_fleet(
    fleet: FleetConfig,
    *,
    stop: asyncio.Event | None = None,
    stations: list[SimulatedStation] | None = None,
) -> FleetSummary:
    """Start the stations (connects spread over ``fleet.ramp`` seconds), run until ``stop``
    is set or ``fleet.duration`` has passed, then switch every station off cleanly: running
    sessions end with StopTransaction reason PowerLoss, within ``fleet.shutdown_timeout``."""
    stop = stop or asyncio.Event()
    stations = stations if stations is not None else build_stations(fleet)
    began = time.monotonic()

    async def operate(station: SimulatedStation, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if not stop.is_set():
            await station.run()

    spread = fleet.ramp / len(stations)
    tasks = [
        asyncio.ensure_future(operate(station, index * spread))
        for index, station in enumerate(stations)
    ]
    logger.info("simulating %d station(s) against %s", len(stations), fleet.station.url)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), fleet.duration)
        stop.set()
        logger.info("switching %d station(s) off", len(stations))
        await asyncio.gather(
            *(station.stop(timeout=fleet.shutdown_timeout) for station in stations),
            return_exceptions=True,
        )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    total: Counter[str] = Counter()
    for station in stations:
        total.update(station.stats)
    return FleetSummary(len(stations), time.monotonic() - began, total)


async def run_until_signalled(fleet: FleetConfig) -> FleetSummary:
    """run_fleet with Ctrl-C / SIGTERM handling: the first signal switches the stations off
    cleanly (sessions are stopped and reported), a second one aborts at once."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main = asyncio.ensure_future(run_fleet(fleet, stop=stop))

    def on_signal() -> None:
        if stop.is_set():
            logger.warning("aborting without reporting open sessions")
            main.cancel()
        else:
            logger.info("stopping: ending sessions (Ctrl-C again to abort)")
            stop.set()

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal)
            installed.append(signum)
    try:
        return await main
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
