"""billing's subscriptions to csms events (connected in ``BillingConfig.ready``).

csms sends these inside the transaction that stores the event, often the gateway's group
commit batch, which must stay lean and must never fail because of billing. So each receiver
only queues a task once the transaction has committed, and swallows a failure to queue it
(the broker down): ``transaction.on_commit(..., robust=True)`` plus a guard, and the beat
sweep catches whatever was not queued. Nothing here queries the database.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from django.db import transaction

from csms.models import Transaction

logger = logging.getLogger(__name__)


def _queue_on_commit(task: Task, transaction_id: int) -> None:
    def send() -> None:
        try:
            # No publish retries: with the broker away, a retrying publish would hold the
            # gateway's database thread; the beat sweep bills the session instead.
            task.apply_async((transaction_id,), retry=False)
        except Exception:
            logger.exception("could not queue %s(%s)", task.name, transaction_id)

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
