"""Configuration keys: GetConfiguration and ChangeConfiguration (OCPP 1.6 §5.8, §5.3).

ChangeConfiguration of AuthorizationKey (OCPP 1.6 security whitepaper) changes the station's
Basic-auth password: the value must be 16-20 bytes written as 32-40 hex digits, and the
password is those bytes. The station receives the key; we store only the hash of the password
(on the command, then as the station's next password once it accepts) and a masked request,
snapshot and message log. The old password stays valid until the station first connects with
the new one (csms.services.stations.charge_point_authenticate).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from csms.models import ChargePoint, Command
from csms.redaction import (
    configuration_change_masked,
    configuration_report_masked,
    is_secret_configuration_key,
)
from csms.services.configuration import (
    configuration_change_record,
    configuration_snapshot_record,
)
from csms.services.stations import charge_point_password_offer
from csms.station_auth import authorization_key_password, hash_station_password
from ocpp_gateway.operations.base import Operation, Payload


def _get_configuration_answered(command: Command, response: Payload) -> None:
    configuration_snapshot_record(
        charge_point_id=command.charge_point_id,
        keys=response.get("configurationKey") or [],
        unknown=list(response.get("unknownKey") or []),
        partial=bool(command.request.get("key")),
    )


def _change_configuration_prepare(
    *, charge_point: ChargePoint, request: Payload, issued_by: Any
) -> Payload:
    if is_secret_configuration_key(request.get("key")):
        if authorization_key_password(str(request.get("value", ""))) is None:
            raise ValidationError(
                {
                    "value": "An AuthorizationKey is the station's password as 16-20 bytes "
                    "written in hex: 32-40 hex digits (an even number), e.g. 40 for 20 bytes."
                }
            )
    return request


def _change_configuration_password_hash(request: Payload) -> str:
    if not is_secret_configuration_key(request.get("key")):
        return ""
    password = authorization_key_password(str(request.get("value", "")))
    return hash_station_password(password) if password is not None else ""


def _change_configuration_answered(command: Command, response: Payload) -> None:
    status = response.get("status")
    if status in ("Accepted", "RebootRequired"):
        # command.request is the stored one: an AuthorizationKey's value is masked there, so
        # the snapshot shows the key as set without holding it.
        configuration_change_record(
            charge_point_id=command.charge_point_id,
            key=command.request["key"],
            value=command.request["value"],
            reboot_required=status == "RebootRequired",
        )
        if command.new_password_hash:
            charge_point_password_offer(
                charge_point_id=command.charge_point_id, password_hash=command.new_password_hash
            )


GET_CONFIGURATION = Operation(
    action="GetConfiguration",
    answered=_get_configuration_answered,
    redact_response=configuration_report_masked,
    examples=(
        ("Every key", {}),
        ("Some keys", {"key": ["HeartbeatInterval", "MeterValueSampleInterval"]}),
    ),
)
CHANGE_CONFIGURATION = Operation(
    action="ChangeConfiguration",
    prepare=_change_configuration_prepare,
    answered=_change_configuration_answered,
    redact=configuration_change_masked,
    password_hash=_change_configuration_password_hash,
    examples=(
        ("Heartbeat every 5 minutes", {"key": "HeartbeatInterval", "value": "300"}),
        ("Sample meter values every 60 s", {"key": "MeterValueSampleInterval", "value": "60"}),
    ),
)

OPERATIONS = (GET_CONFIGURATION, CHANGE_CONFIGURATION)
