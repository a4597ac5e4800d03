"""Remote command round trip: API call -> station -> answer stored -> API response.

Starts one daphne (or two with --two-processes: stations on A, API calls on B, so every
command crosses processes through Redis) against PostgreSQL and Redis, connects N simulated
stations (default 100) that answer every call at once, then times POST
/api/v1/charge-points/<id>/commands/ from the client's side: request written -> response read.
Every answer must come back 200/answered and be stored, or the run fails.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/command_rtt.py \\
        [--stations 100] [--commands 1000] [--concurrency 1] [--two-processes] [--json out.json]

bench/run.py runs it with ``--json <file> --port-base <port>``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# What the simulated stations answer: schema-valid, so every command ends "answered".
ANSWERS: dict[str, dict[str, Any]] = {
    "GetConfiguration": {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
    },
    "ChangeConfiguration": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"},
}
# The commands sent, in turn: reads and writes of configuration (their answers update the
# station's row), and two plain ones.
COMMANDS: list[dict[str, Any]] = [
    {"action": "GetConfiguration", "payload": {"key": ["HeartbeatInterval"]}},
    {
        "action": "ChangeConfiguration",
        "payload": {"key": "MeterValueSampleInterval", "value": "60"},
    },
    {"action": "ClearCache", "payload": {}},
    {"action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}},
]


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DEBUG", "0")
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(40))
    env.setdefault("LOG_LEVEL", "WARNING")
    env["PYTHONUNBUFFERED"] = "1"
    env["DJANGO_SETTINGS_MODULE"] = "csms.settings"
    return env


def prepare(stations: int) -> str:
    """Migrate, register the stations and an operator; return the operator's API token."""
    os.environ.update({k: v for k, v in server_env().items() if k not in os.environ})
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from csms.models import ChargePoint, Command
    from csms.permissions import OPERATORS

    call_command("migrate", verbosity=0, interactive=False)
    identities = [f"RTT{i:04d}" for i in range(1, stations + 1)]
    existing = set(
        ChargePoint.objects.filter(identity__in=identities).values_list("identity", flat=True)
    )
    ChargePoint.objects.bulk_create(
        [ChargePoint(identity=i) for i in identities if i not in existing]
    )
    Command.objects.filter(charge_point__identity__in=identities).delete()
    user, _ = get_user_model().objects.get_or_create(
        username="bench-rtt", defaults={"is_staff": True}
    )
    user.groups.add(Group.objects.get_or_create(name=OPERATORS)[0])
    return Token.objects.get_or_create(user=user)[0].key


def start_daphne(port: int, log: Path, profile: Path | None = None) -> subprocess.Popen[bytes]:
    server = [sys.executable, "-m", "daphne"]
    if profile is not None:  # every thread under cProfile, stats written at SIGTERM
        server = [sys.executable, str(ROOT / "bench" / "profiled_daphne.py"), str(profile)]
    cmd = [
        *server, "-b", "127.0.0.1", "-p", str(port),
        "--websocket_timeout", "-1", "csms.asgi:application",
    ]  # fmt: skip
    process = subprocess.Popen(
        cmd, cwd=ROOT, env=server_env(), stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"daphne exited {process.returncode}; see {log}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/api/schema/")
            conn.getresponse().read()
            conn.close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"daphne did not start on port {port}")


async def station(port: int, identity: str, ready: asyncio.Event, stop: asyncio.Event) -> None:
    """Connect, boot, then answer every call at once."""
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    async with connect(
        f"ws://127.0.0.1:{port}/ocpp/{identity}",
        subprotocols=[Subprotocol("ocpp1.6")],
        compression=None,
        open_timeout=30,
    ) as ws:
        await ws.send(json.dumps([2, "boot", "BootNotification", {
            "chargePointVendor": "Bench", "chargePointModel": "RTT"}]))  # fmt: skip
        answer = json.loads(await ws.recv())
        assert answer[0] == 3 and answer[2]["status"] == "Accepted", answer
        ready.set()
        receiving = asyncio.ensure_future(ws.recv())
        stopping = asyncio.ensure_future(stop.wait())
        while True:
            done, _ = await asyncio.wait({receiving, stopping}, return_when="FIRST_COMPLETED")
            if stopping in done:
                receiving.cancel()
                return
            frame = json.loads(receiving.result())
            if frame[0] == 2:
                await ws.send(json.dumps([3, frame[1], ANSWERS.get(frame[2], {})]))
            receiving = asyncio.ensure_future(ws.recv())


def issue(
    conn: http.client.HTTPConnection, token: str, identity: str, body: bytes
) -> tuple[float, int, dict[str, Any]]:
    started = time.perf_counter()
    conn.request(
        "POST",
        f"/api/v1/charge-points/{identity}/commands/",
        body=body,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - started
    return elapsed, response.status, json.loads(data)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    token = await asyncio.to_thread(prepare, args.stations)
    logdir = Path(tempfile.mkdtemp(prefix="command-rtt-"))
    station_port = args.port_base
    api_port = args.port_base + 1 if args.two_processes else station_port
    processes = [start_daphne(station_port, logdir / "daphne-a.log", args.profile)]
    if args.two_processes:
        processes.append(start_daphne(api_port, logdir / "daphne-b.log"))
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        identities = [f"RTT{i:04d}" for i in range(1, args.stations + 1)]
        readies = []
        for identity in identities:
            ready = asyncio.Event()
            readies.append(ready)
            tasks.append(asyncio.ensure_future(station(station_port, identity, ready, stop)))
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=60)

        bodies = [json.dumps(c).encode() for c in COMMANDS]
        samples: list[float] = []
        failures: list[str] = []
        counter = iter(range(args.warmup + args.commands))

        def worker() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=60)
            for n in counter:
                identity = identities[n % len(identities)]
                elapsed, status, body = issue(conn, token, identity, bodies[n % len(bodies)])
                if status != 200 or body.get("state") != "answered":
                    failures.append(f"{identity}: {status} {body}")
                elif n >= args.warmup:
                    samples.append(elapsed)
            conn.close()

        started = time.perf_counter()
        await asyncio.gather(*(asyncio.to_thread(worker) for _ in range(args.concurrency)))
        wall = time.perf_counter() - started
        if failures:
            raise SystemExit(f"{len(failures)} commands failed, e.g. {failures[:3]}")

        def stored() -> int:
            from csms.models import Command

            return Command.objects.filter(
                charge_point__identity__in=identities, state=Command.State.ANSWERED
            ).count()

        answered = await asyncio.to_thread(stored)
        if answered != args.warmup + args.commands:
            raise SystemExit(
                f"{answered} answered commands stored, expected {args.warmup + args.commands}"
            )
        ms = [s * 1000 for s in samples]
        return {
            "stations": args.stations,
            "commands": len(ms),
            "concurrency": args.concurrency,
            "two_processes": args.two_processes,
            "p50_ms": percentile(ms, 50),
            "p90_ms": percentile(ms, 90),
            "p99_ms": percentile(ms, 99),
            "max_ms": max(ms),
            "mean_ms": statistics.fmean(ms),
            "commands_per_s": (args.warmup + args.commands) / wall,
            "stored_answered": answered,
            "logs": str(logdir),
        }
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--commands", type=int, default=1000, help="measured commands")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=1, help="API calls in flight")
    parser.add_argument("--two-processes", action="store_true", help="stations on A, API on B")
    parser.add_argument("--port-base", type=int, default=18350)
    parser.add_argument("--json", type=Path, help="write the result here")
    parser.add_argument(
        "--profile", type=Path, help="profile the (station's) server: stats to PROFILE.*.pstats"
    )
    args = parser.parse_args()
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        raise SystemExit("set DATABASE_URL (PostgreSQL) and REDIS_URL")
    result = asyncio.run(run(args))
    print(
        f"command round trip, {result['stations']} stations, {result['commands']} commands, "
        f"concurrency {result['concurrency']}"
        f"{', two processes' if result['two_processes'] else ''}: "
        f"p50 {result['p50_ms']:.1f} ms, p90 {result['p90_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms, "
        f"{result['commands_per_s']:.0f} commands/s"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
