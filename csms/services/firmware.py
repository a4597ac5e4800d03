"""Firmware updates and diagnostics uploads: the requests we sent, and the progress the
station reports for them (FirmwareStatusNotification, DiagnosticsStatusNotification)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils import timezone

from csms.models import (
    ChargePoint,
    Command,
    DiagnosticsRequest,
    DiagnosticsStatusEvent,
    FirmwareStatusEvent,
    FirmwareUpdate,
)
from csms.services.common import stored_datetime_required


@dataclass(frozen=True, slots=True)
class _StatusKind:
    """Where one kind of status notification is kept."""

    event: type[models.Model]  # history row per notification
    request: type[models.Model]  # the request whose progress it reports
    status_field: str  # ChargePoint column holding the latest status ('<field>_at' its time)
    # Statuses that end a request. A notification after one of them (typically Idle, e.g. on
    # TriggerMessage) is about no request and must not rewrite it.
    final: frozenset[str]


_FIRMWARE = _StatusKind(
    FirmwareStatusEvent,
    FirmwareUpdate,
    "firmware_status",
    frozenset({"Installed", "InstallationFailed", "DownloadFailed"}),
)
_DIAGNOSTICS = _StatusKind(
    DiagnosticsStatusEvent,
    DiagnosticsRequest,
    "diagnostics_status",
    frozenset({"Uploaded", "UploadFailed"}),
)


def _status_record(kind: _StatusKind, *, charge_point: ChargePoint, status: str) -> None:
    now = timezone.now()
    kind.event._default_manager.create(charge_point=charge_point, status=status, received_at=now)
    ChargePoint.objects.filter(pk=charge_point.pk).update(
        **{kind.status_field: status, f"{kind.status_field}_at": now}
    )
    latest = (
        kind.request._default_manager.filter(charge_point=charge_point)
        .order_by("-created_at")
        .values_list("pk", "status")
        .first()
    )
    if latest is not None and status != "Idle" and latest[1] not in kind.final:
        kind.request._default_manager.filter(pk=latest[0]).update(status=status, updated_at=now)


def firmware_status_record(*, charge_point: ChargePoint, status: str) -> None:
    """Station state plus history; progress of the latest UpdateFirmware still under way."""
    _status_record(_FIRMWARE, charge_point=charge_point, status=status)


def diagnostics_status_record(*, charge_point: ChargePoint, status: str) -> None:
    """Station state plus history; progress of the latest GetDiagnostics still under way."""
    _status_record(_DIAGNOSTICS, charge_point=charge_point, status=status)


def firmware_update_record(*, command: Command) -> FirmwareUpdate:
    """The station took an UpdateFirmware: follow it (its progress arrives as notifications)."""
    request = command.request
    return FirmwareUpdate.objects.create(
        charge_point_id=command.charge_point_id,
        location=request["location"][:512],
        retrieve_date=stored_datetime_required(request["retrieveDate"]),
        retries=request.get("retries"),
        retry_interval=request.get("retryInterval"),
        command=command,
    )


def diagnostics_request_record(*, command: Command, file_name: Any) -> DiagnosticsRequest:
    """The station took a GetDiagnostics and named the file it will upload (maybe none)."""
    return DiagnosticsRequest.objects.create(
        charge_point_id=command.charge_point_id,
        location=command.request["location"][:512],
        file_name=(file_name or "")[:255],
        command=command,
    )
