from __future__ import annotations

from celery import shared_task

from csms.services import logs


@shared_task
def message_log_purge() -> int:
    return logs.message_log_purge()
