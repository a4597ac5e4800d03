"""Firmware and diagnostics (ocpp_gateway.operations.firmware_diagnostics): UpdateFirmware and
GetDiagnostics, through the API to a simulated station and back. Each accepted call is
recorded, and the station's later status notifications move the record on."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from csms.models import Command, DiagnosticsRequest, FirmwareUpdate, MessageLog
from tests.ocpp_gateway.operations.conftest import fields_of, station_calls, the_command
from tests.ocpp_gateway.support import drain
from tests.remote_ops.conftest import api_get, round_trip

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


# --- Credentials in the location ------------------------------------------------------------

SECRET = "pa55-w0rd-in-url"


@pytest.mark.parametrize(
    "action,payload,answer,model,sent_location,shown_location",
    [
        pytest.param(
            "UpdateFirmware",
            {
                "location": f"ftp://fw-user:{SECRET}@firmware.example.com/cp-2.1.0.bin",
                "retrieveDate": "2030-01-01T02:00:00Z",
            },
            {},
            FirmwareUpdate,
            f"ftp://fw-user:{SECRET}@firmware.example.com/cp-2.1.0.bin",
            "ftp://fw-user:***@firmware.example.com/cp-2.1.0.bin",
            id="UpdateFirmware: user info",
        ),
        pytest.param(
            "UpdateFirmware",
            {
                "location": f"https://bucket.example.com/fw.bin?X-Amz-Signature={SECRET}&v=2",
                "retrieveDate": "2030-01-01T02:00:00Z",
            },
            {},
            FirmwareUpdate,
            f"https://bucket.example.com/fw.bin?X-Amz-Signature={SECRET}&v=2",
            "https://bucket.example.com/fw.bin?X-Amz-Signature=***&v=2",
            id="UpdateFirmware: a pre-signed URL's signature",
        ),
        pytest.param(
            "GetDiagnostics",
            {"location": f"ftp://diag:{SECRET}@diagnostics.example.com/upload/"},
            {"fileName": "CP1-diag.zip"},
            DiagnosticsRequest,
            f"ftp://diag:{SECRET}@diagnostics.example.com/upload/",
            "ftp://diag:***@diagnostics.example.com/upload/",
            id="GetDiagnostics: user info",
        ),
    ],
)
async def test_it_sends_credentials_in_the_location_but_stores_and_shows_them_masked(
    online_station,
    operator_api,
    support_api,
    action,
    payload,
    answer,
    model,
    sent_location,
    shown_location,
):
    station = await online_station("CP1")
    response, frame = await round_trip(operator_api, station, "CP1", action, payload, answer)
    await drain()

    assert frame[3]["location"] == sent_location  # the station gets the whole URL
    assert response.json()["state"] == "answered"
    assert response.json()["request"]["location"] == shown_location
    assert (await model.objects.aget()).location == shown_location
    assert (await the_command()).request["location"] == shown_location

    def stored() -> str:
        rows = [
            *Command.objects.values(),
            *MessageLog.objects.values(),
            *FirmwareUpdate.objects.values(),
            *DiagnosticsRequest.objects.values(),
        ]
        return json.dumps(rows, default=str)

    assert SECRET not in await database_sync_to_async(stored)()
    for url in (
        "/api/v1/commands/",
        "/api/v1/charge-points/CP1/messages/",
        f"/api/v1/commands/{(await the_command()).pk}/",
    ):
        shown = await api_get(support_api, url)
        assert shown.status_code == 200, (url, shown.content)
        assert SECRET not in shown.content.decode(), url
