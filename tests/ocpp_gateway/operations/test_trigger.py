"""TriggerMessage (ocpp_gateway.operations.trigger), through the API to a simulated station and
back, for every message a station can be asked to send."""

from __future__ import annotations

import pytest

from tests.remote_ops.conftest import round_trip

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "payload",
    [
        {"requestedMessage": "BootNotification"},
        {"requestedMessage": "DiagnosticsStatusNotification"},
        {"requestedMessage": "FirmwareStatusNotification"},
        {"requestedMessage": "Heartbeat"},
        {"requestedMessage": "MeterValues", "connectorId": 1},
        {"requestedMessage": "StatusNotification", "connectorId": 1},
    ],
    ids=lambda p: p["requestedMessage"],
)
async def test_it_asks_the_station_for_the_message(online_station, operator_api, payload):
    station = await online_station("CP1")
    response, frame = await round_trip(
        operator_api, station, "CP1", "TriggerMessage", payload, {"status": "Accepted"}
    )

    assert frame[3] == payload
    assert response.status_code == 200
    assert response.json()["response"] == {"status": "Accepted"}
