"""Firmware and diagnostics: UpdateFirmware and GetDiagnostics (OCPP 1.6 §5.19, §5.9). Their
progress arrives later as FirmwareStatusNotification / DiagnosticsStatusNotification
(ocpp_gateway.handlers, csms.services.firmware).

A location may carry credentials (``ftp://user:pass@host/``, a pre-signed URL's signature):
the station receives it whole; the command, the firmware/diagnostics records built from it
and the message log keep it masked (csms.redaction.location_masked)."""

from __future__ import annotations

from csms.models import Command
from csms.redaction import location_masked
from csms.services.firmware import diagnostics_request_record, firmware_update_record
from ocpp_gateway.operations.base import Operation, Payload


def _update_firmware_answered(command: Command, response: Payload) -> None:
    firmware_update_record(command=command)


def _get_diagnostics_answered(command: Command, response: Payload) -> None:
    diagnostics_request_record(command=command, file_name=response.get("fileName"))


UPDATE_FIRMWARE = Operation(
    action="UpdateFirmware",
    answered=_update_firmware_answered,
    redact=location_masked,
    examples=(
        (
            "Install firmware at 02:00",
            {
                "location": "https://firmware.example.com/cp-2.1.0.bin",
                "retrieveDate": "2030-01-01T02:00:00Z",
                "retries": 3,
                "retryInterval": 120,
            },
        ),
    ),
)
GET_DIAGNOSTICS = Operation(
    action="GetDiagnostics",
    answered=_get_diagnostics_answered,
    redact=location_masked,
    examples=(
        (
            "Upload the last day of logs",
            {
                "location": "ftp://diagnostics.example.com/upload/",
                "retries": 3,
                "retryInterval": 60,
                "startTime": "2030-01-01T00:00:00Z",
                "stopTime": "2030-01-02T00:00:00Z",
            },
        ),
    ),
)

OPERATIONS = (UPDATE_FIRMWARE, GET_DIAGNOSTICS)
