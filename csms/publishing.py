"""Queueing Celery tasks from inside the gateway's transactions without ever making a station
wait for the broker.

Receivers of csms's domain events (billing, wallet) run inside the transaction that stores the
event, often the gateway's group-commit batch. ``task_publish_on_commit`` queues a task once
that transaction has committed, and publishes it from a thread of its own: with the broker
down, kombu's connect alone takes seconds per publish even with ``retry=False``, and the
committer runs on-commit callbacks before it answers any station of the batch. The queue is
bounded: in a long outage the oldest work is not kept forever, and each app's beat sweep
catches up whatever was dropped. Under eager Celery (``make run``, tests) the task runs in
place, on the committing thread, never beside the gateway on another.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)

PUBLISH_QUEUE_SIZE = 10_000
_publish_queue: queue.Queue[tuple[Task, tuple[Any, ...]]] = queue.Queue(maxsize=PUBLISH_QUEUE_SIZE)
_publisher_lock = threading.Lock()
_publisher: threading.Thread | None = None


def _publish(task: Task, args: tuple[Any, ...]) -> None:
    try:
        # No publish retries: the apps' beat sweeps catch up a task that never got queued.
        task.apply_async(args, retry=False)
    except Exception:
        logger.exception("could not queue %s%s", task.name, args)


def _publish_forever() -> None:
    while True:
        task, args = _publish_queue.get()
        _publish(task, args)


def _hand_to_publisher(task: Task, args: tuple[Any, ...]) -> None:
    global _publisher
    with _publisher_lock:
        if _publisher is None or not _publisher.is_alive():
            _publisher = threading.Thread(
                target=_publish_forever, name="task-publisher", daemon=True
            )
            _publisher.start()
    try:
        _publish_queue.put_nowait((task, args))
    except queue.Full:
        logger.warning("publish queue full: %s%s left to the beat sweep", task.name, args)


def task_publish_on_commit(task: Task, *args: Any) -> None:
    """Queue ``task(*args)`` once the current transaction commits (at once outside one),
    published off the calling thread; a failure to publish is logged, never raised."""

    def send() -> None:
        if task.app.conf.task_always_eager:
            _publish(task, args)
        else:
            _hand_to_publisher(task, args)

    transaction.on_commit(send, robust=True)
