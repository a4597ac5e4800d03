"""The deployment files a deployer meets: compose file, Makefile, CI script."""

from __future__ import annotations

import json
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


# --- `cp .env.example .env && docker compose up` ------------------------------------------------
# No compose here (nor a Docker daemon in CI): these resolve the compose file's environment the
# way compose does (${VAR:-default} from .env) and load the settings the containers would.


def _dotenv(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def _container_env(service: str, dotenv: dict[str, str]) -> dict[str, str]:
    def interpolate(value: str) -> str:
        def one(match: re.Match) -> str:
            given = dotenv.get(match[1], "")
            return given if given or match[2] is None else match[2]

        return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", one, value)

    environment = _compose()["services"][service]["environment"]
    return {key: interpolate(str(value)) for key, value in environment.items()}


def _settings_in(env: dict[str, str], *names: str) -> dict:
    """The named settings as a process with exactly ``env`` (and PATH) loads them."""
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "csms.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _env_example() -> dict[str, str]:
    return _dotenv((ROOT / ".env.example").read_text())


def test_it_passes_a_database_password_with_url_characters_as_it_is():
    password = "p/a#s?s@w:o%rd"
    env = _container_env("web", {**_env_example(), "POSTGRES_PASSWORD": password})

    db = _settings_in(env, "DATABASES")["DATABASES"]["default"]

    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["NAME"], db["USER"], db["PASSWORD"]) == (
        "postgres",
        "csms",
        "csms",
        password,
    )
    # The database container gets the same password.
    assert _container_env("postgres", {"POSTGRES_PASSWORD": password})["POSTGRES_PASSWORD"] == (
        password
    )


def test_the_env_example_serves_plain_http_on_localhost():
    env = _container_env("web", _env_example())

    loaded = _settings_in(
        env, "DEBUG", "ALLOWED_HOSTS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"
    )

    assert loaded["DEBUG"] is False
    assert {"localhost", "127.0.0.1"} <= set(loaded["ALLOWED_HOSTS"])
    assert loaded["SESSION_COOKIE_SECURE"] is False
    assert loaded["CSRF_COOKIE_SECURE"] is False


def test_without_an_env_file_compose_keeps_cookies_secure():
    # Production is the default when nobody chose the local trial.
    env = _container_env("web", {"SECRET_KEY": "x" * 50})

    assert _settings_in(env, "SESSION_COOKIE_SECURE")["SESSION_COOKIE_SECURE"] is True


def test_the_env_example_says_where_the_admin_password_is_and_how_to_go_to_production():
    text = (ROOT / ".env.example").read_text()

    assert "docker compose logs migrate" in text
    for name in ("SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SECURE_COOKIES"):
        assert re.search(rf"^#\s+{name}\s", text, re.M), f"no production advice for {name}"


def test_the_image_never_contains_the_env_file():
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


# --- The README's commands, as a newcomer types them in a fresh clone ---------------------------


def _readme_section(heading: str | None) -> str:
    readme = (ROOT / "README.md").read_text()
    if heading is None:  # the quick start, before the first section
        return readme[: readme.index("\n## ")]
    start = readme.index(f"\n{heading}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


def _shell_lines(text: str) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("heading", [None, "## Development", "## Deploying"])
def test_the_readme_never_runs_python_outside_the_virtualenv(heading):
    # A fresh clone has no activated virtualenv: a bare `python manage.py` fails (no Django).
    # Make targets, `.venv/bin/python` and commands inside the containers work as written.
    lines = _shell_lines(_readme_section(heading))

    assert lines
    bare = [line for line in lines if re.match(r"(python3?|pip|celery|daphne)\b", line)]
    assert bare == []


def test_the_readme_says_how_to_get_back_in_when_the_admin_password_is_lost():
    quick_start = _readme_section(None)
    deploying = _readme_section("## Deploying")

    assert ".venv/bin/python manage.py ensure_admin --reset-password" in quick_start
    assert "docker compose exec web python manage.py ensure_admin --reset-password" in deploying
    assert "docker compose logs migrate" in deploying


def test_web_and_worker_share_the_media_volume_invoices_are_written_to():
    services = _compose()["services"]
    for name in ("web", "worker"):
        assert "media:/app/media" in services[name]["volumes"], name
        assert services[name]["environment"]["MEDIA_ROOT"] == "/app/media"
    assert "media" in _compose()["volumes"]
