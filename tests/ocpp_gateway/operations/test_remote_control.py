"""Remote control (ocpp_gateway.operations.remote_control): RemoteStartTransaction,
RemoteStopTransaction, Reset, UnlockConnector and ChangeAvailability, through the API to a
simulated station and back. What they cause arrives as station messages; only a RemoteStart's
charging profile and a Reset's reboot leave state of their own."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from csms.models import ChargePoint, ChargingProfile, Connector
from tests.factories import make_transaction
from tests.ocpp_gateway.operations.conftest import station_calls
from tests.remote_ops.conftest import answer_call, api_post, round_trip

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async

TX_PROFILE = {
    "chargingProfileId": 100,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
    },
}


@pytest.mark.parametrize(
    "action,payload,answer",
    [
        pytest.param(
            "RemoteStartTransaction",
            {"idTag": "04A2B3C4", "connectorId": 1},
            {"status": "Accepted"},
            id="RemoteStartTransaction: a tag on connector 1",
        ),
        # A Rejected status is still the station's answer.
        pytest.param(
            "RemoteStopTransaction",
            {"transactionId": 42},
            {"status": "Rejected"},
            id="RemoteStopTransaction: Rejected is an answer too",
        ),
        pytest.param(
            "UnlockConnector",
            {"connectorId": 2},
            {"status": "Unlocked"},
            id="UnlockConnector: connector 2",
        ),
        pytest.param(
            "ChangeAvailability",
            {"connectorId": 1, "type": "Inoperative"},
            {"status": "Accepted"},
            id="ChangeAvailability: connector 1 out of service",
        ),
    ],
)
async def test_it_sends_the_request_as_given_and_returns_the_answer(
    online_station, operator_api, action, payload, answer
):
    station = await online_station("CP1")
    response, frame = await round_trip(operator_api, station, "CP1", action, payload, answer)

    assert frame[2:] == [action, payload]
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "answered"
    assert body["response"] == answer
    assert body["issued_by"] == "olivia-operator"


async def test_it_changes_a_connector_state_when_the_station_reports_it_not_when_it_accepts(
    online_station, operator_api
):
    station = await online_station("CP1")
    await round_trip(
        operator_api,
        station,
        "CP1",
        "ChangeAvailability",
        {"connectorId": 1, "type": "Inoperative"},
        {"status": "Accepted"},
    )
    connectors = Connector.objects.filter(charge_point__identity="CP1", connector_id=1)
    assert not await connectors.filter(status="Unavailable").aexists()

    await station_calls(
        station,
        [
            2,
            "s1",
            "StatusNotification",
            {"connectorId": 1, "status": "Unavailable", "errorCode": "NoError"},
        ],
    )
    connector = await connectors.aget()
    assert connector.status == "Unavailable"


async def test_it_stops_a_transaction_from_its_endpoint(online_station, operator_api):
    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")
    tx = await db(make_transaction)(charge_point=cp)

    request = asyncio.ensure_future(
        api_post(operator_api, f"/api/v1/transactions/{tx.pk}/remote-stop/")
    )
    frame = await answer_call(station, {"status": "Accepted"}, action="RemoteStopTransaction")
    response = await request

    assert frame[3] == {"transactionId": tx.pk}
    assert response.status_code == 200
    assert response.json()["action"] == "RemoteStopTransaction"
    assert response.json()["state"] == "answered"


async def _reboot_required():
    return (await ChargePoint.objects.aget(identity="CP1")).reboot_required


async def _charging_profiles():
    return [
        (p.connector_id, p.profile_id, p.purpose, p.active)
        async for p in ChargingProfile.objects.all()
    ]


START_WITH_PROFILE = {"idTag": "04A2B3C4", "connectorId": 2, "chargingProfile": TX_PROFILE}


@pytest.mark.parametrize(
    "action,payload,status,observe,left",
    [
        pytest.param(
            "Reset",
            {"type": "Hard"},
            "Accepted",
            _reboot_required,
            False,
            id="Reset Accepted: the pending reboot is done",
        ),
        pytest.param(
            "Reset",
            {"type": "Hard"},
            "Rejected",
            _reboot_required,
            True,
            id="Reset Rejected: the reboot is still pending",
        ),
        pytest.param(
            "RemoteStartTransaction",
            START_WITH_PROFILE,
            "Accepted",
            _charging_profiles,
            [(2, 100, "TxProfile", True)],
            id="RemoteStartTransaction Accepted: its profile is recorded for the connector",
        ),
        pytest.param(
            "RemoteStartTransaction",
            START_WITH_PROFILE,
            "Rejected",
            _charging_profiles,
            [],
            id="RemoteStartTransaction Rejected: no profile is recorded",
        ),
    ],
)
async def test_it_leaves_the_state_the_answer_calls_for(
    online_station, operator_api, action, payload, status, observe, left
):
    station = await online_station("CP1", reboot_required=True)
    response, frame = await round_trip(
        operator_api, station, "CP1", action, payload, {"status": status}
    )

    assert frame[3] == payload
    assert response.json()["state"] == "answered"
    assert await observe() == left
