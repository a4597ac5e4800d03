"""The deployment files a deployer meets: compose file, Makefile, CI script."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_it_defines_the_five_services():
    services = _compose()["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)


def test_it_never_times_out_station_websockets():
    web = _compose()["services"]["web"]
    command = web["command"]
    index = command.index("--websocket_timeout")
    assert command[index + 1] == "-1"
    runplatform = (ROOT / "ocpp_gateway/management/commands/runplatform.py").read_text()
    assert re.search(r'"--websocket_timeout",\s*"-1"', runplatform)


def test_it_refuses_unknown_stations_in_production():
    env = _compose()["services"]["web"]["environment"]
    assert env["OCPP_ALLOW_UNKNOWN_CHARGE_POINTS"].endswith(":-false}")
    assert env["DEBUG"] == "false"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_it_is_a_valid_compose_file():
    result = subprocess.run(
        ["docker-compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_ci_exports_the_real_services_and_runs_make_test():
    script = (ROOT / ".ci/run").read_text()
    assert "DATABASE_URL" in script and "REDIS_URL" in script
    assert "make test" in script


def test_manage_py_commands_work_without_any_environment():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_the_server_refuses_to_start_without_a_secret_key_when_debug_is_off():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    result = subprocess.run(
        [sys.executable, "-c", "import csms.asgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr
