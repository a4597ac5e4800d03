"""Shared helpers for the gateway's WebSocket tests: real frames from tests/fixtures/ocpp/,
sending them (optionally with fields changed) and waiting for the group committer."""

from __future__ import annotations

import copy
import json
from typing import Any

from channels.db import database_sync_to_async

from ocpp_gateway.committer import get_committer
from tests.conftest import Station, load_frame

db = database_sync_to_async


def frame(name: str, **changes: Any) -> list[Any]:
    """The fixture frame ``name`` with payload fields replaced (a value of ``...`` deletes the
    field)."""
    loaded = copy.deepcopy(load_frame(name))
    payload = loaded[3]
    for key, value in changes.items():
        if value is ...:
            payload.pop(key, None)
        else:
            payload[key] = value
    return loaded


async def send(station: Station, name_or_frame: str | list[Any], **changes: Any) -> list[Any]:
    """Send a fixture frame (by name, or a frame already built) and return the answer."""
    built = frame(name_or_frame, **changes) if isinstance(name_or_frame, str) else name_or_frame
    await station.send_text(json.dumps(built))
    return await station.receive()


async def drain() -> None:
    """Wait until everything the gateway queued (log rows, last-seen stamps) is committed."""
    await get_committer().drain()


def assert_result(answer: list[Any], message_id: str | None = None) -> dict[str, Any]:
    assert answer[0] == 3, f"expected a CALLRESULT, got {answer}"
    if message_id is not None:
        assert answer[1] == message_id
    return answer[2]


def assert_error(answer: list[Any], code: str, message_id: Any = None) -> list[Any]:
    assert answer[0] == 4, f"expected a CALLERROR {code}, got {answer}"
    assert answer[2] == code, f"expected {code}, got {answer}"
    assert len(answer) == 5 and isinstance(answer[3], str) and isinstance(answer[4], dict)
    if message_id is not None:
        assert answer[1] == message_id
    return answer
