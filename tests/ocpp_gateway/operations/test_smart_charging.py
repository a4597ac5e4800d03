"""Smart charging (ocpp_gateway.operations.smart_charging): SetChargingProfile,
ClearChargingProfile and GetCompositeSchedule, through the API to a simulated station and
back, and the profiles and schedules each answer leaves."""

from __future__ import annotations

from decimal import Decimal

import pytest

from csms.models import ChargingProfile, CompositeSchedule
from tests.remote_ops.conftest import api_get, round_trip

pytestmark = pytest.mark.django_db(transaction=True)

DAILY_PROFILE = {
    "chargingProfileId": 10,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Recurring",
    "recurrencyKind": "Daily",
    "validFrom": "2030-01-01T00:00:00Z",
    "validTo": "2031-01-01T00:00:00Z",
    "chargingSchedule": {
        "chargingRateUnit": "A",
        "startSchedule": "2030-01-01T00:00:00Z",
        "duration": 86400,
        "minChargingRate": 6.0,
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 16.0},
            {"startPeriod": 28800, "limit": 32.0, "numberPhases": 3},
        ],
    },
}


async def _set_profile(client, station, connector_id, status="Accepted", **changes):
    """A SetChargingProfile of DAILY_PROFILE (with ``changes``) that the station answers."""
    return await round_trip(
        client,
        station,
        "CP1",
        "SetChargingProfile",
        {"connectorId": connector_id, "csChargingProfiles": {**DAILY_PROFILE, **changes}},
        {"status": status},
    )


async def test_it_stores_an_accepted_profile_field_by_field(online_station, operator_api):
    station = await online_station("CP1")
    response, frame = await _set_profile(operator_api, station, 1)

    assert frame[3]["csChargingProfiles"]["chargingProfileId"] == 10
    assert response.json()["state"] == "answered"
    profile = await ChargingProfile.objects.aget()
    assert profile.connector_id == 1
    assert (profile.profile_id, profile.stack_level) == (10, 1)
    assert (profile.purpose, profile.kind, profile.recurrency_kind) == (
        "TxDefaultProfile",
        "Recurring",
        "Daily",
    )
    assert profile.valid_from.isoformat() == "2030-01-01T00:00:00+00:00"
    assert profile.valid_to.isoformat() == "2031-01-01T00:00:00+00:00"
    assert (profile.charging_rate_unit, profile.duration) == ("A", 86400)
    assert profile.min_charging_rate == Decimal("6.0")
    assert profile.schedule_periods == DAILY_PROFILE["chargingSchedule"]["chargingSchedulePeriod"]
    assert profile.active is True


async def test_it_replaces_the_profile_of_the_same_connector_stack_level_and_purpose(
    online_station, operator_api
):
    station = await online_station("CP1")
    await _set_profile(operator_api, station, 1)
    await _set_profile(operator_api, station, 1, chargingProfileId=11)  # the replacement
    await _set_profile(operator_api, station, 2, chargingProfileId=12)  # another connector

    active = [p async for p in ChargingProfile.objects.filter(active=True).order_by("profile_id")]
    assert [(p.profile_id, p.connector_id) for p in active] == [(11, 1), (12, 2)]
    replaced = await ChargingProfile.objects.aget(profile_id=10)
    assert replaced.active is False and replaced.cleared_at is not None


async def test_it_deactivates_the_profiles_a_clear_matches(online_station, operator_api):
    station = await online_station("CP1")
    for connector_id, profile_id, purpose in [
        (1, 1, "TxDefaultProfile"),
        (2, 2, "TxDefaultProfile"),
        (0, 3, "ChargePointMaxProfile"),
    ]:
        await _set_profile(
            operator_api,
            station,
            connector_id,
            chargingProfileId=profile_id,
            chargingProfilePurpose=purpose,
        )

    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "ClearChargingProfile",
        {"chargingProfilePurpose": "TxDefaultProfile"},
        {"status": "Accepted"},
    )

    assert frame[3] == {"chargingProfilePurpose": "TxDefaultProfile"}
    assert response.json()["state"] == "answered"
    active = [p.profile_id async for p in ChargingProfile.objects.filter(active=True)]
    assert active == [3]


@pytest.mark.parametrize(
    "installed,action,payload,status",
    [
        pytest.param(
            [],
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": DAILY_PROFILE},
            "Rejected",
            id="SetChargingProfile Rejected: nothing is stored",
        ),
        pytest.param(
            [],
            "SetChargingProfile",
            {"connectorId": 1, "csChargingProfiles": DAILY_PROFILE},
            "NotSupported",
            id="SetChargingProfile NotSupported: nothing is stored",
        ),
        pytest.param(
            [(10, True)],
            "ClearChargingProfile",
            {"chargingProfilePurpose": "TxDefaultProfile"},
            "Unknown",
            id="ClearChargingProfile Unknown: the profiles stay active",
        ),
    ],
)
async def test_it_changes_no_profile_when_the_station_refuses(
    online_station, operator_api, installed, action, payload, status
):
    station = await online_station("CP1")
    for profile_id, _ in installed:
        await _set_profile(operator_api, station, 1, chargingProfileId=profile_id)

    response, _ = await round_trip(
        operator_api, station, "CP1", action, payload, {"status": status}
    )

    assert response.json()["response"] == {"status": status}
    profiles = [(p.profile_id, p.active) async for p in ChargingProfile.objects.all()]
    assert profiles == installed  # none at all when none was installed


async def test_it_stores_the_composite_schedule_and_lists_it(online_station, operator_api):
    station = await online_station("CP1")
    schedule = {
        "chargingRateUnit": "W",
        "duration": 3600,
        "startSchedule": "2030-01-01T10:00:00Z",
        "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 11000.0},
            {"startPeriod": 1800, "limit": 7400.0},
        ],
    }
    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "GetCompositeSchedule",
        {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"},
        {
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": "2030-01-01T10:00:00Z",
            "chargingSchedule": schedule,
        },
    )

    assert frame[3] == {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"}
    assert response.json()["response"]["chargingSchedule"] == schedule
    stored = await CompositeSchedule.objects.aget()
    assert (stored.connector_id, stored.status) == (1, "Accepted")
    assert stored.schedule_start.isoformat() == "2030-01-01T10:00:00+00:00"
    assert stored.charging_schedule == schedule
    listed = await api_get(operator_api, "/api/v1/composite-schedules/")
    assert listed.json()["results"][0]["charging_schedule"] == schedule
