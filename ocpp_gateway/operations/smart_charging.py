"""Smart charging: SetChargingProfile, ClearChargingProfile, GetCompositeSchedule
(OCPP 1.6 §5.16-5.17, §5.5, §5.7). RemoteStartTransaction's optional charging profile is
installed through the same service (ocpp_gateway.operations.remote_control)."""

from __future__ import annotations

from typing import Any

from csms.models import Command
from csms.services.smart_charging import (
    charging_profile_install,
    charging_profiles_clear,
    composite_schedule_record,
)
from ocpp_gateway.operations.base import Operation, Payload


def _set_charging_profile_answered(command: Command, response: Payload) -> None:
    if response.get("status") == "Accepted":
        charging_profile_install(
            charge_point_id=command.charge_point_id,
            connector_id=command.request["connectorId"],
            profile=command.request["csChargingProfiles"],
            command=command,
        )


def _clear_charging_profile_answered(command: Command, response: Payload) -> None:
    if response.get("status") == "Accepted":
        request = command.request
        charging_profiles_clear(
            charge_point_id=command.charge_point_id,
            profile_id=request.get("id"),
            connector_id=request.get("connectorId"),
            purpose=request.get("chargingProfilePurpose"),
            stack_level=request.get("stackLevel"),
        )


def _get_composite_schedule_answered(command: Command, response: Payload) -> None:
    composite_schedule_record(
        command=command,
        connector_id=response.get("connectorId", command.request["connectorId"]),
        status=response.get("status", ""),
        start=response.get("scheduleStart"),
        schedule=response.get("chargingSchedule"),
    )


def _daily_default_profile() -> dict[str, Any]:
    return {
        "chargingProfileId": 10,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Recurring",
        "recurrencyKind": "Daily",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": "2030-01-01T00:00:00Z",
            "duration": 86400,
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 16.0},
                {"startPeriod": 28800, "limit": 32.0},
            ],
        },
    }


SET_CHARGING_PROFILE = Operation(
    action="SetChargingProfile",
    answered=_set_charging_profile_answered,
    examples=(
        (
            "Daily default: 16 A at night, 32 A from 08:00",
            {"connectorId": 1, "csChargingProfiles": _daily_default_profile()},
        ),
        (
            "Station-wide cap of 22 kW",
            {
                "connectorId": 0,
                "csChargingProfiles": {
                    "chargingProfileId": 1,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "ChargePointMaxProfile",
                    "chargingProfileKind": "Absolute",
                    "chargingSchedule": {
                        "chargingRateUnit": "W",
                        "startSchedule": "2030-01-01T00:00:00Z",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 22000.0}],
                    },
                },
            },
        ),
    ),
)
CLEAR_CHARGING_PROFILE = Operation(
    action="ClearChargingProfile",
    answered=_clear_charging_profile_answered,
    examples=(
        ("Clear profile 10", {"id": 10}),
        (
            "Clear the default profiles of connector 1",
            {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile"},
        ),
        ("Clear every profile", {}),
    ),
)
GET_COMPOSITE_SCHEDULE = Operation(
    action="GetCompositeSchedule",
    answered=_get_composite_schedule_answered,
    examples=(
        (
            "Connector 1, next hour, in watts",
            {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"},
        ),
    ),
)

OPERATIONS = (SET_CHARGING_PROFILE, CLEAR_CHARGING_PROFILE, GET_COMPOSITE_SCHEDULE)
