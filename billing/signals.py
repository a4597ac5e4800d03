"""billing's subscriptions to csms events (connected in ``BillingConfig.ready``).

csms sends these inside the transaction that stores the event, often the gateway's group
commit batch, which must stay lean and must never fail because of billing. So each receiver
only queues a task once the transaction has committed, and swallows a failure to queue it
(the broker down): ``transaction.on_commit(..., robust=True)`` plus a guard, and the beat
sweep catches whatever was not queued. Nothing here queries the database.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from celery import Task
from django.db import transaction

from csms.models import Transaction

logger = logging.getLogger(__name__)


# Publishing to the broker happens on a thread of its own, never on the committer's: with the
# broker down, kombu's connect alone takes seconds per publish even with retry=False, and the
# committer runs on_commit callbacks before it answers any station of the batch. Bounded: in a
# long outage the oldest work is not kept forever, the beat sweep bills whatever was dropped.
_PUBLISH_QUEUE_SIZE = 10_000
_publish_queue: queue.Queue[tuple[Task, int]] = queue.Queue(maxsize=_PUBLISH_QUEUE_SIZE)
_publisher_lock = threading.Lock()
_publisher: threading.Thread | None = None


def _publish_forever() -> None:
    while True:
        task, transaction_id = _publish_queue.get()
        _publish(task, transaction_id)


def _publish(task: Task, transaction_id: int) -> None:
    try:
        # No publish retries: the beat sweep bills a session whose task never got queued.
        task.apply_async((transaction_id,), retry=False)
    except Exception:
        logger.exception("could not queue %s(%s)", task.name, transaction_id)


def _hand_to_publisher(task: Task, transaction_id: int) -> None:
    global _publisher
    with _publisher_lock:
        if _publisher is None or not _publisher.is_alive():
            _publisher = threading.Thread(
                target=_publish_forever, name="billing-publisher", daemon=True
            )
            _publisher.start()
    try:
        _publish_queue.put_nowait((task, transaction_id))
    except queue.Full:
        logger.warning(
            "billing publish queue full: %s(%s) left to the sweep", task.name, transaction_id
        )


def _queue_on_commit(task: Task, transaction_id: int) -> None:
    def send() -> None:
        if task.app.conf.task_always_eager:
            # No broker (make run, tests): the task runs here and now, and must not run
            # beside the gateway on another thread.
            _publish(task, transaction_id)
        else:
            _hand_to_publisher(task, transaction_id)

    transaction.on_commit(send, robust=True)


def on_transaction_started(sender: Any, transaction: Transaction, **kwargs: Any) -> None:
    from billing.tasks import session_pricing_snapshot

    _queue_on_commit(session_pricing_snapshot, transaction.pk)


def on_transaction_stopped(sender: Any, transaction: Transaction, **kwargs: Any) -> None:
    from billing.tasks import order_create_for_transaction

    _queue_on_commit(order_create_for_transaction, transaction.pk)


def on_transaction_samples_late(sender: Any, transaction_ids: set[int], **kwargs: Any) -> None:
    from billing.tasks import order_reprice_for_transaction

    for transaction_id in sorted(transaction_ids):
        _queue_on_commit(order_reprice_for_transaction, transaction_id)
