"""Core domain models, one module per sub-domain. Re-exported here: the app label, the
migrations and every ``from csms.models import X`` stay as they were.

Every table a station writes to on the hot path (MeterValue, MessageLog, StatusNotification
history) is append-only and indexed for the reads operators make: by station and time, by
transaction and time.
"""

from __future__ import annotations

from csms.models.authorization import IdTag
from csms.models.commands import Command
from csms.models.logs import (
    DataTransfer,
    DiagnosticsStatusEvent,
    FirmwareStatusEvent,
    MessageLog,
    StatusNotification,
)
from csms.models.operations import (
    ChargingProfile,
    CompositeSchedule,
    DiagnosticsRequest,
    FirmwareUpdate,
    Reservation,
)
from csms.models.stations import (
    CHARGE_POINT_CONFIGURATION_FIELDS,
    CHARGE_POINT_CONNECTION_FIELDS,
    CHARGE_POINT_DEVICE_FIELDS,
    CHARGE_POINT_FIRMWARE_FIELDS,
    CHARGE_POINT_LOCAL_LIST_FIELDS,
    CHARGE_POINT_REMOTE_STATE_FIELDS,
    CHARGE_POINT_SETTINGS_FIELDS,
    CONNECTOR_STATE_FIELDS,
    GATEWAY_DEAD_AFTER_BEATS,
    IDENTITY_PATTERN,
    ChargePoint,
    ChargePointStatus,
    ConnectionAttempt,
    Connector,
    GatewayProcess,
    RegistrationStatus,
    identity_validator,
)
from csms.models.transactions import (
    MeterValue,
    StaleStopReason,
    Transaction,
    UnmatchedStopTransaction,
)

__all__ = [
    "CHARGE_POINT_CONFIGURATION_FIELDS",
    "CHARGE_POINT_CONNECTION_FIELDS",
    "CHARGE_POINT_DEVICE_FIELDS",
    "CHARGE_POINT_FIRMWARE_FIELDS",
    "CHARGE_POINT_LOCAL_LIST_FIELDS",
    "CHARGE_POINT_REMOTE_STATE_FIELDS",
    "CHARGE_POINT_SETTINGS_FIELDS",
    "CONNECTOR_STATE_FIELDS",
    "GATEWAY_DEAD_AFTER_BEATS",
    "IDENTITY_PATTERN",
    "ChargePoint",
    "ChargePointStatus",
    "ChargingProfile",
    "Command",
    "CompositeSchedule",
    "ConnectionAttempt",
    "Connector",
    "DataTransfer",
    "DiagnosticsRequest",
    "DiagnosticsStatusEvent",
    "FirmwareStatusEvent",
    "FirmwareUpdate",
    "GatewayProcess",
    "IdTag",
    "MessageLog",
    "MeterValue",
    "RegistrationStatus",
    "Reservation",
    "StaleStopReason",
    "StatusNotification",
    "Transaction",
    "UnmatchedStopTransaction",
    "identity_validator",
]
