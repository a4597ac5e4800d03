"""Logs: DataTransfer messages in both directions, and the retention of the message log and of
status history. (The message log itself is written by the gateway's group committer, as bulk
rows.)"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from csms.models import (
    DataTransfer,
    DiagnosticsStatusEvent,
    FirmwareStatusEvent,
    MessageLog,
    StatusNotification,
)


def data_transfer_record(
    *,
    charge_point_id: int,
    vendor_id: str,
    message_id: str | None = "",
    data: str | None = "",
    response_status: str | None = "",
    response_data: str | None = "",
    direction: str = DataTransfer.Direction.IN,
) -> DataTransfer:
    """Keep a DataTransfer: one a station sent us (``IN``, with our answer) or one we sent
    (``OUT``, with the station's). Values are cut to the columns: an answer is not schema-bound."""
    return DataTransfer.objects.create(
        charge_point_id=charge_point_id,
        direction=direction,
        vendor_id=vendor_id[:255],
        message_id=(message_id or "")[:50],
        data=data or "",
        response_status=(response_status or "")[:24],
        response_data=response_data or "",
    )


def message_log_purge(*, older_than_days: int | None = None) -> int:
    """Delete message-log rows past the retention (OCPP_MESSAGE_LOG_RETENTION_DAYS)."""
    days = settings.OCPP_MESSAGE_LOG_RETENTION_DAYS if older_than_days is None else older_than_days
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = MessageLog.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def status_history_purge(*, older_than_days: int | None = None) -> int:
    """Delete status history received before the retention (OCPP_STATUS_HISTORY_RETENTION_DAYS,
    0 keeps everything): StatusNotification rows and firmware / diagnostics status events.
    A connector's current status lives on the Connector and is never touched. Returns the
    number of rows deleted."""
    days = (
        settings.OCPP_STATUS_HISTORY_RETENTION_DAYS if older_than_days is None else older_than_days
    )
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    for model in (StatusNotification, FirmwareStatusEvent, DiagnosticsStatusEvent):
        count, _ = model.objects.filter(received_at__lt=cutoff).delete()
        deleted += count
    return deleted
