"""billing's subscriptions to csms events (connected in ``BillingConfig.ready``).

csms sends these inside the transaction that stores the event, often the gateway's group
commit batch, which must stay lean and must never fail because of billing. So each receiver
only queues a task once the transaction has committed, published off the gateway's thread
(``csms.publishing.task_publish_on_commit``); a failure to queue it (the broker down) is
logged and the beat sweep catches whatever was not queued. Nothing here queries the
database.
"""

from __future__ import annotations

from typing import Any

from csms.models import Transaction
from csms.publishing import task_publish_on_commit


def on_transaction_started(sender: Any, transaction: Transaction, **kwargs: Any) -> None:
    from billing.tasks import session_pricing_snapshot

    task_publish_on_commit(session_pricing_snapshot, transaction.pk)


def on_transaction_stopped(sender: Any, transaction: Transaction, **kwargs: Any) -> None:
    from billing.tasks import order_create_for_transaction

    task_publish_on_commit(order_create_for_transaction, transaction.pk)


def on_transaction_samples_late(sender: Any, transaction_ids: set[int], **kwargs: Any) -> None:
    from billing.tasks import order_reprice_for_transaction

    for transaction_id in sorted(transaction_ids):
        task_publish_on_commit(order_reprice_for_transaction, transaction_id)
