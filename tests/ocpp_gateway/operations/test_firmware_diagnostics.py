"""Firmware and diagnostics (ocpp_gateway.operations.firmware_diagnostics): UpdateFirmware and
GetDiagnostics, through the API to a simulated station and back. Each accepted call is
recorded, and the station's later status notifications move the record on."""

from __future__ import annotations

import pytest

from csms.models import DiagnosticsRequest, FirmwareUpdate
from tests.ocpp_gateway.operations.conftest import fields_of, station_calls, the_command
from tests.remote_ops.conftest import round_trip

pytestmark = pytest.mark.django_db(transaction=True)

FIRMWARE = "https://firmware.example.com/cp-2.1.0.bin"
DIAGNOSTICS = "ftp://diagnostics.example.com/upload/"


@pytest.mark.parametrize(
    "action,payload,answer,sent,model,recorded,notification,status",
    [
        pytest.param(
            "UpdateFirmware",
            {
                "location": FIRMWARE,
                "retrieveDate": "2030-01-01T02:00:00+01:00",
                "retries": 3,
                "retryInterval": 120,
            },
            {},
            # Timestamps go out normalised to UTC.
            {
                "location": FIRMWARE,
                "retrieveDate": "2030-01-01T01:00:00.000Z",
                "retries": 3,
                "retryInterval": 120,
            },
            FirmwareUpdate,
            {
                "location": FIRMWARE,
                "retrieve_date": "2030-01-01T01:00:00+00:00",
                "retries": 3,
                "retry_interval": 120,
            },
            "FirmwareStatusNotification",
            "Installed",
            id="UpdateFirmware: the update, then FirmwareStatusNotification",
        ),
        pytest.param(
            "GetDiagnostics",
            {"location": DIAGNOSTICS, "retries": 3},
            {"fileName": "CP1-diag-20300101.zip"},
            {"location": DIAGNOSTICS, "retries": 3},
            DiagnosticsRequest,
            {"location": DIAGNOSTICS, "file_name": "CP1-diag-20300101.zip"},
            "DiagnosticsStatusNotification",
            "Uploaded",
            id="GetDiagnostics: the file name, then DiagnosticsStatusNotification",
        ),
    ],
)
async def test_it_records_the_call_and_its_progress_from_the_status_notifications(
    online_station,
    operator_api,
    action,
    payload,
    answer,
    sent,
    model,
    recorded,
    notification,
    status,
):
    station = await online_station("CP1")
    response, frame = await round_trip(operator_api, station, "CP1", action, payload, answer)

    assert response.json()["state"] == "answered"
    assert frame[3] == sent
    record = await model.objects.aget()
    assert fields_of(record, recorded) == recorded
    assert record.command_id == (await the_command()).pk
    # Progress arrives as the status notification and lands on the record.
    await station_calls(station, [2, "n1", notification, {"status": status}])
    await record.arefresh_from_db()
    assert record.status == status
