"""The local authorization list and the authorization cache: SendLocalList,
GetLocalListVersion, ClearCache (OCPP 1.6 §5.16, §5.10, §5.4)."""

from __future__ import annotations

from csms.models import ChargePoint, Command
from csms.services.authorization import (
    local_list_entries,
    local_list_next_version,
    local_list_record_answer,
    local_list_record_version,
)
from ocpp_gateway.operations.base import Operation, Payload


def _send_local_list_complete(charge_point: ChargePoint, payload: Payload) -> Payload:
    """The version (one above the station's accepted one) and, when no list is given, the
    whole id-tag registry."""
    if isinstance(payload.get("updateType"), str):
        if "listVersion" not in payload:  # not setdefault: that would query even when given
            payload["listVersion"] = local_list_next_version(charge_point=charge_point)
        if "localAuthorizationList" not in payload:
            payload["localAuthorizationList"] = local_list_entries(
                update_type=payload["updateType"]
            )
    return payload


def _send_local_list_answered(command: Command, response: Payload) -> None:
    local_list_record_answer(
        charge_point_id=command.charge_point_id,
        status=response.get("status", ""),
        version=command.request.get("listVersion"),
    )


def _get_local_list_version_answered(command: Command, response: Payload) -> None:
    local_list_record_version(
        charge_point_id=command.charge_point_id, reported=response.get("listVersion")
    )


SEND_LOCAL_LIST = Operation(
    action="SendLocalList",
    complete=_send_local_list_complete,
    answered=_send_local_list_answered,
    examples=(
        ("Full list from the id-tag registry (version assigned)", {"updateType": "Full"}),
        (
            "Full list, given explicitly",
            {
                "listVersion": 5,
                "updateType": "Full",
                "localAuthorizationList": [
                    {"idTag": "04A2B3C4", "idTagInfo": {"status": "Accepted"}},
                    {
                        "idTag": "04D5E6F7",
                        "idTagInfo": {"status": "Accepted", "expiryDate": "2030-12-31T23:59:59Z"},
                    },
                ],
            },
        ),
        (
            "Differential: block one tag, remove another",
            {
                "listVersion": 6,
                "updateType": "Differential",
                "localAuthorizationList": [
                    {"idTag": "04A2B3C4", "idTagInfo": {"status": "Blocked"}},
                    {"idTag": "04D5E6F7"},
                ],
            },
        ),
    ),
)
GET_LOCAL_LIST_VERSION = Operation(
    action="GetLocalListVersion",
    answered=_get_local_list_version_answered,
    examples=(("Which local list version the station has", {}),),
)
# The station's authorization cache is its own; we keep no copy of it.
CLEAR_CACHE = Operation(action="ClearCache", examples=(("Clear the authorization cache", {}),))

OPERATIONS = (SEND_LOCAL_LIST, GET_LOCAL_LIST_VERSION, CLEAR_CACHE)
