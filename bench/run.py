"""The benchmark: one command, everything on loopback, a table at the end.

    make bench                      # or: .venv/bin/python bench/run.py [--quick] [--profile]

1. Closed loop against our server (daphne + PostgreSQL + Redis, production settings): N
   stations (default 50), one call outstanding each, Boot, Status, Authorize, Start, then
   MeterValues until the deadline, then Stop. Afterwards the database must hold every
   acknowledged message (checked; a mismatch fails the run).
2. The same load against bench/reference_server.py (``ocpp`` + ``websockets``, no database):
   the ceiling for Python; we print ours / reference.
3. Open loop: the same sessions, but MeterValues due at a fixed total rate (default 200/s),
   latency counted from when each was due. Ours and the reference; checked the same way.
4. Idle capacity: booted-then-idle stations held by one daphne process, RSS measured at
   several levels, KiB per connection = slope of RSS over connections.
5. Remote command round trip, by bench/command_rtt.py when it exists.
6. With --profile: one more closed-loop run with daphne under cProfile (all threads), top
   functions written next to the results.

Results: bench/results/<timestamp>/ (result.json, table.md, per-call latencies as CSV, server
logs, profiles) and bench/results/latest.md. The load generator, the reference server and the
idle clients are separate processes; the server under test is one daphne process. Every
process started here is stopped on the way out, also on errors and Ctrl-C. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import pstats
import re
import resource
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
LOOPBACK = "127.0.0.1"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
IDLE_PER_WORKER = 2500  # idle connections per client process
COMMAND_RTT_SCRIPT = BENCH / "command_rtt.py"
COMMAND_RTT_TIMEOUT = 180


class BenchFailed(Exception):
    """A check failed: the run's figures must not be trusted."""


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# --- Processes ----------------------------------------------------------------------------


class Children:
    """Every process the benchmark starts, each in its own session (so a Ctrl-C on the
    terminal reaches only us, and we stop them in order); all stopped on the way out."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[Any]] = []
        self.logs: list[IO[Any]] = []

    def start(
        self,
        cmd: list[str],
        *,
        env: dict[str, str],
        log: Path,
        pipe_stdio: bool = False,
    ) -> subprocess.Popen[Any]:
        out = open(log, "w")  # closed in stop_all
        self.logs.append(out)
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE if pipe_stdio else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe_stdio else out,
            stderr=out,
            text=True,
            start_new_session=True,
        )
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[Any], timeout: float = 15.0) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # Anything it started itself (its own servers) is in its process group: the session
        # we created for it, so it holds only processes of this benchmark.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            time.sleep(0.5)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the group is empty
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.running)):
            try:
                self.stop(proc, timeout=5.0)
            except Exception as exc:
                print(f"could not stop pid {proc.pid}: {exc}", file=sys.stderr)
        for log in self.logs:
            log.close()


def free_port(base: int) -> int:
    for port in range(base, base + 100):
        with socket.socket() as s:
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise BenchFailed(f"no free port in {base}-{base + 99}")


def wait_listening(port: int, proc: subprocess.Popen[Any], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchFailed(f"server exited with {proc.returncode}; see {log}")
        with socket.socket() as s:
            if s.connect_ex((LOOPBACK, port)) == 0:
                return
        time.sleep(0.1)
    raise BenchFailed(f"server not listening on {port} after {timeout} s; see {log}")


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchFailed(f"no VmRSS for pid {pid}")


def system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / CLOCK_TICKS, sum(values) / CLOCK_TICKS


def _stat_cpu(path: str) -> float:
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def cpu_sample(server_pid: int) -> dict[str, Any]:
    """CPU seconds so far: each thread of the server, the other processes on the machine that
    matter (PostgreSQL backends, Redis, the load generator), and the machine as a whole."""
    threads: dict[int, float] = {}
    for task in Path(f"/proc/{server_pid}/task").iterdir():
        try:
            threads[int(task.name)] = _stat_cpu(f"{task}/stat")
        except (OSError, ValueError):
            pass  # thread ended
    # Per process, so that a process which ended between two samples cannot make a
    # difference negative (its last interval is lost instead: these figures are a floor).
    by_name: dict[str, dict[int, float]] = {"postgres": {}, "redis-server": {}, "loadgen": {}}
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            comm = (proc_dir / "comm").read_text().strip()
            if comm in ("postgres", "redis-server"):
                by_name[comm][int(proc_dir.name)] = _stat_cpu(f"{proc_dir}/stat")
            elif comm.startswith("python") and b"loadgen.py" in (proc_dir / "cmdline").read_bytes():
                by_name["loadgen"][int(proc_dir.name)] = _stat_cpu(f"{proc_dir}/stat")
        except (OSError, ValueError):
            pass  # process ended
    busy, total = system_cpu()
    return {"pid": server_pid, "threads": threads, "by_name": by_name, "busy": busy, "total": total}


def cpu_report(before: dict[str, Any], after: dict[str, Any], wall: float) -> dict[str, Any]:
    """Percent of one core over ``wall`` seconds."""

    def pct(seconds: float) -> float:
        return round(100 * seconds / wall, 1) if wall else 0.0

    threads = {
        tid: after["threads"][tid] - before["threads"].get(tid, 0.0) for tid in after["threads"]
    }
    main_tid = before["pid"]  # the main thread's id is the process id
    others = sorted((v for tid, v in threads.items() if tid != main_tid), reverse=True)

    def used(name: str) -> float:
        then = before["by_name"][name]
        return sum(cpu - then.get(pid, 0.0) for pid, cpu in after["by_name"][name].items())

    return {
        "server_pct": pct(sum(threads.values())),
        # Under Channels the ORM runs in one dedicated thread: the busiest non-main thread.
        "server_event_loop_thread_pct": pct(threads.get(main_tid, 0.0)),
        "server_db_thread_pct": pct(others[0]) if others else 0.0,
        "postgres_pct": pct(used("postgres")),
        "redis_pct": pct(used("redis-server")),
        "loadgen_pct": pct(used("loadgen")),
        "machine_busy_pct": pct(after["busy"] - before["busy"]),
        "machine_cores": round((after["total"] - before["total"]) / wall) if wall else 0,
        "window_s": round(wall, 2),
    }


# --- Environment and database ------------------------------------------------------------


def check_loopback(url: str, what: str) -> None:
    host = urlparse(url).hostname or ""
    if host not in LOCAL_HOSTS:
        raise BenchFailed(f"{what} must be on this machine (loopback), got host {host!r}")


def server_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            # Production settings: DEBUG off (with it, Django wraps every cursor to record
            # each SQL statement, a cost no deployment pays).
            "DEBUG": "0",
            "SECRET_KEY": args.secret_key,
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "LOG_LEVEL": "WARNING",
            "OCPP_ALLOW_UNKNOWN_CHARGE_POINTS": "true",
            "OCPP_MESSAGE_LOG_ENABLED": "false" if args.no_message_log else "true",
            "DJANGO_SETTINGS_MODULE": "csms.settings",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


def ensure_database(database_url: str) -> None:
    """Create the benchmark database if it does not exist (connects to 'postgres')."""
    import psycopg

    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise BenchFailed(f"unexpected database name {name!r}")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(env: dict[str, str]) -> None:
    for key in (
        "DEBUG",
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "LOG_LEVEL",
        "DJANGO_SETTINGS_MODULE",
        "OCPP_ALLOW_UNKNOWN_CHARGE_POINTS",
    ):
        os.environ[key] = env[key]
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def reset_state(args: argparse.Namespace, id_tags: list[str]) -> None:
    """Migrate, empty every table of our apps, flush our Redis db, register the id tags."""
    import redis
    from django.core.management import call_command
    from django.db import connection

    from csms.models import IdTag

    call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND ("
            "tablename LIKE 'csms\\_%' OR tablename LIKE 'billing\\_%' "
            "OR tablename LIKE 'wallet\\_%')"
        )
        tables = [row[0] for row in cursor.fetchall()]
        if tables:
            quoted = ", ".join(f'"{t}"' for t in tables)
            cursor.execute(f"TRUNCATE TABLE {quoted} RESTART IDENTITY CASCADE")
    IdTag.objects.bulk_create([IdTag(id_tag=tag, key=IdTag.normalize(tag)) for tag in id_tags])
    connection.close()
    client = redis.Redis.from_url(args.redis_url, socket_timeout=5)
    client.flushdb()
    client.close()


def db_counts() -> dict[str, int]:
    from django.db import connection

    from csms.models import (
        ChargePoint,
        MessageLog,
        MeterValue,
        StatusNotification,
        Transaction,
    )

    counts = {
        "charge_points": ChargePoint.objects.count(),
        "status_notifications": StatusNotification.objects.count(),
        "transactions": Transaction.objects.count(),
        "transactions_stopped": Transaction.objects.filter(stopped_at__isnull=False).count(),
        "meter_values": MeterValue.objects.count(),
        "message_log_in": MessageLog.objects.filter(direction="in").count(),
        "message_log_out": MessageLog.objects.filter(direction="out").count(),
        "message_log_errors": MessageLog.objects.filter(message_type=4).count(),
    }
    connection.close()
    return counts


def expected_counts(load: dict[str, Any], message_log: bool) -> dict[str, int]:
    acked, sent = load["acked"], load["sent"]
    logs = 1 if message_log else 0
    return {
        "charge_points": load["stations"] + 1,  # + the warm-up station
        "status_notifications": acked["StatusNotification"],
        "transactions": acked["StartTransaction"],
        "transactions_stopped": acked["StopTransaction"],
        "meter_values": load["meter_samples"] + load["stop_samples"],
        "message_log_in": logs * sum(sent.values()),
        "message_log_out": logs * sum(acked.values()),
        "message_log_errors": 0,
    }


def verify_persisted(
    load: dict[str, Any], message_log: bool, timeout: float = 20.0
) -> dict[str, Any]:
    """Every acknowledged message must be in PostgreSQL. Station data is committed before the
    answer leaves, so it must match at once; outgoing message-log rows are queued after the
    answer is sent and ride the next commit, so those get a short grace period."""
    expected = expected_counts(load, message_log)
    deadline = time.monotonic() + timeout
    first = db_counts()
    actual = first
    while actual != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        actual = db_counts()
    station_data = ("status_notifications", "transactions", "transactions_stopped", "meter_values")
    immediate = all(first[k] == expected[k] for k in station_data)
    return {
        "ok": actual == expected and immediate and load["error_count"] == 0,
        "expected": expected,
        "actual": actual,
        "station_data_present_at_once": immediate,
    }


# --- Measurements ------------------------------------------------------------------------


def run_load(
    children: Children,
    args: argparse.Namespace,
    label: str,
    url: str,
    server_pid: int,
    outdir: Path,
    *,
    duration: float,
    rate: float = 0.0,
) -> dict[str, Any]:
    """bench/loadgen.py against ``url``: closed loop (rate 0) or open loop at ``rate``."""
    out = outdir / f"load-{label}.json"
    cmd = [
        PY,
        str(BENCH / "loadgen.py"),
        "--url",
        url,
        "--stations",
        str(args.stations),
        "--duration",
        str(duration),
        "--rate",
        str(rate),
        "--prefix",
        "BENCH",
        "--tag-prefix",
        "BT",
        "--out",
        str(out),
        "--dump-latencies",
        str(outdir / f"latencies-{label}.csv"),
    ]
    proc = children.start(
        cmd, env=dict(os.environ), log=outdir / f"loadgen-{label}.log", pipe_stdio=True
    )
    hard_deadline = time.monotonic() + duration + 240
    try:
        # CPU counters are sampled over the measured window only (not connect / warm-up).
        if _read_line(proc, hard_deadline).strip() != "measure-start":
            raise BenchFailed(f"load generator ({label}) failed before measuring; see its log")
        before = cpu_sample(server_pid)
        wall0 = time.monotonic()
        if _read_line(proc, hard_deadline).strip() != "measure-end":
            raise BenchFailed(f"load generator ({label}) failed while measuring; see its log")
        wall = time.monotonic() - wall0
        after = cpu_sample(server_pid)
        proc.wait(timeout=max(1.0, hard_deadline - time.monotonic()))
    except (TimeoutError, subprocess.TimeoutExpired):
        raise BenchFailed(f"load generator ({label}) did not finish in time") from None
    finally:
        children.stop(proc)
    if not out.exists():
        raise BenchFailed(f"load generator ({label}) wrote no result; see its log")
    result = json.loads(out.read_text())
    result["cpu"] = cpu_report(before, after, wall)
    if result["error_count"]:
        print(f"  {label}: {result['error_count']} errors, e.g. {result['errors'][:3]}")
    return result


def start_our_server(
    children: Children,
    args: argparse.Namespace,
    port: int,
    outdir: Path,
    label: str,
    profile_prefix: Path | None = None,
) -> subprocess.Popen[Any]:
    daphne_args = [
        "-b",
        LOOPBACK,
        "-p",
        str(port),
        "--websocket_timeout",
        "-1",
        "csms.asgi:application",
    ]
    if profile_prefix is None:
        cmd = [PY, "-m", "daphne", *daphne_args]
    else:
        cmd = [PY, str(BENCH / "profiled_daphne.py"), str(profile_prefix), *daphne_args]
    log = outdir / f"server-{label}.log"
    env = server_env(args)
    if args.experiment:
        # What-if patches (bench/experiments/): imported by its sitecustomize at start-up.
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(BENCH / "experiments"), env.get("PYTHONPATH", "")])
        )
        env["BENCH_EXPERIMENTS"] = args.experiment
    proc = children.start(cmd, env=env, log=log)
    wait_listening(port, proc, 60, log)
    return proc


def run_ours(
    children: Children,
    args: argparse.Namespace,
    outdir: Path,
    tags: list[str],
    *,
    label: str,
    duration: float,
    rate: float = 0.0,
) -> dict[str, Any]:
    """A fresh database and server, one load run, then the persistence check."""
    reset_state(args, tags)
    port = free_port(args.port_base + 1)
    server = start_our_server(children, args, port, outdir, label)
    try:
        result = run_load(
            children,
            args,
            label,
            f"ws://{LOOPBACK}:{port}/ocpp",
            server.pid,
            outdir,
            duration=duration,
            rate=rate,
        )
        result["db_check"] = verify_persisted(result, not args.no_message_log)
        result["server_rss_kib"] = proc_rss_kib(server.pid)
    finally:
        children.stop(server)
    return result


def run_reference(
    children: Children,
    args: argparse.Namespace,
    outdir: Path,
    *,
    label: str,
    duration: float,
    rate: float = 0.0,
) -> dict[str, Any]:
    port = free_port(args.port_base + 2)
    log = outdir / f"server-{label}.log"
    server = children.start(
        [PY, str(BENCH / "reference_server.py"), "--port", str(port)],
        env=dict(os.environ),
        log=log,
    )
    try:
        wait_listening(port, server, 30, log)
        result = run_load(
            children,
            args,
            label,
            f"ws://{LOOPBACK}:{port}/ocpp",
            server.pid,
            outdir,
            duration=duration,
            rate=rate,
        )
    finally:
        children.stop(server)
    return result


def _read_line(proc: subprocess.Popen[Any], deadline: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not sel.select(remaining):
            raise TimeoutError
    return proc.stdout.readline()


def idle_levels(maximum: int) -> list[int]:
    steps = {100, maximum}
    steps.update(round(maximum * f) for f in (0.1, 0.25, 0.5, 0.75))
    return sorted(s for s in steps if 0 < s <= maximum)


def linear_fit(points: list[tuple[int, int]]) -> tuple[float, float]:
    """Least-squares (slope, intercept) of y over x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx if sxx else 0.0
    return slope, mean_y - slope * mean_x


def run_idle(children: Children, args: argparse.Namespace, outdir: Path) -> dict[str, Any]:
    from django.db import connection

    from csms.models import ChargePoint

    reset_state(args, [])
    port = free_port(args.port_base + 3)
    server = start_our_server(children, args, port, outdir, "idle")
    url = f"ws://{LOOPBACK}:{port}/ocpp"
    workers_n = max(1, math.ceil(args.idle_max / IDLE_PER_WORKER))
    workers = [
        children.start(
            [
                PY,
                str(BENCH / "idle_clients.py"),
                "--url",
                url,
                "--prefix",
                f"IDLE{w}",
                "--concurrency",
                str(max(8, 64 // workers_n)),
            ],
            env=dict(os.environ),
            log=outdir / f"idle-client-{w}.log",
            pipe_stdio=True,
        )
        for w in range(workers_n)
    ]
    points: list[dict[str, Any]] = []
    opened = failed = alive = 0
    errors: list[str] = []
    baseline = proc_rss_kib(server.pid)
    stopped_early = ""
    idle_cpu_pct = None
    online = None

    def ask(commands: list[str], deadline: float) -> tuple[int, int, int]:
        """Send one command to each worker; sum their (opened, failed, still open)."""
        for worker, command in zip(workers, commands, strict=True):
            assert worker.stdin is not None
            worker.stdin.write(command + "\n")
            worker.stdin.flush()
        totals = [0, 0, 0]
        for worker in workers:
            line = _read_line(worker, deadline)  # TimeoutError past the deadline
            if not line.startswith("ok "):
                raise BenchFailed(f"idle client said {line!r}")
            fields = line.split(" ", 4)
            for i in range(3):
                totals[i] += int(fields[i + 1])
            for error in json.loads(fields[4]):
                if error not in errors:
                    errors.append(error)
        return totals[0], totals[1], totals[2]

    try:
        for level in idle_levels(args.idle_max):
            delta = level - opened
            stage_started = time.monotonic()
            shares = [
                delta // workers_n + (1 if w < delta % workers_n else 0) for w in range(workers_n)
            ]
            try:
                opened, failed, alive = ask(
                    [f"grow {share}" for share in shares],
                    stage_started + max(60.0, delta / 20),
                )
            except TimeoutError:
                stopped_early = f"stage to {level} did not finish in time"
                break
            stage_s = time.monotonic() - stage_started
            time.sleep(args.idle_settle)
            points.append(
                {
                    "connections": alive,
                    "opened": opened,
                    "rss_kib": proc_rss_kib(server.pid),
                    "stage_s": round(stage_s, 2),
                    "connect_rate_per_s": round(delta / stage_s, 1) if stage_s else None,
                }
            )
            print(
                f"  idle: {alive} open ({opened} opened, {failed} failed), "
                f"RSS {points[-1]['rss_kib'] / 1024:.0f} MiB, stage {stage_s:.1f} s"
            )
            if failed > max(10, 0.005 * level):
                stopped_early = f"{failed} connections failed"
                break
        # Hold them a while: the server's keepalive pings go out every 20 s, and a station
        # the server drops while idle must show up here.
        cpu0 = proc_cpu_seconds(server.pid)
        time.sleep(args.idle_hold)
        idle_cpu_pct = 100 * (proc_cpu_seconds(server.pid) - cpu0) / args.idle_hold
        opened, failed, alive = ask(["status"] * workers_n, time.monotonic() + 30)
        online = ChargePoint.objects.filter(connected=True).count()
        connection.close()
    finally:
        for worker in workers:
            if worker.poll() is None and worker.stdin is not None:
                try:
                    worker.stdin.write("quit\n")
                    worker.stdin.flush()
                except OSError:
                    pass
        children.stop(server, timeout=20)
        for worker in workers:
            children.stop(worker, timeout=5)
    fit_points = [(p["connections"], p["rss_kib"]) for p in points if p["connections"] >= 500]
    slope = linear_fit(fit_points)[0] if len(fit_points) >= 2 else None
    return {
        "target": args.idle_max,
        "held": alive,
        "opened": opened,
        "dropped_by_server": opened - alive,
        "failed": failed,
        "errors": errors[:10],
        "stopped_early": stopped_early,
        "rss_baseline_kib": baseline,
        "points": points,
        "kib_per_connection": slope,
        "idle_cpu_pct": idle_cpu_pct,
        "marked_online_in_db": online,
        "workers": workers_n,
        "hold_s": args.idle_hold,
    }


def run_command_rtt(
    children: Children, args: argparse.Namespace, outdir: Path
) -> dict[str, Any] | None:
    """bench/command_rtt.py (another author's script; it starts its own daphne and 100
    stations): run it, read its JSON result."""
    if not COMMAND_RTT_SCRIPT.exists():
        return None
    reset_state(args, [])
    out = outdir / "command-rtt.json"
    cmd = [
        PY,
        str(COMMAND_RTT_SCRIPT),
        "--json",
        str(out),
        "--port-base",
        str(free_port(args.port_base + 10)),
        "--commands",
        str(200 if args.quick else 1000),
    ]
    proc = children.start(cmd, env=server_env(args), log=outdir / "command-rtt.log")
    try:
        proc.wait(timeout=COMMAND_RTT_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"command_rtt.py did not finish in {COMMAND_RTT_TIMEOUT} s"}
    finally:
        children.stop(proc)  # also its daphne, if it left one behind
    if proc.returncode != 0 or not out.exists():
        return {"error": f"command_rtt.py exited {proc.returncode}; see command-rtt.log"}
    return json.loads(out.read_text())


def run_profile(
    children: Children, args: argparse.Namespace, outdir: Path, tags: list[str]
) -> dict[str, Any]:
    reset_state(args, tags)
    port = free_port(args.port_base + 4)
    prefix = outdir / "profile"
    server = start_our_server(children, args, port, outdir, "profiled", profile_prefix=prefix)
    try:
        load = run_load(
            children,
            args,
            "profiled",
            f"ws://{LOOPBACK}:{port}/ocpp",
            server.pid,
            outdir,
            duration=args.duration,
        )
        load["db_check"] = verify_persisted(load, not args.no_message_log)
    finally:
        children.stop(server, timeout=120)  # writing the stats takes a moment
    files = sorted(outdir.glob("profile.*.pstats"))
    if not files:
        return {"error": "no profile written", "load": load}
    report = outdir / "profile.txt"
    per_thread = {}
    with report.open("w") as f:
        for path in files:
            stats = pstats.Stats(str(path), stream=f)
            per_thread[path.name] = round(stats.total_tt, 2)  # type: ignore[attr-defined]
        merged = pstats.Stats(*[str(p) for p in files], stream=f)
        f.write(
            f"Profiled closed loop: {load['calls']} calls, "
            f"{load['calls_per_s']:.0f} calls/s under the profiler\n"
        )
        f.write(f"Seconds per thread (tottime sums): {per_thread}\n\n")
        for path in files:
            f.write(f"\n===== {path.name}: top 25 by own time =====\n")
            pstats.Stats(str(path), stream=f).sort_stats("tottime").print_stats(25)
        f.write("\n===== all threads: top 40 by own time =====\n")
        merged.sort_stats("tottime").print_stats(40)
        f.write("\n===== all threads: top 60 by cumulative time =====\n")
        merged.sort_stats("cumulative").print_stats(60)
    return {
        "report": str(report.relative_to(ROOT)),
        "calls": load["calls"],
        "calls_per_s": load["calls_per_s"],
        "thread_seconds": per_thread,
        "db_check_ok": load["db_check"]["ok"],
    }


# --- Report ------------------------------------------------------------------------------


def _lat(summary: dict[str, Any]) -> str:
    if not summary or not summary.get("count"):
        return "-"
    return f"{summary['p50_ms']:.1f} / {summary['p95_ms']:.1f} / {summary['p99_ms']:.1f}"


def _cpu_cell(cpu: dict[str, Any] | None) -> str:
    if not cpu:
        return "-"
    return (
        f"{cpu['server_pct']:.0f} ({cpu['server_event_loop_thread_pct']:.0f} + "
        f"{cpu['server_db_thread_pct']:.0f}) · {cpu['postgres_pct']:.0f} · "
        f"{cpu['redis_pct']:.0f} · {cpu['loadgen_pct']:.0f} · "
        f"{cpu['machine_busy_pct']:.0f}/{100 * cpu['machine_cores']}"
    )


def _db_check_row(result: dict[str, Any]) -> str:
    check = result["db_check"]
    exp = check["expected"]
    logs = exp["message_log_in"] + exp["message_log_out"]
    return (
        f"| … every acknowledged message in PostgreSQL | "
        f"{'OK' if check['ok'] else 'MISMATCH'}: {exp['transactions']} transactions, "
        f"{exp['meter_values']:,} meter values, {logs:,} log rows | n/a | all | "
        f"{'yes' if check['ok'] else 'NO'} |"
    )


def _cpu_row(ours: dict[str, Any], ref: dict[str, Any] | None) -> str:
    return (
        "| … CPU, % of one core: server (event-loop thread + DB thread) · PostgreSQL · "
        f"Redis · load generator · whole machine | {_cpu_cell(ours['cpu'])} | "
        f"{_cpu_cell(ref['cpu'] if ref else None)} | | |"
    )


def render_table(results: dict[str, Any]) -> str:
    ours = results.get("ours")
    ref = results.get("reference")
    ours_open = results.get("ours_open")
    ref_open = results.get("reference_open")
    idle = results.get("idle")
    rtt = results.get("command_rtt")
    env = results["environment"]
    lines = [
        f"Benchmark {results['started']} · {env['cores']} x {env['cpu']} · Python "
        f"{env['python']} · PostgreSQL {env['postgres']} · commit {env['commit']}",
        *(
            [f"What-if experiments active on our server: {results['args']['experiment']}"]
            if results["args"].get("experiment")
            else []
        ),
        *(
            ["Message log disabled on our server (OCPP_MESSAGE_LOG_ENABLED=false)"]
            if results["args"].get("no_message_log")
            else []
        ),
        "",
        "| Measurement | Our server | Reference (`ocpp` + `websockets`, no DB) | Target | Met |",
        "|---|---|---|---|---|",
    ]
    if ours:
        ratio = ours["calls_per_s"] / ref["calls_per_s"] if ref else None
        met = f"{'yes' if ratio >= 0.5 else 'no'} ({100 * ratio:.0f}%)" if ratio else "-"
        ref_rate = f"{ref['calls_per_s']:.0f}" if ref else "skipped"
        lines.append(
            f"| Closed loop, {ours['stations']} stations x 1 outstanding call, "
            f"{ours['duration_s']:g} s: calls/s | {ours['calls_per_s']:.0f} | {ref_rate} | "
            f"≥ 50% of reference | {met} |"
        )
        p99 = ours["latency"].get("p99_ms", float("inf"))
        lines.append(
            f"| … latency p50 / p95 / p99 ms, all calls | {_lat(ours['latency'])} | "
            f"{_lat(ref['latency']) if ref else '-'} | p99 < 50 ms | "
            f"{'yes' if p99 < 50 else 'no'} |"
        )
        for action in (
            "BootNotification",
            "StatusNotification",
            "Authorize",
            "StartTransaction",
            "MeterValues",
            "StopTransaction",
        ):
            lines.append(
                f"| … {action} p50 / p95 / p99 ms | {_lat(ours['per_action'][action])} | "
                f"{_lat(ref['per_action'][action]) if ref else '-'} | | |"
            )
        lines.append(_cpu_row(ours, ref))
        lines.append(_db_check_row(ours))
    if ours_open:
        mv = ours_open["per_action"]["MeterValues"]
        ref_mv = ref_open["per_action"]["MeterValues"] if ref_open else None
        ref_rate = f"{ref_open['calls_per_s']:.0f}" if ref_open else "-"
        lines.append(
            f"| Open loop, {ours_open['rate']:g} MeterValues/s due over "
            f"{ours_open['stations']} stations, {ours_open['duration_s']:g} s: calls/s done | "
            f"{ours_open['calls_per_s']:.0f} | {ref_rate} | | |"
        )
        steady = ours_open["meter_values_steady"]
        ref_steady = ref_open["meter_values_steady"] if ref_open else None
        steady_p99 = steady.get("p99_ms", float("inf"))
        lines.append(
            f"| … MeterValues latency p50 / p95 / p99 ms from when due, steady state (1 s after "
            f"the start to 1 s before the end) | {_lat(steady)} | "
            f"{_lat(ref_steady) if ref_steady else '-'} | p99 < 50 ms | "
            f"{'yes' if steady_p99 < 50 else 'no'} |"
        )
        lines.append(
            f"| … the same over the whole run (with the burst of Boot…Start and the Stops of "
            f"all sessions at the end) | {_lat(mv)} | {_lat(ref_mv) if ref_mv else '-'} | | |"
        )
        lines.append(_cpu_row(ours_open, ref_open))
        lines.append(_db_check_row(ours_open))
    if idle:
        kib = idle["kib_per_connection"]
        top = idle["points"][-1] if idle["points"] else None
        note = f" ({idle['stopped_early']})" if idle["stopped_early"] else ""
        lines.append(
            f"| Idle stations held by one process (booted, then idle, held "
            f"{idle['hold_s']:g} s) | {idle['held']:,} of {idle['target']:,}{note} | | 10,000 | "
            f"{'yes' if idle['held'] >= 10000 else 'no'} |"
        )
        lines.append(
            f"| … dropped by the server while idle / failed to connect / online in DB | "
            f"{idle['dropped_by_server']} / {idle['failed']} / {idle['marked_online_in_db']} "
            f"| | 0 / 0 / all | "
            f"{'yes' if idle['dropped_by_server'] == 0 and idle['failed'] == 0 else 'no'} |"
        )
        lines.append(
            f"| Memory per idle connection (slope of RSS) | "
            f"{f'{kib:.1f} KiB' if kib is not None else '-'} | | < 50 KiB | "
            f"{'yes' if kib is not None and kib < 50 else 'no'} |"
        )
        if top:
            lines.append(
                f"| RSS at {top['connections']:,} connections (before the first: "
                f"{idle['rss_baseline_kib'] / 1024:.0f} MiB) | {top['rss_kib'] / 1024:.0f} MiB"
                f" | | | |"
            )
            rates = [p["connect_rate_per_s"] for p in idle["points"][1:] if p["connect_rate_per_s"]]
            if rates:
                lines.append(
                    f"| Connect + boot rate during the ramp | {min(rates):.0f}-{max(rates):.0f}"
                    f"/s | | | |"
                )
        if idle["idle_cpu_pct"] is not None:
            lines.append(
                f"| Server CPU with all stations idle | {idle['idle_cpu_pct']:.1f}% | | | |"
            )
    if rtt and rtt.get("skipped"):
        lines.append("| Remote command round trip | skipped | | p99 < 100 ms | - |")
    elif rtt and "p50_ms" in rtt and "p99_ms" in rtt:
        lines.append(
            f"| Remote command round trip (API → station → answer stored → API), p50 / p99 "
            f"ms, {rtt.get('stations', 100)} stations connected, {rtt.get('commands', '?')} "
            f"commands, {rtt.get('concurrency', 1)} at a time | {rtt['p50_ms']:.1f} / "
            f"{rtt['p99_ms']:.1f} | | p99 < 100 ms | {'yes' if rtt['p99_ms'] < 100 else 'no'} |"
        )
    elif rtt:
        lines.append(
            f"| Remote command round trip | ERROR: {rtt.get('error', rtt)} | | p99 < 100 ms | - |"
        )
    else:
        lines.append(
            "| Remote command round trip p50 / p99 | TODO: bench/command_rtt.py not present | "
            "| p99 < 100 ms | - |"
        )
    return "\n".join(lines)


def environment(args: argparse.Namespace) -> dict[str, Any]:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = re.sub(r"\s+", " ", line.split(":", 1)[1].strip())
            break
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        if dirty:
            commit += " + uncommitted changes"
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0].split()[0]
    connection.close()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "postgres": postgres,
        "commit": commit,
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE),
        "stations": args.stations,
        "duration_s": args.duration,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="OCPP gateway benchmark (see bench/README.md)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--stations", type=int, default=50, help="closed-loop stations")
    parser.add_argument("--duration", type=float, default=20.0, help="closed-loop seconds")
    parser.add_argument(
        "--rate",
        type=float,
        default=200.0,
        help="open-loop run: MeterValues per second over all stations (0 skips it)",
    )
    parser.add_argument("--open-duration", type=float, default=10.0, help="open-loop seconds")
    parser.add_argument("--idle-max", type=int, default=10000, help="idle stations to reach")
    parser.add_argument(
        "--idle-settle",
        type=float,
        default=2.0,
        help="seconds to wait at each idle level before reading RSS",
    )
    parser.add_argument(
        "--idle-hold",
        type=float,
        default=25.0,
        help="seconds to hold the top level (one server keepalive ping round)",
    )
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument(
        "--skip-closed-loop", action="store_true", help="no closed loop at all (ours nor reference)"
    )
    parser.add_argument("--skip-command-rtt", action="store_true")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile a closed-loop run of our server (cProfile)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 5 s closed loop, 1,000 idle stations"
    )
    parser.add_argument(
        "--experiment",
        default="",
        help="what-if patches for our server: NAME[,NAME] of bench/experiments/NAME.py",
    )
    parser.add_argument(
        "--no-message-log",
        action="store_true",
        help="run our server with OCPP_MESSAGE_LOG_ENABLED=false (what the log costs)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/csms_bench"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
    )
    parser.add_argument(
        "--port-base", type=int, default=18500, help="servers use free ports from here (100 ports)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = min(args.duration, 5.0)
        args.open_duration = min(args.open_duration, 5.0)
        args.idle_max = min(args.idle_max, 1000)
    args.secret_key = secrets.token_urlsafe(40)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_loopback(args.database_url, "--database-url")
    check_loopback(args.redis_url, "--redis-url")
    signal.signal(signal.SIGTERM, _terminate)
    # Also when started in the background of a script, where SIGINT starts out ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Both sides of the idle test hold one descriptor per station; children inherit this.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.idle_max + 1000 and not args.skip_idle:
        print(f"warning: open-file limit {hard} caps the idle test below {args.idle_max}")

    started = datetime.now(UTC)
    (BENCH / "results").mkdir(exist_ok=True)
    stem = started.strftime("%Y%m%d-%H%M%S")
    outdir = BENCH / "results" / stem
    for n in range(2, 100):  # another run may have started in the same second
        try:
            outdir.mkdir()
            break
        except FileExistsError:
            outdir = BENCH / "results" / f"{stem}-{n}"
    ensure_database(args.database_url)
    setup_django(server_env(args))
    tags = [f"BT{i:05d}" for i in range(args.stations)] + ["BTW"]
    results: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "environment": environment(args),
        "args": {k: v for k, v in vars(args).items() if k != "secret_key"},
    }
    children = Children()
    failures: list[str] = []
    try:

        def check(result: dict[str, Any], what: str) -> None:
            if "db_check" in result and not result["db_check"]["ok"]:
                failures.append(f"{what}: database check failed: {json.dumps(result['db_check'])}")
            if result["error_count"]:
                failures.append(f"{what}: {result['error_count']} failed calls")

        if not args.skip_closed_loop:
            print(f"closed loop, our server: {args.stations} stations, {args.duration:g} s ...")
            results["ours"] = run_ours(
                children, args, outdir, tags, label="ours", duration=args.duration
            )
            check(results["ours"], "closed loop, our server")
            if not args.skip_reference:
                print("closed loop, reference server ...")
                results["reference"] = run_reference(
                    children, args, outdir, label="reference", duration=args.duration
                )
                check(results["reference"], "closed loop, reference")
        if args.rate > 0:
            print(f"open loop at {args.rate:g} MeterValues/s, our server ...")
            results["ours_open"] = run_ours(
                children,
                args,
                outdir,
                tags,
                label="ours-open",
                duration=args.open_duration,
                rate=args.rate,
            )
            check(results["ours_open"], "open loop, our server")
            if not args.skip_reference:
                print("open loop, reference server ...")
                results["reference_open"] = run_reference(
                    children,
                    args,
                    outdir,
                    label="reference-open",
                    duration=args.open_duration,
                    rate=args.rate,
                )
                check(results["reference_open"], "open loop, reference")
        if not args.skip_idle:
            print(f"idle capacity, up to {args.idle_max} stations ...")
            results["idle"] = run_idle(children, args, outdir)
        if args.skip_command_rtt:
            results["command_rtt"] = {"skipped": True}
        else:
            if COMMAND_RTT_SCRIPT.exists():
                print("remote command round trip (bench/command_rtt.py) ...")
            results["command_rtt"] = rtt = run_command_rtt(children, args, outdir)
            if rtt and "error" in rtt:
                failures.append(f"remote command round trip: {rtt['error']}")
        if args.profile:
            print("profiled closed loop ...")
            results["profile"] = run_profile(children, args, outdir, tags)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping every process we started", file=sys.stderr)
        failures.append("interrupted")
    except BenchFailed as exc:
        failures.append(str(exc))
    finally:
        children.stop_all()

    results["failures"] = failures
    (outdir / "result.json").write_text(json.dumps(results, indent=1, default=str))
    table = render_table(results)
    if table:
        (outdir / "table.md").write_text(table + "\n")
        shutil.copyfile(outdir / "table.md", BENCH / "results" / "latest.md")
        print()
        print(table)
    if "profile" in results and "report" in results["profile"]:
        print(f"\nprofile: {results['profile']['report']}")
    print(f"\nresults: {outdir.relative_to(ROOT)}")
    if failures:
        print("\n" + "!" * 72, file=sys.stderr)
        for failure in failures:
            print(f"BENCHMARK FAILED: {failure}", file=sys.stderr)
        print("!" * 72, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
