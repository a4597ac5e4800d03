"""Logs: what stations reported, kept as history: every frame (message log), every status
notification, firmware and diagnostics status events, DataTransfer messages."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from csms.models.stations import ChargePoint


class StatusNotification(models.Model):
    """History: every StatusNotification as reported."""

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="status_notifications"
    )
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=16)
    error_code = models.CharField(max_length=32)
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    timestamp = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["charge_point", "-received_at"], name="statusnotif_cp_time"),
            # The retention purge (csms.services.logs.status_history_purge) reads by age alone.
            models.Index(fields=["received_at"], name="statusnotif_time"),
        ]


class MessageLog(models.Model):
    """Every OCPP frame in and out, verbatim, for debugging. Purged after the retention."""

    class Direction(models.TextChoices):
        IN = "in", "Station → CSMS"
        OUT = "out", "CSMS → Station"

    id = models.BigAutoField(primary_key=True)
    charge_point = models.ForeignKey(
        ChargePoint, null=True, blank=True, on_delete=models.CASCADE, related_name="message_logs"
    )
    identity = models.CharField(max_length=200)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    message_type = models.PositiveSmallIntegerField(null=True, blank=True)
    action = models.CharField(max_length=64, blank=True)
    message_id = models.CharField(max_length=64, blank=True)
    payload = models.TextField(help_text="The frame exactly as sent or received.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["identity", "-created_at"], name="msglog_identity_time"),
            models.Index(fields=["created_at"], name="msglog_time"),
        ]


class DataTransfer(models.Model):
    class Direction(models.TextChoices):
        IN = "in", "Station → CSMS"
        OUT = "out", "CSMS → Station"

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="data_transfers"
    )
    direction = models.CharField(max_length=3, choices=Direction.choices, default=Direction.IN)
    vendor_id = models.CharField(max_length=255)
    message_id = models.CharField(max_length=50, blank=True)
    data = models.TextField(blank=True)
    response_status = models.CharField(max_length=24, blank=True)
    response_data = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]


class FirmwareStatusEvent(models.Model):
    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="firmware_events"
    )
    status = models.CharField(max_length=32)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]


class DiagnosticsStatusEvent(models.Model):
    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="diagnostics_events"
    )
    status = models.CharField(max_length=32)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
