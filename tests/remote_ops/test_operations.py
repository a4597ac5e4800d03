"""A round trip for every central-system operation of OCPP 1.6, through the API to a simulated
station and back, and what each answer leaves in our state."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from csms.models import (
    ChargePoint,
    ChargingProfile,
    Command,
    CompositeSchedule,
    Connector,
    DataTransfer,
    DiagnosticsRequest,
    FirmwareUpdate,
    Reservation,
)
from ocpp_gateway.committer import get_committer
from ocpp_gateway.schemas import CENTRAL_ACTIONS
from tests.factories import make_id_tag, make_transaction
from tests.remote_ops.conftest import answer_call, api_get, api_post, round_trip

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


async def _command() -> Command:
    return await Command.objects.select_related("issued_by").aget()


async def _station_calls(station, frame_json: list) -> list:
    """The station sends a CALL of its own; returns our answer."""
    await station.send_text(json.dumps(frame_json))
    answer = await station.receive()
    await get_committer().drain()
    return answer


# --- Core -------------------------------------------------------------------------------------


async def test_change_availability_round_trip_and_the_station_reports_the_state(
    online_station, operator_api
):
    station = await online_station("CP1")
    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "ChangeAvailability",
        {"connectorId": 1, "type": "Inoperative"},
        {"status": "Accepted"},
    )

    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "answered"
    assert body["response"] == {"status": "Accepted"}
    assert body["issued_by"] == "olivia-operator"
    assert frame[3] == {"connectorId": 1, "type": "Inoperative"}
    # The connector's state changes when the station reports it, not when it says Accepted.
    await _station_calls(
        station,
        [
            2,
            "s1",
            "StatusNotification",
            {"connectorId": 1, "status": "Unavailable", "errorCode": "NoError"},
        ],
    )
    connector = await Connector.objects.aget(charge_point__identity="CP1", connector_id=1)
    assert connector.status == "Unavailable"


async def test_change_configuration_accepted_updates_the_snapshot(online_station, operator_api):
    station = await online_station(
        "CP1", configuration={"HeartbeatInterval": {"value": "900", "readonly": False}}
    )
    response, _ = await round_trip(
        operator_api,
        station,
        "CP1",
        "ChangeConfiguration",
        {"key": "HeartbeatInterval", "value": "300"},
        {"status": "Accepted"},
    )

    assert response.json()["state"] == "answered"
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.configuration["HeartbeatInterval"] == {"value": "300", "readonly": False}
    assert cp.reboot_required is False


async def test_change_configuration_reboot_required_is_noted(online_station, operator_api):
    station = await online_station("CP1")
    response, _ = await round_trip(
        operator_api,
        station,
        "CP1",
        "ChangeConfiguration",
        {"key": "WebSocketPingInterval", "value": "60"},
        {"status": "RebootRequired"},
    )

    assert response.json()["response"] == {"status": "RebootRequired"}
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.reboot_required is True
    assert cp.configuration["WebSocketPingInterval"]["value"] == "60"


async def test_change_configuration_rejected_leaves_the_snapshot(online_station, operator_api):
    station = await online_station("CP1", configuration={"X": {"value": "1", "readonly": True}})
    await round_trip(
        operator_api,
        station,
        "CP1",
        "ChangeConfiguration",
        {"key": "X", "value": "2"},
        {"status": "Rejected"},
    )

    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.configuration == {"X": {"value": "1", "readonly": True}}


async def test_clear_cache_round_trip(online_station, support_api):
    station = await online_station("CP1")
    response, frame = await round_trip(
        support_api, station, "CP1", "ClearCache", {}, {"status": "Accepted"}
    )

    assert frame[2:] == ["ClearCache", {}]
    assert response.json()["state"] == "answered"
    assert response.json()["issued_by"] == "sam-support"


async def test_data_transfer_is_stored_outgoing_with_the_answer(online_station, operator_api):
    station = await online_station("CP1")
    response, _ = await round_trip(
        operator_api,
        station,
        "CP1",
        "DataTransfer",
        {"vendorId": "com.example", "messageId": "SetPrice", "data": '{"price": 0.35}'},
        {"status": "Accepted", "data": "ok"},
    )

    assert response.json()["state"] == "answered"
    stored = await DataTransfer.objects.aget()
    assert stored.direction == DataTransfer.Direction.OUT
    assert (stored.vendor_id, stored.message_id, stored.data) == (
        "com.example",
        "SetPrice",
        '{"price": 0.35}',
    )
    assert (stored.response_status, stored.response_data) == ("Accepted", "ok")


async def test_get_configuration_stores_the_snapshot_and_unknown_keys(online_station, operator_api):
    station = await online_station(
        "CP1", configuration={"Stale": {"value": "x", "readonly": False}}
    )
    response, _ = await round_trip(
        operator_api,
        station,
        "CP1",
        "GetConfiguration",
        {},
        {
            "configurationKey": [
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
                {"key": "AuthorizationKey", "readonly": False},
            ],
            "unknownKey": [],
        },
    )

    assert response.json()["state"] == "answered"
    cp = await ChargePoint.objects.aget(identity="CP1")
    # A full read replaces the snapshot: keys the station no longer has disappear.
    assert cp.configuration == {
        "HeartbeatInterval": {"value": "300", "readonly": False},
        "NumberOfConnectors": {"value": "2", "readonly": True},
        "AuthorizationKey": {"value": None, "readonly": False},
    }
    assert cp.configuration_at is not None


async def test_get_configuration_of_some_keys_merges_and_notes_unknown_ones(
    online_station, operator_api
):
    station = await online_station(
        "CP1", configuration={"NumberOfConnectors": {"value": "2", "readonly": True}}
    )
    await round_trip(
        operator_api,
        station,
        "CP1",
        "GetConfiguration",
        {"key": ["HeartbeatInterval", "VendorMagic"]},
        {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}],
            "unknownKey": ["VendorMagic"],
        },
    )

    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.configuration == {
        "NumberOfConnectors": {"value": "2", "readonly": True},
        "HeartbeatInterval": {"value": "60", "readonly": False},
    }
    assert cp.configuration_unknown_keys == ["VendorMagic"]


async def test_remote_start_transaction_with_id_tag_and_connector(online_station, operator_api):
    station = await online_station("CP1")
    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "RemoteStartTransaction",
        {"idTag": "04A2B3C4", "connectorId": 1},
        {"status": "Accepted"},
    )

    assert frame[3] == {"idTag": "04A2B3C4", "connectorId": 1}
    assert response.json()["response"] == {"status": "Accepted"}


async def test_remote_start_with_a_profile_records_it_for_the_connector(
    online_station, operator_api
):
    station = await online_station("CP1")
    profile = {
        "chargingProfileId": 100,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
        },
    }
    await round_trip(
        operator_api,
        station,
        "CP1",
        "RemoteStartTransaction",
        {"idTag": "04A2B3C4", "connectorId": 2, "chargingProfile": profile},
        {"status": "Accepted"},
    )

    stored = await ChargingProfile.objects.aget()
    assert (stored.connector_id, stored.profile_id, stored.purpose) == (2, 100, "TxProfile")
    assert stored.active is True


async def test_remote_stop_transaction_round_trip(online_station, operator_api):
    station = await online_station("CP1")
    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "RemoteStopTransaction",
        {"transactionId": 42},
        {"status": "Rejected"},
    )

    assert frame[3] == {"transactionId": 42}
    # A Rejected status is still the station's answer.
    assert response.status_code == 200
    assert response.json()["state"] == "answered"
    assert response.json()["response"] == {"status": "Rejected"}


async def test_remote_stop_from_a_transaction(online_station, operator_api):
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


async def test_reset_accepted_clears_reboot_required(online_station, operator_api):
    station = await online_station("CP1", reboot_required=True)
    response, frame = await round_trip(
        operator_api, station, "CP1", "Reset", {"type": "Hard"}, {"status": "Accepted"}
    )

    assert frame[3] == {"type": "Hard"}
    assert response.json()["state"] == "answered"
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.reboot_required is False


async def test_unlock_connector_round_trip(online_station, operator_api):
    station = await online_station("CP1")
    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "UnlockConnector",
        {"connectorId": 2},
        {"status": "Unlocked"},
    )

    assert frame[3] == {"connectorId": 2}
    assert response.json()["response"] == {"status": "Unlocked"}


# --- Firmware management ----------------------------------------------------------------------


async def test_get_diagnostics_records_the_file_name(online_station, operator_api):
    station = await online_station("CP1")
    response, _ = await round_trip(
        operator_api,
        station,
        "CP1",
        "GetDiagnostics",
        {"location": "ftp://diagnostics.example.com/upload/", "retries": 3},
        {"fileName": "CP1-diag-20300101.zip"},
    )

    assert response.json()["state"] == "answered"
    request = await DiagnosticsRequest.objects.aget()
    assert request.location == "ftp://diagnostics.example.com/upload/"
    assert request.file_name == "CP1-diag-20300101.zip"
    assert request.command_id == (await _command()).pk
    # Progress arrives as DiagnosticsStatusNotification and lands on the request.
    await _station_calls(
        station, [2, "d1", "DiagnosticsStatusNotification", {"status": "Uploaded"}]
    )
    await request.arefresh_from_db()
    assert request.status == "Uploaded"


async def test_update_firmware_records_the_update_and_its_progress(online_station, operator_api):
    station = await online_station("CP1")
    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "UpdateFirmware",
        {
            "location": "https://firmware.example.com/cp-2.1.0.bin",
            "retrieveDate": "2030-01-01T02:00:00+01:00",
            "retries": 3,
            "retryInterval": 120,
        },
        {},
    )

    assert response.json()["state"] == "answered"
    # Timestamps go out normalised to UTC.
    assert frame[3]["retrieveDate"] == "2030-01-01T01:00:00.000Z"
    update = await FirmwareUpdate.objects.aget()
    assert update.location == "https://firmware.example.com/cp-2.1.0.bin"
    assert update.retrieve_date.isoformat() == "2030-01-01T01:00:00+00:00"
    assert (update.retries, update.retry_interval) == (3, 120)
    await _station_calls(station, [2, "f1", "FirmwareStatusNotification", {"status": "Installed"}])
    await update.arefresh_from_db()
    assert update.status == "Installed"


# --- Local authorization list -------------------------------------------------------------


async def test_get_local_list_version_matching_what_we_sent(online_station, operator_api):
    station = await online_station("CP1", local_list_version=4, local_list_mismatch=True)
    response, _ = await round_trip(
        operator_api, station, "CP1", "GetLocalListVersion", {}, {"listVersion": 4}
    )

    assert response.json()["response"] == {"listVersion": 4}
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.local_list_reported_version == 4
    assert cp.local_list_mismatch is False
    assert cp.local_list_checked_at is not None


async def test_get_local_list_version_differing_from_what_we_sent_is_flagged(
    online_station, operator_api
):
    station = await online_station("CP1", local_list_version=4)
    await round_trip(operator_api, station, "CP1", "GetLocalListVersion", {}, {"listVersion": 2})

    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.local_list_reported_version == 2
    assert cp.local_list_mismatch is True
    shown = await api_get(operator_api, "/api/v1/charge-points/CP1/local-list/")
    assert shown.json() == {
        "charge_point": "CP1",
        "local_list_version": 4,
        "local_list_reported_version": 2,
        "local_list_checked_at": shown.json()["local_list_checked_at"],
        "local_list_mismatch": True,
    }


async def test_send_local_list_full_from_the_registry(online_station, operator_api):
    station = await online_station("CP1", local_list_version=2)
    await db(make_id_tag)(id_tag="04A2B3C4")
    await db(make_id_tag)(id_tag="04BLOCK1", status="Blocked")
    await db(make_id_tag)(id_tag="04EXPIRE", expiry_date=timezone.now() - timedelta(days=1))

    request = asyncio.ensure_future(
        api_post(operator_api, "/api/v1/charge-points/CP1/local-list/", {"update_type": "Full"})
    )
    frame = await answer_call(station, {"status": "Accepted"}, action="SendLocalList")
    response = await request

    assert response.status_code == 200, response.json()
    sent = frame[3]
    assert sent["listVersion"] == 3
    assert sent["updateType"] == "Full"
    by_tag = {entry["idTag"]: entry["idTagInfo"] for entry in sent["localAuthorizationList"]}
    assert by_tag["04A2B3C4"] == {"status": "Accepted"}
    assert by_tag["04BLOCK1"] == {"status": "Blocked"}
    assert by_tag["04EXPIRE"]["status"] == "Expired"
    assert by_tag["04EXPIRE"]["expiryDate"].endswith("Z")
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.local_list_version == 3
    assert cp.local_list_mismatch is False


async def test_send_local_list_differential_removes_unregistered_tags(online_station, operator_api):
    station = await online_station("CP1", local_list_version=7)
    await db(make_id_tag)(id_tag="04A2B3C4", status="Blocked")

    request = asyncio.ensure_future(
        api_post(
            operator_api,
            "/api/v1/charge-points/CP1/local-list/",
            {"update_type": "Differential", "id_tags": ["04a2b3c4", "GONE0001"]},
        )
    )
    frame = await answer_call(station, {"status": "Accepted"}, action="SendLocalList")
    response = await request

    assert response.json()["state"] == "answered"
    assert frame[3] == {
        "listVersion": 8,
        "updateType": "Differential",
        "localAuthorizationList": [
            {"idTag": "04A2B3C4", "idTagInfo": {"status": "Blocked"}},
            {"idTag": "GONE0001"},
        ],
    }
    assert (await ChargePoint.objects.aget(identity="CP1")).local_list_version == 8


async def test_send_local_list_through_the_generic_endpoint_fills_version_and_list(
    online_station, operator_api
):
    station = await online_station("CP1")
    await db(make_id_tag)(id_tag="TAG1")
    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "SendLocalList",
        {"updateType": "Full"},
        {"status": "VersionMismatch"},
    )

    assert frame[3] == {
        "updateType": "Full",
        "listVersion": 1,
        "localAuthorizationList": [{"idTag": "TAG1", "idTagInfo": {"status": "Accepted"}}],
    }
    assert response.json()["response"] == {"status": "VersionMismatch"}
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.local_list_version is None  # not accepted
    assert cp.local_list_mismatch is True


# --- Reservation ------------------------------------------------------------------------------


async def test_reserve_now_creates_a_reservation_that_a_start_transaction_consumes(
    online_station, operator_api
):
    station = await online_station("CP1")
    expiry = (timezone.now() + timedelta(hours=1)).replace(microsecond=0)
    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "ReserveNow",
        {"connectorId": 1, "idTag": "04A2B3C4", "expiryDate": expiry.isoformat()},
        {"status": "Accepted"},
    )

    reservation = await Reservation.objects.aget()
    assert frame[3]["reservationId"] == reservation.pk
    assert response.json()["request"]["reservationId"] == reservation.pk
    assert reservation.state == Reservation.State.ACTIVE
    assert (reservation.connector_id, reservation.id_tag) == (1, "04A2B3C4")
    assert reservation.expiry_date == expiry
    assert reservation.station_status == "Accepted"
    assert reservation.created_by_id is not None

    answer = await _station_calls(
        station,
        [
            2,
            "st1",
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "04A2B3C4",
                "meterStart": 0,
                "timestamp": timezone.now().isoformat(),
                "reservationId": reservation.pk,
            },
        ],
    )
    await reservation.arefresh_from_db()
    assert reservation.state == Reservation.State.USED
    assert reservation.transaction_id == answer[2]["transactionId"]


async def test_reserve_now_occupied_is_rejected_with_the_station_status(
    online_station, operator_api
):
    station = await online_station("CP1")
    await round_trip(
        operator_api,
        station,
        "CP1",
        "ReserveNow",
        {"connectorId": 1, "idTag": "T1", "expiryDate": "2030-01-01T12:00:00Z"},
        {"status": "Occupied"},
    )

    reservation = await Reservation.objects.aget()
    assert reservation.state == Reservation.State.REJECTED
    assert reservation.station_status == "Occupied"


async def test_reserve_now_with_a_reservation_id_replaces_that_reservation(
    online_station, operator_api
):
    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")
    existing = await Reservation.objects.acreate(
        charge_point=cp,
        connector_id=1,
        id_tag="OLD",
        expiry_date=timezone.now() + timedelta(minutes=10),
        state=Reservation.State.ACTIVE,
    )
    _, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "ReserveNow",
        {
            "connectorId": 2,
            "idTag": "NEW",
            "expiryDate": "2030-01-01T12:00:00Z",
            "reservationId": existing.pk,
        },
        {"status": "Accepted"},
    )

    assert frame[3]["reservationId"] == existing.pk
    await existing.arefresh_from_db()
    assert (existing.connector_id, existing.id_tag, existing.state) == (2, "NEW", "active")
    assert await Reservation.objects.acount() == 1


async def test_cancel_reservation_accepted_cancels_it(online_station, operator_api):
    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")
    reservation = await Reservation.objects.acreate(
        charge_point=cp,
        connector_id=1,
        id_tag="T1",
        expiry_date=timezone.now() + timedelta(minutes=10),
        state=Reservation.State.ACTIVE,
    )
    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "CancelReservation",
        {"reservationId": reservation.pk},
        {"status": "Accepted"},
    )

    assert frame[3] == {"reservationId": reservation.pk}
    assert response.json()["state"] == "answered"
    await reservation.arefresh_from_db()
    assert reservation.state == Reservation.State.CANCELLED


# --- Smart charging -------------------------------------------------------------------------

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


async def test_set_charging_profile_accepted_stores_the_profile(online_station, operator_api):
    station = await online_station("CP1")
    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "SetChargingProfile",
        {"connectorId": 1, "csChargingProfiles": DAILY_PROFILE},
        {"status": "Accepted"},
    )

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


async def test_set_charging_profile_replaces_same_stack_level_and_purpose(
    online_station, operator_api
):
    station = await online_station("CP1")
    await round_trip(
        operator_api,
        station,
        "CP1",
        "SetChargingProfile",
        {"connectorId": 1, "csChargingProfiles": DAILY_PROFILE},
        {"status": "Accepted"},
    )
    replacement = {**DAILY_PROFILE, "chargingProfileId": 11}
    other_connector = {**DAILY_PROFILE, "chargingProfileId": 12}
    await round_trip(
        operator_api,
        station,
        "CP1",
        "SetChargingProfile",
        {"connectorId": 1, "csChargingProfiles": replacement},
        {"status": "Accepted"},
    )
    await round_trip(
        operator_api,
        station,
        "CP1",
        "SetChargingProfile",
        {"connectorId": 2, "csChargingProfiles": other_connector},
        {"status": "Accepted"},
    )

    active = [p async for p in ChargingProfile.objects.filter(active=True).order_by("profile_id")]
    assert [(p.profile_id, p.connector_id) for p in active] == [(11, 1), (12, 2)]
    replaced = await ChargingProfile.objects.aget(profile_id=10)
    assert replaced.active is False and replaced.cleared_at is not None


async def test_set_charging_profile_rejected_stores_nothing(online_station, operator_api):
    station = await online_station("CP1")
    await round_trip(
        operator_api,
        station,
        "CP1",
        "SetChargingProfile",
        {"connectorId": 1, "csChargingProfiles": DAILY_PROFILE},
        {"status": "Rejected"},
    )

    assert await ChargingProfile.objects.acount() == 0


async def test_clear_charging_profile_deactivates_matching_profiles(online_station, operator_api):
    station = await online_station("CP1")
    for connector_id, profile_id, purpose in [
        (1, 1, "TxDefaultProfile"),
        (2, 2, "TxDefaultProfile"),
        (0, 3, "ChargePointMaxProfile"),
    ]:
        await round_trip(
            operator_api,
            station,
            "CP1",
            "SetChargingProfile",
            {
                "connectorId": connector_id,
                "csChargingProfiles": {
                    **DAILY_PROFILE,
                    "chargingProfileId": profile_id,
                    "chargingProfilePurpose": purpose,
                },
            },
            {"status": "Accepted"},
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


async def test_get_composite_schedule_is_stored(online_station, operator_api):
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


# --- Remote trigger ---------------------------------------------------------------------------


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
async def test_trigger_message_round_trip(online_station, operator_api, payload):
    station = await online_station("CP1")
    response, frame = await round_trip(
        operator_api, station, "CP1", "TriggerMessage", payload, {"status": "Accepted"}
    )

    assert frame[3] == payload
    assert response.status_code == 200
    assert response.json()["response"] == {"status": "Accepted"}


def test_every_operation_is_covered_here():
    """This module's tests name every central-system operation of OCPP 1.6."""
    source = Path(__file__).read_text()
    missing = [action for action in CENTRAL_ACTIONS if f'"{action}"' not in source]
    assert missing == []
