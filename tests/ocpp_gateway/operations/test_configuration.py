"""Configuration keys (ocpp_gateway.operations.configuration): GetConfiguration and
ChangeConfiguration, through the API to a simulated station and back, and what each answer
leaves in the station's configuration snapshot."""

from __future__ import annotations

import pytest

from csms.models import ChargePoint
from tests.remote_ops.conftest import round_trip

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "before,key,value,status,after,reboot_required",
    [
        pytest.param(
            {"HeartbeatInterval": {"value": "900", "readonly": False}},
            "HeartbeatInterval",
            "300",
            "Accepted",
            {"HeartbeatInterval": {"value": "300", "readonly": False}},
            False,
            id="Accepted: the snapshot has the new value",
        ),
        pytest.param(
            {},
            "WebSocketPingInterval",
            "60",
            "RebootRequired",
            {"WebSocketPingInterval": {"value": "60", "readonly": False}},
            True,
            id="RebootRequired: the new value, and the reboot is noted",
        ),
        pytest.param(
            {"X": {"value": "1", "readonly": True}},
            "X",
            "2",
            "Rejected",
            {"X": {"value": "1", "readonly": True}},
            False,
            id="Rejected: the snapshot is left as it was",
        ),
    ],
)
async def test_it_records_a_change_the_station_takes_and_not_one_it_refuses(
    online_station, operator_api, before, key, value, status, after, reboot_required
):
    station = await online_station("CP1", configuration=before)
    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "ChangeConfiguration",
        {"key": key, "value": value},
        {"status": status},
    )

    assert frame[3] == {"key": key, "value": value}
    assert response.json()["state"] == "answered"
    assert response.json()["response"] == {"status": status}
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.configuration == after
    assert cp.reboot_required is reboot_required


@pytest.mark.parametrize(
    "before,request_payload,answer,after,unknown",
    [
        # A full read replaces the snapshot: keys the station no longer has disappear.
        pytest.param(
            {"Stale": {"value": "x", "readonly": False}},
            {},
            {
                "configurationKey": [
                    {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                    {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
                    {"key": "AuthorizationKey", "readonly": False},
                ],
                "unknownKey": [],
            },
            {
                "HeartbeatInterval": {"value": "300", "readonly": False},
                "NumberOfConnectors": {"value": "2", "readonly": True},
                "AuthorizationKey": {"value": None, "readonly": False},
            },
            [],
            id="every key: the snapshot is replaced",
        ),
        pytest.param(
            {"NumberOfConnectors": {"value": "2", "readonly": True}},
            {"key": ["HeartbeatInterval", "VendorMagic"]},
            {
                "configurationKey": [
                    {"key": "HeartbeatInterval", "readonly": False, "value": "60"}
                ],
                "unknownKey": ["VendorMagic"],
            },
            {
                "NumberOfConnectors": {"value": "2", "readonly": True},
                "HeartbeatInterval": {"value": "60", "readonly": False},
            },
            ["VendorMagic"],
            id="some keys: merged, and the unknown ones noted",
        ),
    ],
)
async def test_it_stores_the_configuration_the_station_reports(
    online_station, operator_api, before, request_payload, answer, after, unknown
):
    station = await online_station("CP1", configuration=before)
    response, _ = await round_trip(
        operator_api, station, "CP1", "GetConfiguration", request_payload, answer
    )

    assert response.json()["state"] == "answered"
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.configuration == after
    assert cp.configuration_unknown_keys == unknown
    assert cp.configuration_at is not None
