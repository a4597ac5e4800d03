"""Celery tasks of billing: each takes ids (never model instances) and calls one service.

None of them raises: ``billing.services.orders.billing_run`` records a failure for the retry
task instead, so an eager run (``make run``, ``manage.py periodic``) never hands a billing
error to its caller. Worker crashes are covered by CELERY_TASK_ACKS_LATE (the task runs
again) and by the idempotent services.
"""

from __future__ import annotations

import logging

from celery import shared_task

from billing.models import BillingFailure
from billing.services import orders

logger = logging.getLogger(__name__)


@shared_task
def session_pricing_snapshot(transaction_id: int) -> bool:
    """Freeze the tariff onto a session that just started (queued on the start's commit)."""
    try:
        orders.session_pricing_snapshot(transaction_id=transaction_id)
    except Exception:  # the sweep snapshots it later, with the tariff at its start
        logger.exception("tariff snapshot of transaction %s failed", transaction_id)
        return False
    return True


@shared_task
def order_create_for_transaction(transaction_id: int) -> bool:
    """Bill a stopped session: its order (queued on the StopTransaction's commit)."""
    return orders.billing_run(transaction_id=transaction_id, kind=BillingFailure.Kind.ORDER)


@shared_task
def order_reprice_for_transaction(transaction_id: int) -> bool:
    """Re-price a billed session after late samples (queued on their commit)."""
    return orders.billing_run(transaction_id=transaction_id, kind=BillingFailure.Kind.REPRICE)


@shared_task
def billing_sweep() -> dict[str, int]:
    """Beat: missing snapshots, sessions without an order, late samples (every minute)."""
    return orders.billing_sweep()


@shared_task
def billing_failures_retry() -> int:
    """Beat: failed billing whose backoff has passed (every minute)."""
    return orders.billing_failures_retry()
