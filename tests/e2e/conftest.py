"""A real CSMS server process (daphne) for end-to-end tests.

The server must see the database the test reads. On PostgreSQL (CI) that is the test
database pytest-django created, reached over a second connection. SQLite's test database
lives in this process's memory, so there the server gets a migrated temporary file instead and
the test reads it through an extra database alias (``E2E_ALIAS``). Tests use
``server.db`` as the alias either way, and ``pytestmark = E2E_MARKS``.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, connections

from csms.env import database_from_url
from tests.servers import ROOT, free_port, process_env, start_daphne, stop, test_database_url

E2E_ALIAS = "e2e"
STARTUP_TIMEOUT = 30.0


def _is_sqlite() -> bool:
    return bool(settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"))


# On PostgreSQL: a transactional test, so what the test writes is committed for the server to
# see and the database is emptied afterwards. On SQLite no Django test case at all: it would
# forbid the extra alias (the fixture unblocks database access itself).
E2E_MARKS = [pytest.mark.e2e] + ([] if _is_sqlite() else [pytest.mark.django_db(transaction=True)])


@dataclass(frozen=True)
class Server:
    port: int
    db: str  # database alias the test reads the server's data through
    process: subprocess.Popen

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _register_alias(alias: str, url: str) -> None:
    config = database_from_url(url)
    configured = connections.configure_settings(
        {"default": copy.deepcopy(settings.DATABASES["default"]), alias: config}
    )
    connections.settings[alias] = configured[alias]


def _unregister_alias(alias: str) -> None:
    if alias in connections.settings:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]


@pytest.fixture
def server_database(django_db_blocker: Any, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(DATABASE_URL for the server process, alias the test reads it through)."""
    if not _is_sqlite():
        if connection.in_atomic_block or not settings.DATABASES["default"]["NAME"].startswith(
            "test_"
        ):
            raise RuntimeError("end-to-end tests need pytestmark = E2E_MARKS (transactional)")
        yield test_database_url(), "default"
        return
    url = f"sqlite:///{tmp_path / 'e2e.sqlite3'}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=process_env(DATABASE_URL=url),
        check=True,
        timeout=120,
    )
    with django_db_blocker.unblock():
        _register_alias(E2E_ALIAS, url)
        try:
            yield url, E2E_ALIAS
        finally:
            _unregister_alias(E2E_ALIAS)


@pytest.fixture
def csms_server(server_database: tuple[str, str]) -> Iterator[Server]:
    """``python -m daphne ... csms.asgi:application`` on a free port, killed at teardown."""
    url, alias = server_database
    port = free_port()
    process = start_daphne(
        port,
        startup_timeout=STARTUP_TIMEOUT,
        DATABASE_URL=url,
        OCPP_ALLOW_UNKNOWN_CHARGE_POINTS="false",
        OCPP_HEARTBEAT_INTERVAL="60",
    )
    try:
        yield Server(port=port, db=alias, process=process)
    finally:
        stop(process)
        # The server's connections are gone; ours may still hold the test database open.
        for conn in connections.all():
            if conn.alias != "default":
                conn.close()
