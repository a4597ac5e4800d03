"""Core domain: charge points and everything they report, plus what we send them.

Every table a station writes to on the hot path (MeterValue, MessageLog, StatusNotification
history) is append-only and indexed for the reads operators make: by station and time, by
transaction and time.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

# OCPP chargeBoxIdentity: CiString48 in 1.6 SOAP; for -J it is the last URL path segment.
# Printable, URL-safe characters only so it can sit in a URL and a channel-layer name.
IDENTITY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,47}$"
identity_validator = RegexValidator(
    IDENTITY_PATTERN,
    "Identity must be 1-48 characters: letters, digits, '.', '_', ':' or '-', "
    "starting with a letter or digit.",
)


class RegistrationStatus(models.TextChoices):
    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class ChargePoint(models.Model):
    identity = models.CharField(max_length=48, unique=True, validators=[identity_validator])
    name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    location = models.CharField(max_length=255, blank=True)
    # OCPP security profile 1: HTTP Basic password, salted hash only (csms.station_auth).
    password_hash = models.CharField(max_length=200, blank=True, editable=False)
    registration_status = models.CharField(
        max_length=16, choices=RegistrationStatus.choices, default=RegistrationStatus.ACCEPTED
    )
    heartbeat_interval = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds; empty means OCPP_HEARTBEAT_INTERVAL."
    )
    tariff = models.ForeignKey(
        "billing.Tariff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Reported by BootNotification.
    vendor = models.CharField(max_length=20, blank=True)
    model = models.CharField(max_length=20, blank=True)
    charge_point_serial_number = models.CharField(max_length=25, blank=True)
    charge_box_serial_number = models.CharField(max_length=25, blank=True)
    firmware_version = models.CharField(max_length=50, blank=True)
    iccid = models.CharField(max_length=20, blank=True)
    imsi = models.CharField(max_length=20, blank=True)
    meter_type = models.CharField(max_length=25, blank=True)
    meter_serial_number = models.CharField(max_length=25, blank=True)
    vendor_extras = models.JSONField(
        default=dict, blank=True, help_text="Non-standard fields of the last BootNotification."
    )
    last_boot_at = models.DateTimeField(null=True, blank=True)

    # Connection state, written by the gateway.
    connected = models.BooleanField(default=False)
    ws_channel_name = models.CharField(max_length=200, blank=True, editable=False)
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    remote_address = models.CharField(max_length=100, blank=True)

    firmware_status = models.CharField(max_length=32, blank=True)
    firmware_status_at = models.DateTimeField(null=True, blank=True)
    diagnostics_status = models.CharField(max_length=32, blank=True)
    diagnostics_status_at = models.DateTimeField(null=True, blank=True)

    # Remote operations state.
    local_list_version = models.IntegerField(
        null=True, blank=True, help_text="Version of the last local list the station accepted."
    )
    configuration = models.JSONField(
        default=dict, blank=True, help_text="Last GetConfiguration snapshot, by key."
    )
    configuration_at = models.DateTimeField(null=True, blank=True)
    reboot_required = models.BooleanField(default=False)
    configuration_unknown_keys = models.JSONField(
        default=list, blank=True, help_text="Keys the station did not know in GetConfiguration."
    )
    local_list_reported_version = models.IntegerField(
        null=True,
        blank=True,
        help_text="listVersion of the last GetLocalListVersion answer (-1: no local list).",
    )
    local_list_checked_at = models.DateTimeField(null=True, blank=True)
    local_list_mismatch = models.BooleanField(
        default=False,
        help_text="The station reported a list version other than the one it last accepted.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["identity"]

    def __str__(self) -> str:
        return self.identity

    @property
    def effective_heartbeat_interval(self) -> int:
        return self.heartbeat_interval or settings.OCPP_HEARTBEAT_INTERVAL

    @property
    def is_online(self) -> bool:
        """Connected, and heard from within twice the heartbeat interval."""
        if not self.connected or self.last_seen is None:
            return False
        silence = timezone.now() - self.last_seen
        return silence <= timedelta(seconds=2 * self.effective_heartbeat_interval)

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)


class ConnectionAttempt(models.Model):
    """A refused WebSocket handshake, kept so an operator can act on it."""

    class Reason(models.TextChoices):
        UNKNOWN = "unknown", "Unknown identity"
        BAD_CREDENTIALS = "bad_credentials", "Missing or wrong credentials"
        MALFORMED = "malformed", "Malformed identity"
        SUBPROTOCOL = "subprotocol", "No supported subprotocol"

    identity = models.CharField(max_length=200, db_index=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    remote_address = models.CharField(max_length=100, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.identity} ({self.reason})"


class ChargePointStatus(models.TextChoices):
    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EVSE = "SuspendedEVSE"
    SUSPENDED_EV = "SuspendedEV"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class Connector(models.Model):
    """Current state of one connector; connector 0 is the station as a whole."""

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="connectors"
    )
    connector_id = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=ChargePointStatus.choices, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    status_timestamp = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["charge_point", "connector_id"]
        constraints = [
            models.UniqueConstraint(fields=["charge_point", "connector_id"], name="uniq_connector")
        ]

    def __str__(self) -> str:
        return f"{self.charge_point_id}/{self.connector_id}"


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
            models.Index(fields=["charge_point", "-received_at"], name="statusnotif_cp_time")
        ]


class IdTag(models.Model):
    """An RFID card or app token. OCPP IdToken is case-insensitive: ``key`` is the upper-cased
    form that every lookup uses, unique so two spellings of one tag cannot coexist."""

    class Status(models.TextChoices):
        ACCEPTED = "Accepted"
        BLOCKED = "Blocked"
        EXPIRED = "Expired"
        INVALID = "Invalid"

    id_tag = models.CharField(max_length=20)
    key = models.CharField(max_length=20, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACCEPTED)
    expiry_date = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="id_tags",
        help_text="The driver this tag belongs to (wallet, orders).",
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id_tag"]
        verbose_name = "id tag"

    def __str__(self) -> str:
        return self.id_tag

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.key = self.normalize(self.id_tag)
        super().save(*args, **kwargs)

    @staticmethod
    def normalize(value: str) -> str:
        return value.strip().upper()


class Transaction(models.Model):
    """A charging session. ``id`` is the OCPP transactionId (an int32 in the protocol)."""

    id = models.AutoField(primary_key=True)
    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.PROTECT, related_name="transactions"
    )
    connector_id = models.PositiveIntegerField()
    id_tag = models.CharField(max_length=20, help_text="As the station sent it.")
    id_tag_ref = models.ForeignKey(
        IdTag, null=True, blank=True, on_delete=models.SET_NULL, related_name="transactions"
    )
    meter_start = models.BigIntegerField(help_text="Wh")
    started_at = models.DateTimeField()
    reservation_id = models.IntegerField(null=True, blank=True)
    start_status = models.CharField(
        max_length=16, default=IdTag.Status.ACCEPTED, help_text="idTagInfo status we answered."
    )

    meter_stop = models.BigIntegerField(null=True, blank=True, help_text="Wh")
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=32, blank=True)
    stop_id_tag = models.CharField(max_length=20, blank=True)
    transaction_data = models.JSONField(null=True, blank=True)
    energy_wh = models.BigIntegerField(null=True, blank=True)

    # Live view of a running session, kept current by MeterValues.
    last_meter_wh = models.BigIntegerField(null=True, blank=True)
    last_power_w = models.DecimalField(max_digits=12, decimal_places=1, null=True, blank=True)
    last_soc = models.PositiveSmallIntegerField(null=True, blank=True)
    last_meter_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # A retried StartTransaction (same content) must map to the same transaction.
            models.UniqueConstraint(
                fields=["charge_point", "connector_id", "id_tag", "meter_start", "started_at"],
                name="uniq_transaction_start",
            )
        ]
        indexes = [
            models.Index(fields=["charge_point", "-started_at"], name="tx_cp_started"),
            models.Index(fields=["id_tag", "-started_at"], name="tx_tag_started"),
            models.Index(
                fields=["charge_point", "connector_id"],
                condition=Q(stopped_at__isnull=True),
                name="tx_active",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.stopped_at is None


class UnmatchedStopTransaction(models.Model):
    """A StopTransaction for a transaction id we do not know; answered, and kept for review."""

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="unmatched_stops"
    )
    transaction_id = models.BigIntegerField()
    id_tag = models.CharField(max_length=20, blank=True)
    meter_stop = models.BigIntegerField()
    timestamp = models.DateTimeField()
    reason = models.CharField(max_length=32, blank=True)
    transaction_data = models.JSONField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]


class MeterValue(models.Model):
    """One sampledValue of a MeterValues (or StopTransaction transactionData) message."""

    id = models.BigAutoField(primary_key=True)
    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="+")
    connector_id = models.PositiveIntegerField()
    transaction = models.ForeignKey(
        Transaction, null=True, blank=True, on_delete=models.CASCADE, related_name="meter_values"
    )
    timestamp = models.DateTimeField()
    value = models.CharField(max_length=2500, help_text="As sent (SignedData can be long).")
    value_decimal = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    measurand = models.CharField(max_length=48, default="Energy.Active.Import.Register")
    phase = models.CharField(max_length=8, blank=True)
    unit = models.CharField(max_length=16, blank=True)
    context = models.CharField(max_length=24, blank=True)
    location = models.CharField(max_length=8, blank=True)
    format = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["timestamp", "id"]
        constraints = [
            # A retried MeterValues must not double the samples; this key also serves
            # station/connector time-range reads.
            models.UniqueConstraint(
                fields=[
                    "charge_point",
                    "connector_id",
                    "timestamp",
                    "measurand",
                    "phase",
                    "location",
                    "context",
                ],
                name="uniq_meter_sample",
            )
        ]
        indexes = [models.Index(fields=["transaction", "timestamp"], name="mv_tx_time")]


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


# --- Central-system-initiated operations ------------------------------------------------------


class Command(models.Model):
    """A call we send to a station, and what came of it. Durable: survives restarts, and a call
    whose answer never arrives ends as TIMED_OUT, never pending."""

    class State(models.TextChoices):
        QUEUED = "queued"
        SENT = "sent"
        ANSWERED = "answered"
        FAILED = "failed"  # CALLERROR answer, or could not be delivered
        TIMED_OUT = "timed_out"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="commands")
    action = models.CharField(max_length=40)
    request = models.JSONField(default=dict)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ocpp_commands",
    )
    source = models.CharField(max_length=20, default="api", help_text="api, admin, task, cli")
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    response = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_description = models.CharField(max_length=255, blank=True)
    error_details = models.JSONField(null=True, blank=True)
    timeout = models.FloatField(default=30.0)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["charge_point", "-created_at"], name="cmd_cp_time"),
            models.Index(fields=["state", "created_at"], name="cmd_state_time"),
        ]

    def __str__(self) -> str:
        return f"{self.action} → {self.charge_point_id} ({self.state})"

    @property
    def is_final(self) -> bool:
        return self.state in {self.State.ANSWERED, self.State.FAILED, self.State.TIMED_OUT}

    @property
    def deadline(self) -> datetime:
        """When an answer stops counting: created_at plus the command's timeout."""
        return self.created_at + timedelta(seconds=self.timeout)


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
