"""Remote control: RemoteStartTransaction, RemoteStopTransaction, Reset, UnlockConnector,
ChangeAvailability (OCPP 1.6 §5.11, §5.12, §5.14, §5.18, §5.2). What they cause arrives as
station messages (StartTransaction, StatusNotification, BootNotification...); only a
RemoteStart's charging profile and a Reset's reboot leave state here."""

from __future__ import annotations

from csms.models import Command
from csms.services.configuration import configuration_rebooted
from csms.services.smart_charging import charging_profile_install
from ocpp_gateway.operations.base import Operation, Payload


def _remote_start_answered(command: Command, response: Payload) -> None:
    profile = command.request.get("chargingProfile")
    if response.get("status") == "Accepted" and profile:
        charging_profile_install(
            charge_point_id=command.charge_point_id,
            connector_id=command.request.get("connectorId", 0),
            profile=profile,
            command=command,
        )


def _reset_answered(command: Command, response: Payload) -> None:
    if response.get("status") == "Accepted":
        configuration_rebooted(charge_point_id=command.charge_point_id)


REMOTE_START_TRANSACTION = Operation(
    action="RemoteStartTransaction",
    answered=_remote_start_answered,
    examples=(
        ("Start for a tag (the station picks the connector)", {"idTag": "04A2B3C4"}),
        ("Start for a tag on connector 1", {"idTag": "04A2B3C4", "connectorId": 1}),
        (
            "Start with a 16 A limit for the session",
            {
                "idTag": "04A2B3C4",
                "connectorId": 1,
                "chargingProfile": {
                    "chargingProfileId": 100,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "TxProfile",
                    "chargingProfileKind": "Relative",
                    "chargingSchedule": {
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
                    },
                },
            },
        ),
    ),
)
REMOTE_STOP_TRANSACTION = Operation(
    action="RemoteStopTransaction",
    examples=(("Stop transaction 42", {"transactionId": 42}),),
)
RESET = Operation(
    action="Reset",
    answered=_reset_answered,
    examples=(("Soft reset", {"type": "Soft"}), ("Hard reset (reboot)", {"type": "Hard"})),
)
UNLOCK_CONNECTOR = Operation(
    action="UnlockConnector", examples=(("Unlock connector 1", {"connectorId": 1}),)
)
CHANGE_AVAILABILITY = Operation(
    action="ChangeAvailability",
    examples=(
        ("Take connector 1 out of service", {"connectorId": 1, "type": "Inoperative"}),
        ("Put the whole station back in service", {"connectorId": 0, "type": "Operative"}),
    ),
)

OPERATIONS = (
    REMOTE_START_TRANSACTION,
    REMOTE_STOP_TRANSACTION,
    RESET,
    UNLOCK_CONNECTOR,
    CHANGE_AVAILABILITY,
)
