"""Group commit for the gateway.

Every station message is handled by a synchronous function run inside a database transaction,
and its answer goes out only after that transaction has committed. Committing each message on
its own would make the commit (an fsync on PostgreSQL) the cost of every frame; instead, the
messages of all stations served by this process that arrive while a commit is in flight are
run together in the next transaction; if one of them fails, the batch is replayed with a
savepoint per message so one bad message cannot undo another's work. Message-log rows and
'last seen' stamps ride along in the same transaction as bulk statements.

Django's ORM runs in one thread per process under Channels (thread-sensitive sync_to_async),
so batching costs no parallelism: it only removes commits.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from csms import batching
from csms.models import ChargePoint, MessageLog
from csms.services.stations import charge_points_touch
from ocpp_gateway import protocol

logger = logging.getLogger(__name__)
_COALESCE_YIELDS = 3


# A message-log row as a plain tuple, in LOG_COLUMNS order: building a model instance for each
# of the two frames of every call was measurable on the event loop, and COPY takes tuples.
LogRow = tuple[int | None, str, str, int | None, str, str, str, datetime]
LOG_COLUMNS = (
    "charge_point_id",
    "identity",
    "direction",
    "message_type",
    "action",
    "message_id",
    "payload",
    "created_at",
)


def log_row(
    *,
    charge_point_id: int | None,
    identity: str,
    direction: str,
    payload: str,
    message_type: int | None = None,
    action: str = "",
    message_id: str = "",
    created_at: datetime | None = None,
) -> LogRow:
    return (
        charge_point_id,
        identity,
        str(direction),  # a Direction member prints as its value; COPY wants a plain str
        message_type,
        action,
        message_id,
        payload,
        created_at or timezone.now(),
    )


@dataclass(slots=True)
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = None


@dataclass
class _Batch:
    jobs: list[_Job] = field(default_factory=list)
    logs: list[LogRow] = field(default_factory=list)
    seen: dict[int, datetime] = field(default_factory=dict)


class GroupCommitter:
    """Collects work from the consumers of one event loop and commits it in batches."""

    def __init__(self, max_batch: int) -> None:
        self.max_batch = max_batch
        self._pending = _Batch()
        self._flusher: asyncio.Task[None] | None = None
        # Counters for benchmarks and the health endpoint.
        self.batches = 0
        self.jobs = 0

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` in a savepoint of the next batch; return its result once the batch
        has committed. Raises what ``fn`` raised, or the commit's error."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.jobs.append(_Job(fn, args, future))
        self._kick()
        return await future

    def log(self, entry: LogRow) -> None:
        """Queue a message-log row (see LogRow) for the next batch (no waiting)."""
        self._pending.logs.append(entry)
        self._kick()

    def touch(self, charge_point_id: int, when: datetime) -> None:
        """Queue a 'last seen' stamp for the next batch (no waiting)."""
        self._pending.seen[charge_point_id] = when
        self._kick()

    async def drain(self) -> None:
        """Wait until everything queued so far is committed (tests, shutdown)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    def _kick(self) -> None:
        # Single-threaded event loop: a flusher that saw an empty queue finishes in the same
        # step, so checking done() here cannot miss queued work.
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    def _take(self) -> _Batch:
        pending = self._pending
        if len(pending.jobs) <= self.max_batch:
            self._pending = _Batch()
            return pending
        batch = _Batch(jobs=pending.jobs[: self.max_batch], logs=pending.logs, seen=pending.seen)
        self._pending = _Batch(jobs=pending.jobs[self.max_batch :])
        return batch

    async def _flush(self) -> None:
        while self._pending.jobs or self._pending.logs or self._pending.seen:
            # Let the frames already read from the network reach us first: answers of the last
            # batch release a burst of next messages, and a batch taken at the first of them
            # would commit it alone. A few yields add microseconds, not a timer.
            for _ in range(_COALESCE_YIELDS):
                await asyncio.sleep(0)
            batch = self._take()
            try:
                await database_sync_to_async(_execute)(batch)
            except BaseException as exc:  # the commit itself failed: nobody's work is stored
                logger.exception("group commit of %d messages failed", len(batch.jobs))
                for job in batch.jobs:
                    job.error = job.error or exc
            self.batches += 1
            self.jobs += len(batch.jobs)
            for job in batch.jobs:
                if job.future.done():  # the waiting consumer went away
                    continue
                if job.error is not None:
                    job.future.set_exception(job.error)
                else:
                    job.future.set_result(job.result)


class _JobFailed(Exception):
    """Aborts an optimistic batch so it can be replayed with savepoints."""


def _execute(batch: _Batch) -> None:
    """Run the batch in one transaction. Optimistic first: no savepoints, which would cost two
    extra round trips per message. If any job fails, that attempt is rolled back whole and the
    batch replays with a savepoint per job, so the failure stays confined to its own message.
    Jobs are pure database work, so running one twice after a rollback is safe.

    A failure no savepoint can catch (the COMMIT itself: foreign keys are checked there, so a
    row for a station deleted meanwhile fails it; or the message-log insert) would otherwise
    cost every station in the batch its message. Then each job is committed on its own."""
    try:
        try:
            _execute_once(batch, isolate=False)
        except _JobFailed:
            _reset(batch)
            _execute_once(batch, isolate=True)
    except Exception:
        logger.exception(
            "group commit failed; committing its %d messages one by one", len(batch.jobs)
        )
        _reset(batch)
        _execute_each(batch)


def _reset(batch: _Batch) -> None:
    for job in batch.jobs:
        job.result = job.error = None


def _run_each_atomic(jobs: list[_Job]) -> None:
    """Run each job in its own atomic block, keeping its result or error: one job's failure
    rolls back only its own writes. Inside a transaction each block is a savepoint (the
    replay); outside one, its own transaction (the fallback)."""
    for job in jobs:
        try:
            with transaction.atomic():
                job.result = job.fn(*job.args)
        except Exception as exc:
            job.error = exc


def _execute_each(batch: _Batch) -> None:
    """Fallback: one transaction per job, then the message log and 'last seen' stamps."""
    _run_each_atomic(batch.jobs)
    if batch.logs:
        _write_logs_alone(batch.logs)
    if batch.seen:
        try:
            with transaction.atomic():
                charge_points_touch(last_seen=batch.seen)
        except Exception:
            logger.exception("could not store last-seen stamps")


def _write_logs_alone(logs: list[LogRow]) -> None:
    """Store log rows in their own transaction. Never raises: losing a log row must not fail a
    station's message; and one row the database refuses must never cost the others theirs
    (the rows of a batch are every station's). In steps, each only if the one before failed:

    1. all rows at once;
    2. all rows repaired: rows of a station deleted meanwhile unlinked (the identity column
       still names it), text the database cannot hold escaped (lone surrogates, NULs);
    3. row by row, dropping (and logging) only a row the database still refuses."""
    try:
        with transaction.atomic():
            _insert_logs(logs)
        return
    except Exception:
        logger.warning("message-log insert failed; retrying with the rows repaired")
    repaired = _repaired(logs)
    try:
        with transaction.atomic():
            _insert_logs(repaired)
        return
    except Exception:
        logger.warning("message-log insert of repaired rows failed; storing them one by one")
    for row in repaired:
        try:
            with transaction.atomic():
                _insert_logs([row])
        except Exception:
            logger.exception("dropped a message-log row of %s", protocol.storable(row[1]))


def _repaired(logs: list[LogRow]) -> list[LogRow]:
    """The rows with stale station links cleared and every text column storable."""
    try:
        ids = {row[0] for row in logs if row[0] is not None}
        existing = set(ChargePoint.objects.filter(pk__in=ids).values_list("pk", flat=True))
    except Exception:
        logger.exception("could not check the station links of message-log rows")
        existing = set()
    return [
        (
            row[0] if row[0] in existing else None,
            protocol.storable(row[1]),
            protocol.storable(row[2]),
            row[3],
            protocol.storable(row[4]),
            protocol.storable(row[5]),
            protocol.storable(protocol.loggable(row[6])),
            row[7],
        )
        for row in logs
    ]


def _insert_logs(logs: list[LogRow]) -> None:
    """COPY on PostgreSQL (one round trip, no per-row SQL), bulk_create elsewhere."""
    if connection.vendor == "postgresql":
        table = MessageLog._meta.db_table
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} ({', '.join(LOG_COLUMNS)}) FROM STDIN") as copy:
                for row in logs:
                    copy.write_row(row)
        return
    MessageLog.objects.bulk_create(
        MessageLog(**dict(zip(LOG_COLUMNS, row, strict=True))) for row in logs
    )


def _execute_once(batch: _Batch, *, isolate: bool) -> None:
    with transaction.atomic():
        if isolate:
            # Replay: each job in its own savepoint, writing its own rows.
            _run_each_atomic(batch.jobs)
        else:
            # Optimistic: hot-path rows of every job are collected and written together.
            with batching.collecting() as writes:
                for job in batch.jobs:
                    try:
                        job.result = job.fn(*job.args)
                    except Exception as exc:
                        raise _JobFailed from exc
                writes.flush()
        if batch.logs:
            _insert_logs(batch.logs)
        if batch.seen:
            charge_points_touch(last_seen=batch.seen)


_committers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommitter] = (
    weakref.WeakKeyDictionary()
)


def get_committer() -> GroupCommitter:
    """The committer of the running event loop (one per process under daphne)."""
    loop = asyncio.get_running_loop()
    committer = _committers.get(loop)
    if committer is None:
        committer = GroupCommitter(settings.OCPP_GROUP_COMMIT_MAX_BATCH)
        _committers[loop] = committer
    return committer
