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
from django.db import transaction

from csms.models import ChargePoint, MessageLog
from csms.services import charge_points_touch

logger = logging.getLogger(__name__)


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
    logs: list[MessageLog] = field(default_factory=list)
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

    def log(self, entry: MessageLog) -> None:
        """Queue a message-log row for the next batch (no waiting)."""
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


def _execute_each(batch: _Batch) -> None:
    """Fallback: one transaction per job, then the message log and 'last seen' stamps."""
    for job in batch.jobs:
        try:
            with transaction.atomic():
                job.result = job.fn(*job.args)
        except Exception as exc:
            job.error = exc
    if batch.logs:
        _write_logs_alone(batch.logs)
    if batch.seen:
        try:
            with transaction.atomic():
                charge_points_touch(last_seen=batch.seen)
        except Exception:
            logger.exception("could not store last-seen stamps")


def _write_logs_alone(logs: list[MessageLog]) -> None:
    """Store log rows in their own transaction; rows of a station deleted meanwhile are kept
    without the station link (the identity column still names it). Never raises: losing a log
    row must not fail a station's message."""
    for entry in logs:
        entry.pk = None
    try:
        with transaction.atomic():
            MessageLog.objects.bulk_create(logs)
        return
    except Exception:
        logger.warning("message-log insert failed; retrying without stale station links")
    try:
        ids = {entry.charge_point_id for entry in logs if entry.charge_point_id is not None}
        existing = set(ChargePoint.objects.filter(pk__in=ids).values_list("pk", flat=True))
        for entry in logs:
            entry.pk = None
            if entry.charge_point_id not in existing:
                entry.charge_point_id = None
        with transaction.atomic():
            MessageLog.objects.bulk_create(logs)
    except Exception:
        logger.exception("dropped %d message-log rows", len(logs))


def _execute_once(batch: _Batch, *, isolate: bool) -> None:
    with transaction.atomic():
        for job in batch.jobs:
            if not isolate:
                try:
                    job.result = job.fn(*job.args)
                except Exception as exc:
                    raise _JobFailed from exc
                continue
            try:
                with transaction.atomic():
                    job.result = job.fn(*job.args)
            except Exception as exc:
                job.error = exc
        if batch.logs:
            MessageLog.objects.bulk_create(batch.logs)
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
