"""TriggerMessage (OCPP 1.6 §5.17): the station sends the requested message itself, which
the matching handler stores; the answer leaves no state of its own."""

from __future__ import annotations

from ocpp_gateway.operations.base import Operation

TRIGGER_MESSAGE = Operation(
    action="TriggerMessage",
    examples=(
        ("Ask for a BootNotification", {"requestedMessage": "BootNotification"}),
        ("Ask for a Heartbeat", {"requestedMessage": "Heartbeat"}),
        (
            "Ask for connector 1's status",
            {"requestedMessage": "StatusNotification", "connectorId": 1},
        ),
        (
            "Ask for connector 1's meter values",
            {"requestedMessage": "MeterValues", "connectorId": 1},
        ),
        ("Ask for the firmware status", {"requestedMessage": "FirmwareStatusNotification"}),
        (
            "Ask for the diagnostics upload status",
            {"requestedMessage": "DiagnosticsStatusNotification"},
        ),
    ),
)

OPERATIONS = (TRIGGER_MESSAGE,)
