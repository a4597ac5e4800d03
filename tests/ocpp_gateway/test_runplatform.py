"""``manage.py runplatform`` (what ``make run`` serves with): it exits non-zero with the reason
when it cannot serve, so ``make run`` and supervisors see the failure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from ocpp_gateway.management.commands import runplatform

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program is listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_it_exits_non_zero_with_the_reason_when_the_port_is_taken(taken_port):
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "runplatform",
            "--host",
            "127.0.0.1",
            "--port",
            str(taken_port),
        ],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert f"Port {taken_port} is already in use on 127.0.0.1" in result.stderr
    assert f"PORT={taken_port + 1} make run" in result.stderr


def test_it_checks_the_port_before_starting_the_server(taken_port, monkeypatch):
    started: list[Any] = []
    monkeypatch.setattr(runplatform.subprocess, "Popen", lambda *a, **k: started.append(a))

    with pytest.raises(CommandError, match="already in use"):
        call_command("runplatform", "--host", "127.0.0.1", "--port", str(taken_port))
    assert started == []


class _StoppedServer:
    """A daphne that stopped on its own (as it does, with exit code 0, after a listen failure)."""

    returncode = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def poll(self) -> int:
        return 0


def test_it_exits_non_zero_when_the_server_stops_by_itself(monkeypatch):
    monkeypatch.setattr(runplatform.subprocess, "Popen", _StoppedServer)
    monkeypatch.setattr(runplatform.signal, "signal", lambda *args: None)
    monkeypatch.setattr(runplatform, "_check_port_free", lambda host, port: None)

    with pytest.raises(CommandError, match="stopped by itself"):
        call_command("runplatform", "--port", "8000")


def test_a_port_in_time_wait_counts_as_free():
    # A server stopped a moment ago leaves its side of a closed connection in TIME_WAIT on the
    # port; restarting it at once must still work, as daphne itself would bind it. (Linux
    # lets it when the old listener had SO_REUSEADDR too, as daphne's has.)
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            accepted.close()  # the server closes first: its end waits in TIME_WAIT
            client.recv(1)

    runplatform._check_port_free("127.0.0.1", port)
