"""Configuration keys: GetConfiguration and ChangeConfiguration (OCPP 1.6 §5.8, §5.3)."""

from __future__ import annotations

from csms.models import Command
from csms.services.configuration import (
    configuration_change_record,
    configuration_snapshot_record,
)
from ocpp_gateway.operations.base import Operation, Payload


def _get_configuration_answered(command: Command, response: Payload) -> None:
    configuration_snapshot_record(
        charge_point_id=command.charge_point_id,
        keys=response.get("configurationKey") or [],
        unknown=list(response.get("unknownKey") or []),
        partial=bool(command.request.get("key")),
    )


def _change_configuration_answered(command: Command, response: Payload) -> None:
    status = response.get("status")
    if status in ("Accepted", "RebootRequired"):
        configuration_change_record(
            charge_point_id=command.charge_point_id,
            key=command.request["key"],
            value=command.request["value"],
            reboot_required=status == "RebootRequired",
        )


GET_CONFIGURATION = Operation(
    action="GetConfiguration",
    answered=_get_configuration_answered,
    examples=(
        ("Every key", {}),
        ("Some keys", {"key": ["HeartbeatInterval", "MeterValueSampleInterval"]}),
    ),
)
CHANGE_CONFIGURATION = Operation(
    action="ChangeConfiguration",
    answered=_change_configuration_answered,
    examples=(
        ("Heartbeat every 5 minutes", {"key": "HeartbeatInterval", "value": "300"}),
        ("Sample meter values every 60 s", {"key": "MeterValueSampleInterval", "value": "60"}),
    ),
)

OPERATIONS = (GET_CONFIGURATION, CHANGE_CONFIGURATION)
