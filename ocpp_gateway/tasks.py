"""Celery jobs of remote operations: periodic sweeps (settings.CELERY_BEAT_SCHEDULE) and
sending a command from a worker."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.contrib.auth import get_user_model

from csms.models import ChargePoint
from csms.services import commands, reservations
from ocpp_gateway import calls, presence

# Beyond a command's own deadline: the gateway times its calls out itself, so by then only a
# command whose gateway process died is still open.
STALE_COMMAND_GRACE_SECONDS = 10.0


@shared_task
def commands_time_out_stale() -> int:
    """Close queued/sent commands that can no longer be answered (their gateway died)."""
    return commands.commands_time_out_stale(grace_seconds=STALE_COMMAND_GRACE_SECONDS)


@shared_task
def gateway_processes_reap() -> int:
    """Mark offline the stations of gateway processes that stopped heart-beating (a host that
    crashed, with no gateway process left to notice). Returns how many."""
    return presence.reap_dead_processes()


@shared_task
def reservations_expire() -> int:
    """Close reservations past their expiry date."""
    return reservations.reservations_expire()


@shared_task
def command_send_task(
    charge_point_id: int,
    action: str,
    payload: dict[str, Any],
    issued_by_id: int | None = None,
    timeout: float | None = None,
) -> str:
    """Send an OCPP call from a worker (scheduled jobs, workflows): the same path as the API,
    through the channel layer to whichever process holds the station's socket. Waits for the
    answer and returns the Command's id; its outcome is in the command log."""
    charge_point = ChargePoint.objects.get(pk=charge_point_id)
    issued_by = get_user_model().objects.filter(pk=issued_by_id).first() if issued_by_id else None
    command = calls.command_send(
        charge_point=charge_point,
        action=action,
        payload=payload,
        issued_by=issued_by,
        source="task",
        timeout=timeout,
    )
    return str(command.pk)
