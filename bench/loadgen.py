"""Closed-loop OCPP 1.6J load generator (one process, one asyncio task per station).

Each station keeps exactly one CALL outstanding: BootNotification, StatusNotification,
Authorize, StartTransaction, then MeterValues (3 sampled values each) until the deadline, then
StopTransaction (with one Transaction.End sample in transactionData). Latency is measured
with a monotonic clock from just before ``send`` to the matching CALLRESULT.

Deliberately lean: raw ``websockets`` (no permessage-deflate, no client keepalive pings),
frames written by hand as f-strings, answers parsed with ``json.loads``. The ``ocpp``
package's client would add its own schema validation, dataclass conversion and an
``asyncio.wait_for`` per call on the client side; on a 2-core machine the load generator
competes with the server for CPU, so every microsecond spent here is stolen from the server.

Writes one JSON document (the result) to ``--out`` and prints ``measure-start`` /
``measure-end`` on stdout around the measured window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from websockets.asyncio.client import connect

CALL_TIMEOUT = 30.0  # one call; far above any sane latency, it only bounds a hung server
ACTIONS = (
    "BootNotification",
    "StatusNotification",
    "Authorize",
    "StartTransaction",
    "MeterValues",
    "StopTransaction",
)


class CallFailed(Exception):
    pass


@dataclass
class Totals:
    """What the server acknowledged: the benchmark checks the database against this."""

    sent: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))
    acked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))
    meter_samples: int = 0  # sampled values in acknowledged MeterValues
    stop_samples: int = 0  # sampled values in acknowledged StopTransaction.transactionData
    errors: list[str] = field(default_factory=list)
    id_tag_status: dict[str, int] = field(default_factory=dict)
    latencies: dict[str, list[int]] = field(default_factory=lambda: {a: [] for a in ACTIONS})
    # (due or sent at, latency) of every measured MeterValues, for the steady-state figures.
    meter_calls: list[tuple[int, int]] = field(default_factory=list)
    # (answered at, action, latency) of every measured call, for --dump-latencies only.
    trace: list[tuple[int, str, int]] | None = None


def stamp(base: datetime, seconds: int) -> str:
    return (base + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Station:
    def __init__(self, ws: Any, identity: str, id_tag: str, totals: Totals, measure: bool):
        self.ws = ws
        self.identity = identity
        self.id_tag = id_tag
        self.totals = totals
        self.measure = measure
        self.seq = 0

    async def call(self, action: str, payload: str, scheduled_ns: int = 0) -> Any:
        """One CALL; latency from ``scheduled_ns`` when given (open loop: the time the call
        was due, so a late send counts against the server, no coordinated omission)."""
        self.seq += 1
        message_id = str(self.seq)
        frame = f'[2,"{message_id}","{action}",{payload}]'
        totals = self.totals
        totals.sent[action] += 1
        started = scheduled_ns or time.perf_counter_ns()
        await self.ws.send(frame)
        answer = await asyncio.wait_for(self.ws.recv(), CALL_TIMEOUT)
        elapsed = time.perf_counter_ns() - started
        reply = json.loads(answer)
        if reply[0] != 3 or reply[1] != message_id:
            raise CallFailed(f"{self.identity} {action}: {answer[:300]}")
        totals.acked[action] += 1
        if self.measure:
            totals.latencies[action].append(elapsed)
            if action == "MeterValues":
                totals.meter_calls.append((started, elapsed))
            if totals.trace is not None:
                totals.trace.append((started + elapsed, action, elapsed))
        return reply[2]

    async def run(
        self,
        start_gate: asyncio.Event,
        deadline_at: list[float],
        base: datetime,
        interval: float = 0.0,
        phase: float = 0.0,
    ) -> None:
        """The session. ``interval`` > 0: open loop, one MeterValues due every ``interval``
        seconds (this station's start shifted by ``phase`` to spread the stations)."""
        totals = self.totals
        await start_gate.wait()
        if phase:
            await asyncio.sleep(phase)
        boot = await self.call(
            "BootNotification",
            '{"chargePointVendor":"Bench","chargePointModel":"ClosedLoop","firmwareVersion":"1.0"}',
        )
        if boot.get("status") != "Accepted":
            raise CallFailed(f"{self.identity} BootNotification not accepted: {boot}")
        await self.call(
            "StatusNotification",
            '{"connectorId":1,"errorCode":"NoError","status":"Available",'
            f'"timestamp":"{stamp(base, 0)}"}}',
        )
        await self.call("Authorize", f'{{"idTag":"{self.id_tag}"}}')
        start = await self.call(
            "StartTransaction",
            f'{{"connectorId":1,"idTag":"{self.id_tag}","meterStart":0,'
            f'"timestamp":"{stamp(base, 1)}"}}',
        )
        status = start["idTagInfo"]["status"]
        totals.id_tag_status[status] = totals.id_tag_status.get(status, 0) + 1
        tx = start["transactionId"]
        energy = 0
        second = 1
        # Every MeterValues gets its own timestamp: the server ignores a repeated sample
        # (same station, connector, time, measurand) as a retry, which would break the count.
        due = time.perf_counter()
        while time.monotonic() < deadline_at[0]:
            second += 1
            energy += 2
            scheduled_ns = 0
            if interval:
                due += interval
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                scheduled_ns = int(due * 1e9)
            await self.call(
                "MeterValues",
                f'{{"connectorId":1,"transactionId":{tx},"meterValue":[{{'
                f'"timestamp":"{stamp(base, second)}","sampledValue":['
                f'{{"value":"{energy}","context":"Sample.Periodic",'
                '"measurand":"Energy.Active.Import.Register","unit":"Wh"},'
                '{"value":"7360.0","context":"Sample.Periodic",'
                '"measurand":"Power.Active.Import","unit":"W"},'
                '{"value":"32.0","context":"Sample.Periodic",'
                '"measurand":"Current.Import","phase":"L1","unit":"A"}]}]}',
                scheduled_ns,
            )
            totals.meter_samples += 3
        second += 1
        await self.call(
            "StopTransaction",
            f'{{"transactionId":{tx},"idTag":"{self.id_tag}","meterStop":{energy},'
            f'"timestamp":"{stamp(base, second)}","reason":"Local","transactionData":[{{'
            f'"timestamp":"{stamp(base, second)}","sampledValue":[{{"value":"{energy}",'
            '"context":"Transaction.End","measurand":"Energy.Active.Import.Register",'
            '"unit":"Wh"}]}]}',
        )
        totals.stop_samples += 1


def write_trace(path: str, trace: list[tuple[int, str, int]], origin_ns: int) -> None:
    """Run after the measurement: blocking writes no longer matter."""
    with open(path, "w") as f:
        f.write("seconds,action,ms\n")
        for at, action, ns in sorted(trace):
            f.write(f"{(at - origin_ns) / 1e9:.4f},{action},{ns / 1e6:.3f}\n")


def summarize(values_ns: list[int]) -> dict[str, float]:
    if not values_ns:
        return {"count": 0}
    ordered = sorted(values_ns)

    def pct(p: float) -> float:
        # Nearest-rank percentile: the value below which p% of the calls completed.
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        return ordered[rank - 1] / 1e6

    return {
        "count": len(ordered),
        "mean_ms": sum(ordered) / len(ordered) / 1e6,
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "max_ms": ordered[-1] / 1e6,
    }


async def open_station(url: str, identity: str) -> Any:
    return await connect(
        f"{url}/{identity}",
        subprotocols=["ocpp1.6"],
        compression=None,
        ping_interval=None,
        open_timeout=30,
        close_timeout=2,
        max_queue=4,
    )


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    totals = Totals()
    if args.dump_latencies:
        totals.trace = []
    base = datetime.now(UTC).replace(microsecond=0)
    connections: list[Any] = []
    try:
        # Warm-up: one station runs a whole session first (lazy imports, first queries, JIT
        # of the schema validators) so the measured window is the steady state. It is not in
        # the latency figures but its messages are acknowledged, so they are counted.
        warm_ws = await open_station(args.url, f"{args.prefix}-WARMUP")
        connections.append(warm_ws)
        warm = Station(warm_ws, f"{args.prefix}-WARMUP", f"{args.tag_prefix}W", totals, False)
        gate = asyncio.Event()
        gate.set()
        await asyncio.wait_for(warm.run(gate, [time.monotonic() + 0.2], base), 60)

        semaphore = asyncio.Semaphore(50)

        async def opened(i: int) -> Any:
            async with semaphore:
                return await open_station(args.url, f"{args.prefix}-{i:05d}")

        sockets = await asyncio.wait_for(
            asyncio.gather(*(opened(i) for i in range(args.stations))), 120
        )
        connections.extend(sockets)
        stations = [
            Station(ws, f"{args.prefix}-{i:05d}", f"{args.tag_prefix}{i:05d}", totals, True)
            for i, ws in enumerate(sockets)
        ]
        start_gate = asyncio.Event()
        deadline_at = [0.0]
        interval = args.stations / args.rate if args.rate else 0.0
        tasks = [
            asyncio.create_task(
                s.run(start_gate, deadline_at, base, interval, interval * i / len(stations))
            )
            for i, s in enumerate(stations)
        ]
        # Markers for the orchestrator, which samples CPU counters over exactly this window.
        print("measure-start", flush=True)
        started = time.monotonic()
        started_ns = time.perf_counter_ns()
        deadline_at[0] = started + args.duration
        start_gate.set()
        done, pending = await asyncio.wait(tasks, timeout=args.duration + 2 * CALL_TIMEOUT + 10)
        finished = time.monotonic()
        print("measure-end", flush=True)
        for task in pending:
            task.cancel()
            totals.errors.append("station task did not finish before the hard deadline")
        for task in done:
            exc = task.exception()
            if exc is not None:
                totals.errors.append(f"{type(exc).__name__}: {exc}"[:500])
    finally:
        await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)

    elapsed = finished - started
    if totals.trace is not None:
        write_trace(args.dump_latencies, totals.trace, started_ns)
    measured = [v for action in ACTIONS for v in totals.latencies[action]]
    # Steady state: MeterValues due (or sent) from 1 s after the start to 1 s before the
    # deadline, away from the opening burst of Boot/Start and the closing burst of Stops.
    steady_from = started_ns + 1_000_000_000
    steady_to = started_ns + int((args.duration - 1) * 1e9)
    steady = [e for at, e in totals.meter_calls if steady_from <= at <= steady_to]
    calls = len(measured)
    return {
        "url": args.url,
        "stations": args.stations,
        "duration_s": args.duration,
        "rate": args.rate,
        "elapsed_s": elapsed,
        "calls": calls,
        "calls_per_s": calls / elapsed if elapsed > 0 else 0.0,
        "latency": summarize(measured),
        "per_action": {a: summarize(totals.latencies[a]) for a in ACTIONS},
        "meter_values_steady": summarize(steady),
        "sent": totals.sent,
        "acked": totals.acked,
        "meter_samples": totals.meter_samples,
        "stop_samples": totals.stop_samples,
        "id_tag_status": totals.id_tag_status,
        "errors": totals.errors[:20],
        "error_count": len(totals.errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/ocpp")
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="open loop: MeterValues per second over all stations (0: closed loop)",
    )
    parser.add_argument("--prefix", default="BENCH")
    parser.add_argument("--tag-prefix", default="BT")
    parser.add_argument("--out", required=True, help="write the JSON result here")
    parser.add_argument(
        "--dump-latencies", help="also write every call as CSV: seconds_into_run,action,ms"
    )
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = asyncio.run(main_async(args))
    with open(args.out, "w") as f:
        f.write(json.dumps(result, indent=1))
    sys.exit(1 if result["error_count"] else 0)


if __name__ == "__main__":
    main()
