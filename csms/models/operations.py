"""State that central-system operations leave behind: reservations, charging profiles and
composite schedules, firmware updates and diagnostics requests."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from csms.models.commands import Command
from csms.models.stations import ChargePoint
from csms.models.transactions import Transaction


class Reservation(models.Model):
    class State(models.TextChoices):
        REQUESTED = "requested"  # ReserveNow sent, no answer yet
        ACTIVE = "active"  # station accepted
        REJECTED = "rejected"  # Faulted / Occupied / Rejected / Unavailable
        USED = "used"  # consumed by a StartTransaction
        CANCELLED = "cancelled"
        EXPIRED = "expired"

    id = models.AutoField(primary_key=True)  # the OCPP reservationId
    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="reservations"
    )
    connector_id = models.PositiveIntegerField()
    id_tag = models.CharField(max_length=20)
    parent_id_tag = models.CharField(max_length=20, blank=True)
    expiry_date = models.DateTimeField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.REQUESTED)
    station_status = models.CharField(max_length=16, blank=True)
    transaction = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "expiry_date"], name="resv_state_expiry")]


class ChargingProfile(models.Model):
    """A charging profile as we sent it (SetChargingProfile.csChargingProfiles)."""

    class Purpose(models.TextChoices):
        CHARGE_POINT_MAX = "ChargePointMaxProfile"
        TX_DEFAULT = "TxDefaultProfile"
        TX = "TxProfile"

    class Kind(models.TextChoices):
        ABSOLUTE = "Absolute"
        RECURRING = "Recurring"
        RELATIVE = "Relative"

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="charging_profiles"
    )
    connector_id = models.PositiveIntegerField()
    profile_id = models.IntegerField(help_text="chargingProfileId")
    transaction = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    stack_level = models.PositiveIntegerField()
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    recurrency_kind = models.CharField(max_length=8, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True)
    charging_rate_unit = models.CharField(max_length=1, help_text="A or W")
    duration = models.IntegerField(null=True, blank=True)
    start_schedule = models.DateTimeField(null=True, blank=True)
    min_charging_rate = models.DecimalField(max_digits=10, decimal_places=1, null=True, blank=True)
    schedule_periods = models.JSONField(default=list)
    active = models.BooleanField(default=True, help_text="Installed on the station (not cleared).")
    command = models.ForeignKey(
        Command, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["charge_point", "connector_id", "-stack_level"]


class CompositeSchedule(models.Model):
    """A GetCompositeSchedule answer, kept for display."""

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="composite_schedules"
    )
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=16)
    schedule_start = models.DateTimeField(null=True, blank=True)
    charging_schedule = models.JSONField(null=True, blank=True)
    command = models.ForeignKey(
        Command, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]


class FirmwareUpdate(models.Model):
    """An UpdateFirmware request; its progress arrives as FirmwareStatusNotification."""

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="firmware_updates"
    )
    location = models.URLField(max_length=512)
    retrieve_date = models.DateTimeField()
    retries = models.PositiveIntegerField(null=True, blank=True)
    retry_interval = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=32, blank=True)
    command = models.ForeignKey(
        Command, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]


class DiagnosticsRequest(models.Model):
    """A GetDiagnostics request; the station answers with the file name it will upload."""

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="diagnostics_requests"
    )
    location = models.CharField(max_length=512)
    file_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=32, blank=True)
    command = models.ForeignKey(
        Command, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
