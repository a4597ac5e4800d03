"""Stations: registration, credentials, connection state, connectors."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
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
    # OCPP security profile 1: HTTP Basic password, keyed salted hash only (csms.station_auth).
    password_hash = models.CharField(max_length=200, blank=True, editable=False)
    # A new password the station accepted (ChangeConfiguration AuthorizationKey): valid beside
    # password_hash until the station first connects with it, which makes it the password.
    password_hash_next = models.CharField(max_length=200, blank=True, editable=False)
    registration_status = models.CharField(
        max_length=16, choices=RegistrationStatus.choices, default=RegistrationStatus.ACCEPTED
    )
    heartbeat_interval = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds; empty means OCPP_HEARTBEAT_INTERVAL."
    )
    # Where the station is (billing.Site): its time zone is the one tariff time-of-day rules
    # are read in. A link in the schema by app label, so csms imports nothing of billing.
    # Which tariff applies is billing's (TariffAssignment), not a field of the station.
    site = models.ForeignKey(
        "billing.Site",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="charge_points",
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
    # The GatewayProcess holding the socket: when that process dies (kill -9, a crashed host)
    # its stations are marked offline by the next process that sees it dead.
    gateway_process = models.CharField(max_length=32, blank=True, editable=False, db_index=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    remote_address = models.CharField(max_length=100, blank=True)

    # The station's clock against ours, from the timestamps of its frames
    # (csms.services.stations.charge_point_clock_observe); the flag is ``clock_skewed``.
    clock_offset_seconds = models.IntegerField(
        null=True,
        blank=True,
        help_text="Station clock minus server clock, in seconds (positive: the station is ahead).",
    )
    clock_offset_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When this offset was measured; it is stored again only when it moves.",
    )

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

    @property
    def password_change_pending(self) -> bool:
        """The station accepted a new AuthorizationKey and has not connected with it yet."""
        return bool(self.password_hash_next)

    @property
    def clock_skewed(self) -> bool:
        """The station's clock is off by more than OCPP_CLOCK_SKEW_TOLERANCE seconds."""
        offset = self.clock_offset_seconds
        return offset is not None and abs(offset) > settings.OCPP_CLOCK_SKEW_TOLERANCE


class GatewayProcess(models.Model):
    """A running gateway (daphne) process, which may hold station sockets.

    It writes ``heartbeat_at`` every OCPP_GATEWAY_HEARTBEAT_INTERVAL seconds. It is dead when
    the heartbeat is older than GATEWAY_DEAD_AFTER_BEATS intervals, or, seen from a process on
    the same host, when no process runs with its pid (or the looking process has its pid: a
    restarted container). The stations a dead process held are marked offline and its row
    deleted (csms.services.stations.gateway_processes_reap)."""

    id = models.CharField(primary_key=True, max_length=32)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()

    class Meta:
        ordering = ["started_at"]

    def __str__(self) -> str:
        return f"{self.host}:{self.pid} ({self.id})"


# Missed heartbeats after which a gateway process counts as dead.
GATEWAY_DEAD_AFTER_BEATS = 3


class ConnectionAttempt(models.Model):
    """Refused WebSocket handshakes, kept so an operator can act on them. Repeats of one
    identity from one address for one reason share a row: ``count`` of them, the first at
    ``created_at``, the latest at ``last_at`` (csms.services.stations.connection_attempt_record)."""

    class Reason(models.TextChoices):
        UNKNOWN = "unknown", "Unknown identity"
        BAD_CREDENTIALS = "bad_credentials", "Missing or wrong credentials"
        MALFORMED = "malformed", "Malformed identity"
        SUBPROTOCOL = "subprotocol", "No supported subprotocol"
        THROTTLED = "throttled", "Too many failed attempts"

    identity = models.CharField(max_length=200, db_index=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    remote_address = models.CharField(max_length=100, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-last_at", "-id"]

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


# Connector codes: what a driver types (or a QR code carries) to start charging at a connector.
# No 0/O or 1/I: a code is read off a sticker.
CONNECTOR_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CONNECTOR_CODE_LENGTH = 8


def connector_code_new() -> str:
    return "".join(secrets.choice(CONNECTOR_CODE_ALPHABET) for _ in range(CONNECTOR_CODE_LENGTH))


class Connector(models.Model):
    """Current state of one connector; connector 0 is the station as a whole."""

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="connectors"
    )
    connector_id = models.PositiveIntegerField()
    code = models.CharField(
        max_length=16,
        unique=True,
        default=connector_code_new,
        help_text="What a driver types, or scans from the connector's QR code, to charge here.",
    )
    status = models.CharField(max_length=16, choices=ChargePointStatus.choices, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    status_timestamp = models.DateTimeField(
        null=True, blank=True, help_text="The station's timestamp of the current status."
    )
    status_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the current status arrived (server clock); a repeat does not move it.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["charge_point", "connector_id"]
        constraints = [
            models.UniqueConstraint(fields=["charge_point", "connector_id"], name="uniq_connector")
        ]

    def __str__(self) -> str:
        return f"{self.charge_point_id}/{self.connector_id}"


# Field groups of a station, in display order: the API's serializer and the admin's page show
# the same fields from these lists (csms.api.stations, csms.admin.stations).
CHARGE_POINT_SETTINGS_FIELDS = (
    "identity",
    "name",
    "description",
    "location",
    "registration_status",
    "heartbeat_interval",
    "site",
)
CHARGE_POINT_CONNECTION_FIELDS = (
    "connected",
    "last_seen",
    "connected_at",
    "disconnected_at",
    "remote_address",
    "clock_offset_seconds",
    "clock_offset_at",
)
# What BootNotification reports (csms.services.stations.BOOT_FIELDS maps the OCPP names).
CHARGE_POINT_DEVICE_FIELDS = (
    "vendor",
    "model",
    "charge_point_serial_number",
    "charge_box_serial_number",
    "firmware_version",
    "iccid",
    "imsi",
    "meter_type",
    "meter_serial_number",
    "vendor_extras",
    "last_boot_at",
)
CHARGE_POINT_FIRMWARE_FIELDS = (
    "firmware_status",
    "firmware_status_at",
    "diagnostics_status",
    "diagnostics_status_at",
)
CHARGE_POINT_LOCAL_LIST_FIELDS = (
    "local_list_version",
    "local_list_reported_version",
    "local_list_checked_at",
    "local_list_mismatch",
)
CHARGE_POINT_CONFIGURATION_FIELDS = (
    "configuration",
    "configuration_unknown_keys",
    "configuration_at",
    "reboot_required",
)
# What remote operations leave on the station (SendLocalList, GetConfiguration, ...).
CHARGE_POINT_REMOTE_STATE_FIELDS = (
    CHARGE_POINT_LOCAL_LIST_FIELDS + CHARGE_POINT_CONFIGURATION_FIELDS
)
CONNECTOR_STATE_FIELDS = (
    "connector_id",
    "status",
    "error_code",
    "info",
    "vendor_id",
    "vendor_error_code",
    "status_timestamp",
    "status_since",
)
