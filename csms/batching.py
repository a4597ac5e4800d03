"""Deferred bulk writes for the gateway's group commit.

Inside a gateway batch (ocpp_gateway.committer), services hand their hot-path rows (meter
samples, the live view of running sessions) to the batch instead of writing them message by
message: the batch writes them all in one INSERT and one UPDATE before it commits, inside the
same transaction, so nothing is acknowledged before it is stored. Outside a batch (API, admin,
tests, the committer's one-by-one fallback) the same services write at once.

Contract: ``collecting()`` is entered by the committer in the database thread, inside the
batch's transaction, and ``flush()`` runs before that transaction commits. A failing flush
fails the whole transaction; the committer then replays every message on its own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone

from csms import signals
from csms.models import MeterValue, Transaction

_local = threading.local()

# Live-view columns of Transaction, in the order the bulk UPDATE takes them.
LIVE_FIELDS = ("last_meter_wh", "last_power_w", "last_soc")


# A sampled value as a plain tuple in METER_COLUMNS order: model instances and Django's
# per-field preparation were the largest Python cost left on the database thread.
MeterRow = tuple[int, int, int | None, datetime, str, Decimal | None, str, str, str, str, str, str]
METER_COLUMNS = (
    "charge_point_id",
    "connector_id",
    "transaction_id",
    "timestamp",
    "value",
    "value_decimal",
    "measurand",
    "phase",
    "unit",
    "context",
    "location",
    "format",
)
_METER_TYPES = (
    "bigint",
    "integer",
    "integer",
    "timestamptz",
    "text",
    "numeric",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
)


@dataclass
class WriteBatch:
    meter_values: list[MeterRow] = field(default_factory=list)
    # transaction id -> (time of the newest reading, newest value per live field)
    live: dict[int, tuple[datetime, dict[str, Any]]] = field(default_factory=dict)

    def add_live(self, transaction_id: int, at: datetime, values: dict[str, Any]) -> None:
        """Jobs run in arrival order, so a later reading replaces an earlier one whatever its
        timestamp; a field the later one does not carry keeps the earlier value."""
        current = self.live.get(transaction_id)
        merged = {**current[1], **values} if current else dict(values)
        self.live[transaction_id] = (at, merged)

    def flush(self) -> None:
        if self.meter_values:
            meter_values_insert(self.meter_values)
        if self.live:
            live_views_update(self.live)
        self.meter_values = []
        self.live = {}


def current() -> WriteBatch | None:
    """The batch being collected in this thread, or None (write at once)."""
    return getattr(_local, "batch", None)


@contextmanager
def collecting() -> Iterator[WriteBatch]:
    batch = WriteBatch()
    _local.batch = batch
    try:
        yield batch
    finally:
        _local.batch = None


def meter_values_insert(rows: list[MeterRow]) -> None:
    """Insert samples; a duplicate (a retried message) is skipped by the table's unique key."""
    if connection.vendor != "postgresql":
        MeterValue.objects.bulk_create(
            (MeterValue(**dict(zip(METER_COLUMNS, row, strict=True))) for row in rows),
            ignore_conflicts=True,
        )
        return
    # One statement, one array parameter per column.
    columns = list(zip(*rows, strict=True))
    arrays = ", ".join(f"%s::{kind}[]" for kind in _METER_TYPES)
    sql = (
        f"INSERT INTO {MeterValue._meta.db_table} ({', '.join(METER_COLUMNS)}) "
        f"SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(column) for column in columns])


def live_views_update(live: dict[int, tuple[datetime, dict[str, Any]]]) -> None:
    """Refresh running sessions' live figures with the readings that arrived last, and never
    touch a stopped session.

    Ordered by arrival, not by the station's timestamps: a station sends its messages one at
    a time, in order, and a reading stamped hours ahead (a wrong clock) would otherwise hold
    the view until that time. ``last_meter_at`` keeps the station's stamp as data."""
    now = timezone.now()
    if connection.vendor != "postgresql":
        updated = set()
        for tx_id, (at, values) in live.items():
            if Transaction.objects.filter(pk=tx_id, stopped_at__isnull=True).update(
                last_meter_at=at, updated_at=now, **values
            ):
                updated.add(tx_id)
        _live_signals(set(live), updated)
        return
    # One statement for every session of the batch.
    rows: list[str] = []
    params: list[Any] = []
    for tx_id, (at, values) in live.items():
        rows.append("(%s, %s, %s, %s, %s)")
        soc = values.get("last_soc")
        power = values.get("last_power_w")
        params += [
            tx_id,
            values.get("last_meter_wh"),
            Decimal(power) if power is not None else None,
            soc,
            at,
        ]
    sql = f"""
        UPDATE csms_transaction AS t SET
            last_meter_wh = COALESCE(v.wh, t.last_meter_wh),
            last_power_w = COALESCE(v.power, t.last_power_w),
            last_soc = COALESCE(v.soc, t.last_soc),
            last_meter_at = v.at,
            updated_at = %s
        FROM (VALUES {", ".join(rows)}) AS v(id, wh, power, soc, at)
        WHERE t.id = v.id::integer
          AND t.stopped_at IS NULL
        RETURNING t.id
    """
    # Typed first row: PostgreSQL infers the VALUES column types from it, and a NULL there
    # would otherwise be read as text.
    sql = sql.replace(
        "(VALUES (%s, %s, %s, %s, %s)",
        "(VALUES (%s::integer, %s::bigint, %s::numeric, %s::integer, %s::timestamptz)",
        1,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, *params])
        updated = {row[0] for row in cursor.fetchall()}
    _live_signals(set(live), updated)


def _live_signals(sent: set[int], updated: set[int]) -> None:
    """One signal each for the whole write (csms.signals): the running sessions whose live
    figures moved, and the ones the live update skipped, which are over (the ids are owned,
    existing ones): their samples arrived after the stop, which billing wants to know."""
    if updated:
        signals.transaction_meter_updated.send(sender=Transaction, transaction_ids=updated)
    late = sent - updated
    if late:
        signals.transaction_samples_late.send(sender=Transaction, transaction_ids=late)
