"""Serve HTTP and WebSocket with daphne, tuned for charge points.

Equivalent to ``daphne -b HOST -p PORT --websocket_timeout -1 csms.asgi:application``:
daphne's default closes every WebSocket after a day, and charge points stay connected for
months. With ``--demo N`` it also starts N simulated stations against itself (``manage.py
simulate``): their drivers' idTags are registered, the first sessions start within seconds and
meter values come every 10 s, so the admin shows live data within a minute. In demo mode Ctrl-C
reaches this process only: it switches the simulator off first (open sessions end with reason
PowerLoss while the server still runs), then the server.

It exits non-zero, with the reason, when the server cannot serve: the port is taken (checked
before daphne starts, since daphne logs that failure as CRITICAL and then exits 0) or daphne
stopped by itself. Only Ctrl-C or SIGTERM is a clean exit.

Without a broker (``make run``: eager Celery, no beat, no worker) it also runs ``manage.py
periodic``, the beat schedule in a process of its own, so command time-outs, reservation
expiry, stale-session closing and retention happen there as in a deployment.

It lives in the gateway, not in csms: daphne serves the gateway's consumers, and the demo
runs the gateway's ``simulate`` command (csms never reaches into the apps built on it).
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the platform (daphne: HTTP + OCPP WebSocket)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--demo", type=int, default=0, help="Also simulate N stations.")

    def handle(self, *args: Any, **options: Any) -> None:
        os.environ.setdefault("DEBUG", "true")
        os.environ.setdefault("OCPP_ALLOW_UNKNOWN_CHARGE_POINTS", "true")
        host, port = options["host"], options["port"]
        _check_port_free(host, port)
        self.stdout.write(
            f"CSMS on http://localhost:{port}/admin/  ·  API docs http://localhost:{port}/api/docs/"
            f"\nCharge points connect to ws://<this host>:{port}/ocpp/<identity>\n"
        )
        # Demo: children in their own session so Ctrl-C does not hit them all at once; SIGTERM
        # (a supervisor, `kill`) shuts down in the same order as Ctrl-C.
        detached = bool(options["demo"])
        signal.signal(signal.SIGTERM, _interrupt)
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                host,
                "-p",
                str(port),
                "--websocket_timeout",
                "-1",
                "csms.asgi:application",
            ],
            start_new_session=detached,
        )
        demo = None
        periodic = None
        interrupted = False
        try:
            if settings.CELERY_TASK_ALWAYS_EAGER:
                periodic = subprocess.Popen(
                    [sys.executable, "manage.py", "periodic"], start_new_session=detached
                )
            if options["demo"]:
                time.sleep(2)
                demo = subprocess.Popen(
                    [
                        sys.executable,
                        "manage.py",
                        "simulate",
                        "--count",
                        str(options["demo"]),
                        "--url",
                        f"ws://127.0.0.1:{port}/ocpp",
                        "--prefix",
                        "DEMO",
                        "--seed-tags",
                        "--meter-interval",
                        "10",
                        "--first-session-seconds",
                        "2-15",
                        "--session-minutes",
                        "3-10",
                        "--idle-seconds",
                        "15-60",
                    ],
                    start_new_session=True,
                )
            server.wait()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            for process in (demo, periodic, server):
                if process is not None and process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
        if not interrupted:
            # Nobody asked it to stop: whatever daphne logged above is why, and a supervisor
            # (make, systemd, a shell script) must see a failure, not a clean exit.
            raise CommandError(
                f"The server stopped by itself (daphne exit code {server.returncode}); "
                "its log above says why."
            )


def _check_port_free(host: str, port: int) -> None:
    """Raise CommandError if ``host:port`` cannot be listened on. Binds as daphne (Twisted)
    will, with SO_REUSEADDR, so a port a stopped server left in TIME_WAIT counts as free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"Port {port} is already in use on {host}: another server (perhaps an "
                    f"earlier `make run`) is listening there. Stop it, or serve elsewhere: "
                    f"PORT={port + 1} make run (or runplatform --port {port + 1})."
                ) from None
            raise CommandError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
