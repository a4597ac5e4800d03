"""History reads: a station's message log and its status notifications."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from csms.models import ChargePoint, MessageLog, StatusNotification


def message_log_list(
    *,
    charge_point: ChargePoint,
    action: str | None = None,
    direction: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[MessageLog]:
    """A station's frames, newest first. Filters on identity so the read uses the
    (identity, -created_at) index."""
    qs = MessageLog.objects.filter(identity=charge_point.identity)
    if action:
        qs = qs.filter(action=action)
    if direction:
        qs = qs.filter(direction=direction)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs.order_by("-created_at", "-id")


def status_history_list(
    *,
    charge_point: ChargePoint,
    connector_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[StatusNotification]:
    """Every StatusNotification the station sent, newest first (by time of receipt)."""
    qs = StatusNotification.objects.filter(charge_point=charge_point)
    if connector_id is not None:
        qs = qs.filter(connector_id=connector_id)
    if since:
        qs = qs.filter(received_at__gte=since)
    if until:
        qs = qs.filter(received_at__lt=until)
    return qs.order_by("-received_at", "-id")
