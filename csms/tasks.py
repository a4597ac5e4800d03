from __future__ import annotations

from celery import shared_task

from csms.services import logs, transactions


@shared_task
def message_log_purge() -> int:
    return logs.message_log_purge()


@shared_task
def transactions_close_stale() -> int:
    """Close sessions whose connector has been Available past the grace (every minute)."""
    return transactions.transactions_close_stale_available()
