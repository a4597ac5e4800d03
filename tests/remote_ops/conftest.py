"""Helpers for remote-operation tests: API calls from a worker thread, a station that answers.

The command API blocks while it waits for the station, so tests call it from a worker thread
(``thread_sensitive=False``): the event loop stays free to run the station's consumer, as
daphne's per-request threads leave it free in production.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import connection, connections

from tests.factories import make_charge_point


def _in_worker(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    finally:
        # Worker threads are pooled: close their connections, or PostgreSQL refuses to drop
        # the test database at the end.
        connections.close_all()


async def in_worker_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run blocking ``fn`` (an API call, an admin request) off the event loop."""
    return await sync_to_async(_in_worker, thread_sensitive=False)(fn, *args, **kwargs)


async def api_post(client: Any, url: str, data: Any = None, **extra: Any) -> Any:
    return await in_worker_thread(
        client.post, url, data if data is not None else {}, format="json", **extra
    )


async def api_get(client: Any, url: str, **params: Any) -> Any:
    return await in_worker_thread(client.get, url, params)


def command_url(identity: str, wait: bool = True) -> str:
    return f"/api/v1/charge-points/{identity}/commands/" + ("" if wait else "?wait=0")


async def answer_call(station: Any, payload: Any, *, action: str | None = None) -> list[Any]:
    """Read the next CALL the station receives and answer it with CALLRESULT ``payload``."""
    frame = await station.receive()
    assert frame[0] == 2, f"expected a CALL, got {frame}"
    if action is not None:
        assert frame[2] == action
    await station.send_text(json.dumps([3, frame[1], payload]))
    return frame


async def round_trip(
    client: Any, station: Any, identity: str, action: str, payload: Any, answer: Any
) -> tuple[Any, list[Any]]:
    """POST a command, let the station answer it, return (HTTP response, CALL frame)."""
    request = asyncio.ensure_future(
        api_post(client, command_url(identity), {"action": action, "payload": payload})
    )
    try:
        frame = await answer_call(station, answer, action=action)
    except BaseException:
        request.cancel()
        raise
    return await asyncio.wait_for(request, timeout=10), frame


@pytest.fixture(autouse=True)
def _sqlite_waits_for_table_locks(monkeypatch: Any) -> None:
    """The SQLite test database is in memory with a shared cache, where a table locked by one
    connection fails another's statement at once: SQLite applies its busy timeout to file
    locks only. These tests run the API in a worker thread beside the gateway's database
    thread, as daphne does; retry a locked statement the way the busy timeout would on the
    file database a real deployment uses."""
    if connection.vendor != "sqlite":
        return
    from django.db.backends.sqlite3.base import SQLiteCursorWrapper

    def patient(method: Any) -> Any:
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            deadline = time.monotonic() + 10
            while True:
                try:
                    return method(self, *args, **kwargs)
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.002)

        return run

    monkeypatch.setattr(SQLiteCursorWrapper, "execute", patient(SQLiteCursorWrapper.execute))
    monkeypatch.setattr(
        SQLiteCursorWrapper, "executemany", patient(SQLiteCursorWrapper.executemany)
    )


@pytest.fixture(autouse=True)
def _fresh_channel_layer() -> Any:
    """A channel layer per test. Each async test has its own event loop, and the Redis layer
    keeps asyncio locks bound to the loop that made them; a receive cut off when a test's loop
    closed would leave them locked for the next test."""
    from channels.layers import channel_layers

    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


@pytest.fixture(autouse=True)
def _short_command_timeout(settings: Any) -> None:
    # A test whose station does not answer fails in seconds, not after the 30 s default.
    settings.OCPP_COMMAND_TIMEOUT = 5.0


@pytest.fixture
async def online_station(connect_station: Any) -> Any:
    """``station = await online_station("CP1", **charge_point_fields)``: registered + connected."""

    async def _make(identity: str, **fields: Any) -> Any:
        await database_sync_to_async(make_charge_point)(identity=identity, **fields)
        return await connect_station(identity)

    return _make


def client_for(user: Any) -> Any:
    """A DRF client authenticated by token as ``user``."""
    from rest_framework.test import APIClient

    from tests.factories import make_token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(user)}")
    return client
