from __future__ import annotations

from celery import shared_task

from csms import services


@shared_task
def message_log_purge() -> int:
    return services.message_log_purge()
