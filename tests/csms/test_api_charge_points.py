"""GET/POST /api/v1/charge-points/ and GET/PATCH/DELETE /api/v1/charge-points/<identity>/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from csms.models import ChargePoint, Connector, MessageLog, StatusNotification
from csms.services.stations import charge_point_update
from csms.station_auth import check_station_password
from tests.factories import make_charge_point, make_connector, make_transaction

pytestmark = pytest.mark.django_db

LIST = "/api/v1/charge-points/"
PASSWORD = "a-station-secret-0123"


def detail(identity: str) -> str:
    return f"/api/v1/charge-points/{identity}/"


def online_station(identity: str, **fields):
    now = timezone.now()
    return make_charge_point(identity=identity, connected=True, last_seen=now, **fields)


# --- Permissions ------------------------------------------------------------------------------


def test_it_lets_operators_and_support_read(operator_api, support_api):
    make_charge_point(identity="CP1")
    for client in (operator_api, support_api):
        response = client.get(LIST)
        assert response.status_code == 200
        assert [row["identity"] for row in response.data["results"]] == ["CP1"]
        assert client.get(detail("CP1")).status_code == 200


def test_it_refuses_drivers_with_403_and_anonymous_with_401(driver_api, anonymous_api):
    make_charge_point(identity="CP1")
    for method, url, body in [
        ("get", LIST, None),
        ("post", LIST, {"identity": "CP2"}),
        ("get", detail("CP1"), None),
        ("patch", detail("CP1"), {"name": "x"}),
        ("delete", detail("CP1"), None),
    ]:
        assert getattr(driver_api, method)(url, body, format="json").status_code == 403
        anonymous = getattr(anonymous_api, method)(url, body, format="json")
        assert anonymous.status_code == 401
        assert anonymous["WWW-Authenticate"].startswith("Token")
    assert ChargePoint.objects.filter(identity="CP1", name="").exists()
    assert not ChargePoint.objects.filter(identity="CP2").exists()


def test_support_cannot_write(support_api):
    make_charge_point(identity="CP1")
    assert support_api.post(LIST, {"identity": "CP2"}, format="json").status_code == 403
    assert support_api.patch(detail("CP1"), {"name": "x"}, format="json").status_code == 403
    assert support_api.delete(detail("CP1")).status_code == 403
    assert ChargePoint.objects.get(identity="CP1").name == ""
    assert not ChargePoint.objects.filter(identity="CP2").exists()


# --- Register -----------------------------------------------------------------------------


def test_it_registers_a_station_with_a_hashed_password_never_shown(operator_api):
    response = operator_api.post(
        LIST,
        {
            "identity": "CP-Lyon.01",
            "name": "Lyon depot 1",
            "password": PASSWORD,
            "registration_status": "Pending",
            "heartbeat_interval": 120,
            "description": "Bay 4",
            "location": "Lyon",
        },
        format="json",
    )

    assert response.status_code == 201, response.data
    body = response.data
    assert body["identity"] == "CP-Lyon.01"
    assert body["has_password"] is True
    assert body["registration_status"] == "Pending"
    assert body["heartbeat_interval"] == 120
    assert body["effective_heartbeat_interval"] == 120
    assert body["online"] is False
    assert body["connectors"] == []
    assert "password" not in body and "password_hash" not in body
    assert PASSWORD not in response.content.decode()
    station = ChargePoint.objects.get(identity="CP-Lyon.01")
    assert station.password_hash != PASSWORD
    assert check_station_password(PASSWORD, station.password_hash)
    assert (station.name, station.description, station.location) == (
        "Lyon depot 1",
        "Bay 4",
        "Lyon",
    )


def test_it_registers_with_only_an_identity(operator_api, settings):
    settings.OCPP_HEARTBEAT_INTERVAL = 300
    response = operator_api.post(LIST, {"identity": "CP9"}, format="json")
    assert response.status_code == 201
    assert response.data["registration_status"] == "Accepted"
    assert response.data["has_password"] is False
    assert response.data["heartbeat_interval"] is None
    assert response.data["effective_heartbeat_interval"] == 300


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"identity": "bad identity"}, "identity", "Identity must be 1-48 characters"),
        ({"identity": "-starts-with-dash"}, "identity", "Identity must be"),
        ({"identity": "x" * 49}, "identity", "no more than 48"),
        ({}, "identity", "required"),
        ({"identity": "CP1", "password": "short"}, "password", "at least 16"),
        ({"identity": "CP1", "password": "p" * 41}, "password", "no more than 40"),
        ({"identity": "CP1", "registration_status": "Maybe"}, "registration_status", "valid"),
        ({"identity": "CP1", "heartbeat_interval": 0}, "heartbeat_interval", "greater than"),
        ({"identity": "CP1", "site": 999}, "site", "does not exist"),
    ],
)
def test_it_rejects_invalid_registrations_with_a_clear_message(operator_api, body, field, message):
    response = operator_api.post(LIST, body, format="json")
    assert response.status_code == 400
    assert message in str(response.data[field])
    assert not ChargePoint.objects.exists()


def test_it_rejects_a_duplicate_identity(operator_api):
    make_charge_point(identity="CP1")
    response = operator_api.post(LIST, {"identity": "CP1"}, format="json")
    assert response.status_code == 400
    assert "already registered" in str(response.data["identity"])
    assert ChargePoint.objects.count() == 1


# --- List ---------------------------------------------------------------------------------


def test_it_filters_by_online_status_and_search(operator_api):
    online_station("CP-ON", name="Depot north")
    make_charge_point(identity="CP-OFF", name="Depot south", registration_status="Rejected")
    # Connected but silent for longer than twice its interval: offline.
    make_charge_point(
        identity="CP-STALE",
        connected=True,
        heartbeat_interval=60,
        last_seen=timezone.now() - timedelta(seconds=121),
    )

    def identities(query: str) -> list[str]:
        response = operator_api.get(LIST + query)
        assert response.status_code == 200
        return [row["identity"] for row in response.data["results"]]

    assert identities("?online=true") == ["CP-ON"]
    assert identities("?online=false") == ["CP-OFF", "CP-STALE"]
    assert identities("?registration_status=Rejected") == ["CP-OFF"]
    assert identities("?search=north") == ["CP-ON"]
    assert identities("?search=cp-o") == ["CP-OFF", "CP-ON"]


def test_it_shows_and_filters_stations_whose_clock_is_off(operator_api, settings):
    settings.OCPP_CLOCK_SKEW_TOLERANCE = 300
    measured = timezone.now() - timedelta(minutes=1)
    make_charge_point(identity="CP-AHEAD", clock_offset_seconds=7200, clock_offset_at=measured)
    make_charge_point(identity="CP-BEHIND", clock_offset_seconds=-301, clock_offset_at=measured)
    make_charge_point(identity="CP-RIGHT", clock_offset_seconds=-2, clock_offset_at=measured)
    make_charge_point(identity="CP-NEW")  # never measured: not flagged

    def identities(query: str) -> list[str]:
        response = operator_api.get(LIST + query)
        assert response.status_code == 200
        return [row["identity"] for row in response.data["results"]]

    assert identities("?clock_skewed=true") == ["CP-AHEAD", "CP-BEHIND"]
    assert identities("?clock_skewed=false") == ["CP-NEW", "CP-RIGHT"]
    body = operator_api.get(detail("CP-AHEAD")).data
    assert body["clock_skewed"] is True
    assert body["clock_offset_seconds"] == 7200
    assert body["clock_offset_at"] is not None
    assert operator_api.get(detail("CP-RIGHT")).data["clock_skewed"] is False


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?online=maybe", "online"),
        ("?registration_status=Nope", "registration_status"),
        ("?clock_skewed=often", "clock_skewed"),
    ],
)
def test_it_rejects_unreadable_list_filters(operator_api, query, field):
    response = operator_api.get(LIST + query)
    assert response.status_code == 400
    assert field in response.data


def test_the_list_costs_a_fixed_number_of_queries(operator_api, django_assert_max_num_queries):
    for n in range(20):
        station = make_charge_point(identity=f"CP{n:02d}")
        make_connector(charge_point=station, connector_id=1)
        make_connector(charge_point=station, connector_id=2)
    operator_api.get(LIST)  # warm the auth caches of the test client's user
    # auth token + user groups + count + page + connectors prefetch
    with django_assert_max_num_queries(6):
        response = operator_api.get(LIST)
    assert len(response.data["results"]) == 20
    assert all(len(row["connectors"]) == 2 for row in response.data["results"])


# --- Detail -------------------------------------------------------------------------------


def test_it_shows_device_data_state_and_connectors(operator_api):
    booted = timezone.now() - timedelta(minutes=5)
    station = online_station(
        "CP1",
        vendor="XQ",
        model="ocpp_ac_7kw",
        charge_point_serial_number="ks0117100000008",
        charge_box_serial_number="box-1",
        firmware_version="250722",
        iccid="8931",
        imsi="2040",
        meter_type="DTSU666",
        meter_serial_number="m-42",
        vendor_extras={"customData": {"moduleVersion": "FC4X.250723", "networkType": "1"}},
        last_boot_at=booted,
        firmware_status="Installed",
        diagnostics_status="Uploaded",
        local_list_version=3,
        configuration={"HeartbeatInterval": {"value": "300", "readonly": False}},
    )
    make_connector(charge_point=station, connector_id=0)
    make_connector(
        charge_point=station,
        connector_id=1,
        status="Faulted",
        error_code="GroundFailure",
        info="RCD tripped",
        vendor_id="XQ",
        vendor_error_code="E12",
    )

    body = operator_api.get(detail("CP1")).data

    assert body["online"] is True and body["connected"] is True
    assert body["vendor"] == "XQ" and body["model"] == "ocpp_ac_7kw"
    assert body["charge_point_serial_number"] == "ks0117100000008"
    assert body["charge_box_serial_number"] == "box-1"
    assert body["firmware_version"] == "250722"
    assert (body["iccid"], body["imsi"]) == ("8931", "2040")
    assert (body["meter_type"], body["meter_serial_number"]) == ("DTSU666", "m-42")
    assert body["vendor_extras"] == {
        "customData": {"moduleVersion": "FC4X.250723", "networkType": "1"}
    }
    assert body["last_boot_at"] is not None and body["last_seen"] is not None
    assert (body["firmware_status"], body["diagnostics_status"]) == ("Installed", "Uploaded")
    assert body["local_list_version"] == 3
    assert body["configuration"]["HeartbeatInterval"]["value"] == "300"
    assert [c["connector_id"] for c in body["connectors"]] == [0, 1]
    faulted = body["connectors"][1]
    assert faulted["status"] == "Faulted"
    assert faulted["error_code"] == "GroundFailure"
    assert faulted["info"] == "RCD tripped"
    assert faulted["vendor_error_code"] == "E12"


def test_it_answers_404_for_an_unknown_station_and_400_for_a_malformed_identity(operator_api):
    missing = operator_api.get(detail("NOPE"))
    assert missing.status_code == 404
    assert "NOPE" in missing.data["detail"]
    malformed = operator_api.get(detail("-bad"))
    assert malformed.status_code == 400
    assert "Identity must be" in str(malformed.data["identity"])


def test_put_is_not_offered(operator_api):
    make_charge_point(identity="CP1")
    assert operator_api.put(detail("CP1"), {"identity": "CP1"}, format="json").status_code == 405


# --- Change -------------------------------------------------------------------------------


def test_it_changes_settings(operator_api):
    make_charge_point(identity="CP1")
    response = operator_api.patch(
        detail("CP1"),
        {"name": "Renamed", "registration_status": "Rejected", "heartbeat_interval": 60},
        format="json",
    )
    assert response.status_code == 200, response.data
    assert response.data["name"] == "Renamed"
    assert response.data["effective_heartbeat_interval"] == 60
    station = ChargePoint.objects.get(identity="CP1")
    assert (station.name, station.registration_status) == ("Renamed", "Rejected")


def test_it_sets_and_clears_the_password(operator_api):
    make_charge_point(identity="CP1")
    set_response = operator_api.patch(detail("CP1"), {"password": PASSWORD}, format="json")
    assert set_response.status_code == 200
    assert set_response.data["has_password"] is True
    assert check_station_password(PASSWORD, ChargePoint.objects.get().password_hash)

    for cleared in (None, ""):
        operator_api.patch(detail("CP1"), {"password": PASSWORD}, format="json")
        response = operator_api.patch(detail("CP1"), {"password": cleared}, format="json")
        assert response.status_code == 200
        assert response.data["has_password"] is False
        assert ChargePoint.objects.get().password_hash == ""


def test_it_keeps_the_password_when_the_patch_does_not_mention_it(operator_api):
    make_charge_point(identity="CP1", password=PASSWORD)
    operator_api.patch(detail("CP1"), {"name": "x"}, format="json")
    assert check_station_password(PASSWORD, ChargePoint.objects.get().password_hash)


def test_it_refuses_to_change_the_identity(operator_api):
    make_charge_point(identity="CP1")
    response = operator_api.patch(detail("CP1"), {"identity": "CP2"}, format="json")
    assert response.status_code == 400
    assert "cannot change" in str(response.data["identity"])
    assert ChargePoint.objects.filter(identity="CP1").exists()
    same = operator_api.patch(detail("CP1"), {"identity": "CP1", "name": "ok"}, format="json")
    assert same.status_code == 200


def test_it_rejects_a_short_password_on_change(operator_api):
    make_charge_point(identity="CP1", password=PASSWORD)
    response = operator_api.patch(detail("CP1"), {"password": "short"}, format="json")
    assert response.status_code == 400
    assert "at least 16" in str(response.data["password"])
    assert check_station_password(PASSWORD, ChargePoint.objects.get().password_hash)


def test_a_change_does_not_roll_back_connection_state_written_meanwhile():
    station = make_charge_point(identity="CP1")
    stale = ChargePoint.objects.get(pk=station.pk)  # loaded before the gateway writes
    seen = timezone.now()
    ChargePoint.objects.filter(pk=station.pk).update(connected=True, last_seen=seen)

    charge_point_update(charge_point=stale, name="Renamed")

    station.refresh_from_db()
    assert station.name == "Renamed"
    assert station.connected is True and station.last_seen == seen


# --- Delete -------------------------------------------------------------------------------


def test_it_deletes_a_station_without_transactions(operator_api):
    station = make_charge_point(identity="CP1")
    make_connector(charge_point=station)
    StatusNotification.objects.create(
        charge_point=station, connector_id=1, status="Available", error_code="NoError"
    )
    response = operator_api.delete(detail("CP1"))
    assert response.status_code == 204
    assert not ChargePoint.objects.exists()
    assert not Connector.objects.exists() and not StatusNotification.objects.exists()


def test_it_refuses_to_delete_a_station_with_transactions_with_409(operator_api):
    station = make_charge_point(identity="CP1")
    make_transaction(charge_point=station)
    response = operator_api.delete(detail("CP1"))
    assert response.status_code == 409
    assert "cannot be deleted" in response.data["detail"]
    assert "Rejected" in response.data["detail"]
    assert ChargePoint.objects.filter(identity="CP1").exists()


def test_deleting_a_connected_station_closes_its_socket(
    operator_api, django_capture_on_commit_callbacks
):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    make_charge_point(identity="CP1", connected=True, ws_channel_name=channel)
    MessageLog.objects.create(identity="CP1", direction="in", payload="[]")

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_api.delete(detail("CP1"))

    assert response.status_code == 204
    assert async_to_sync(layer.receive)(channel) == {"type": "ocpp.replaced"}
