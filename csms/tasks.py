from __future__ import annotations

from celery import shared_task

from csms.services import logs, stations, transactions


@shared_task
def message_log_purge() -> int:
    return logs.message_log_purge()


@shared_task
def station_history_purge() -> dict[str, int]:
    """Hourly: refused handshakes and status history past their retention settings."""
    return {
        "connection_attempts": stations.connection_attempts_purge(),
        "status_history": logs.status_history_purge(),
    }


@shared_task
def transactions_close_stale() -> int:
    """Close sessions whose connector has been Available past the grace (every minute)."""
    return transactions.transactions_close_stale_available()
