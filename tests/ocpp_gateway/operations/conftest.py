"""Fixtures and helpers for the tests of the central-system operations, one file per family
of ocpp_gateway/operations/.

The fixtures are the remote-operation tests' own (tests/remote_ops/conftest.py, whose other
tests still use them): a registered station online, a channel layer and a short command
timeout per test, and SQLite lock waits for the API's worker thread.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from csms.models import Command
from tests.ocpp_gateway.support import drain, send
from tests.remote_ops.conftest import (  # noqa: F401
    _fresh_channel_layer,
    _short_command_timeout,
    _sqlite_waits_for_table_locks,
    online_station,
)


async def station_calls(station: Any, frame: list[Any]) -> list[Any]:
    """The station sends a CALL of its own; returns our answer once its effects are stored."""
    answer = await send(station, frame)
    await drain()
    return answer


async def the_command() -> Command:
    """The one command the test sent."""
    return await Command.objects.select_related("issued_by").aget()


def fields_of(record: Any, names: Any) -> dict[str, Any]:
    """``record``'s fields ``names``, datetimes as ISO 8601 text (which keeps the zone)."""
    values = {name: getattr(record, name) for name in names}
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in values.items()
    }
