"""DataTransfer from the central system (OCPP 1.6 §5.6): kept with the station's answer,
beside the DataTransfers stations send us (csms.services.logs)."""

from __future__ import annotations

from csms.models import Command, DataTransfer
from csms.services.logs import data_transfer_record
from ocpp_gateway.operations.base import Operation, Payload


def _data_transfer_answered(command: Command, response: Payload) -> None:
    data_transfer_record(
        charge_point_id=command.charge_point_id,
        direction=DataTransfer.Direction.OUT,
        vendor_id=command.request["vendorId"],
        message_id=command.request.get("messageId"),
        data=command.request.get("data"),
        response_status=response.get("status"),
        response_data=response.get("data"),
    )


DATA_TRANSFER = Operation(
    action="DataTransfer",
    answered=_data_transfer_answered,
    examples=(
        (
            "Vendor-specific message",
            {"vendorId": "com.example", "messageId": "SetPrice", "data": '{"price": 0.35}'},
        ),
    ),
)

OPERATIONS = (DATA_TRANSFER,)
