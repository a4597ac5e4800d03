"""Periodic jobs of remote operations (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from csms import services

# Beyond a command's own deadline: the gateway times its calls out itself, so by then only a
# command whose gateway process died is still open.
STALE_COMMAND_GRACE_SECONDS = 10.0


@shared_task
def commands_time_out_stale() -> int:
    """Close queued/sent commands that can no longer be answered (their gateway died)."""
    return services.commands_time_out_stale(grace_seconds=STALE_COMMAND_GRACE_SECONDS)


@shared_task
def reservations_expire() -> int:
    """Close reservations past their expiry date."""
    return services.reservations_expire()
