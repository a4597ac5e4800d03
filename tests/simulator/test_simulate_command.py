"""``manage.py simulate`` and ``python -m simulator``: a fleet runs against a
central system by URL, and shuts down cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command

from csms.models import IdTag
from ocpp_gateway.management.commands.simulate import is_loopback
from tests.simulator.conftest import FakeCentralSystem

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def threaded_central() -> Iterator[FakeCentralSystem]:
    """The fake central system on its own event loop in a thread, for code that runs
    asyncio.run() itself."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: list[FakeCentralSystem] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> FakeCentralSystem:
            cs = FakeCentralSystem()
            await cs.start()
            return cs

        holder.append(loop.run_until_complete(start()))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(5)
    yield holder[0]
    asyncio.run_coroutine_threadsafe(holder[0].close(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.django_db
def test_simulate_runs_a_charging_fleet_for_a_duration_and_seeds_its_tags(threaded_central, capsys):
    call_command(
        "simulate",
        "--url", threaded_central.url,
        "--count", "2",
        "--prefix", "FLEET",
        "--connectors", "1",
        "--first-session-seconds", "0-0.2",
        "--session-minutes", "0.01",
        "--idle-seconds", "30",
        "--meter-interval", "0",
        "--ramp", "0",
        "--duration", "2",
        "--log-level", "WARNING",
    )  # fmt: skip

    output = capsys.readouterr().out
    booted = {m.identity for m in threaded_central.messages if m.action == "BootNotification"}
    assert booted == {"FLEET001", "FLEET002"}
    started = sorted(
        m.payload["idTag"] for m in threaded_central.messages if m.action == "StartTransaction"
    )
    assert started == ["FLEET001-1", "FLEET002-1"]
    assert len(threaded_central.of("StopTransaction")) == 2
    assert sorted(IdTag.objects.values_list("id_tag", flat=True)) == ["FLEET001-1", "FLEET002-1"]
    assert "2 idTag(s) registered" in output
    assert "2 station(s)" in output and "2 session(s) started, 2 stopped" in output


@pytest.mark.django_db
def test_tags_are_seeded_only_for_this_platform_unless_asked(threaded_central):
    call_command(
        "simulate", "--url", threaded_central.url, "--no-seed-tags", "--no-auto-sessions",
        "--duration", "0.2", "--log-level", "WARNING",
    )  # fmt: skip

    assert not IdTag.objects.exists()
    assert is_loopback("ws://localhost:8000/ocpp")
    assert is_loopback("ws://127.0.0.1:8000/ocpp") and is_loopback("ws://[::1]:8000/ocpp")
    assert not is_loopback("wss://csms.example.com/ocpp")
    assert not is_loopback("ws://10.0.0.5:8000/ocpp")


def test_the_simulator_package_does_not_import_django():
    probe = (
        "import sys, simulator, simulator.cli\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}

    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr


def test_ctrl_c_ends_open_sessions_with_power_loss_and_exits_cleanly(threaded_central):
    process = subprocess.Popen(
        [
            sys.executable, "-m", "simulator",
            "--url", threaded_central.url,
            "--count", "1",
            "--connectors", "2",
            "--first-session-seconds", "0-0.1",
            "--session-minutes", "0",  # charge until stopped
            "--meter-interval", "0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: len(threaded_central.of("StartTransaction")) == 2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 0, err
    reasons = [p["reason"] for p in threaded_central.of("StopTransaction")]
    assert reasons == ["PowerLoss", "PowerLoss"]
    assert "1 station(s)" in out
    assert "session started" in err  # one concise log line per notable event
