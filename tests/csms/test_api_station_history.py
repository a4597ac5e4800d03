"""Per-station reads (message log, status history, refused connections) and one-step
registration of a refused station."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from csms.models import ChargePoint, ConnectionAttempt, MessageLog, StatusNotification
from tests.factories import make_charge_point

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def log(identity: str, *, minutes: int, action: str, direction: str = "in", **fields):
    station = ChargePoint.objects.filter(identity=identity).first()
    return MessageLog.objects.create(
        charge_point=station,
        identity=identity,
        direction=direction,
        message_type=fields.pop("message_type", 2),
        action=action,
        message_id=fields.pop("message_id", f"m{minutes}"),
        payload=fields.pop("payload", f'[2, "m{minutes}", "{action}", {{}}]'),
        created_at=T0 + timedelta(minutes=minutes),
    )


# --- Message log --------------------------------------------------------------------------


def test_it_lists_a_stations_frames_newest_first(support_api):
    make_charge_point(identity="CP1")
    make_charge_point(identity="CP2")
    log("CP1", minutes=0, action="BootNotification")
    log("CP1", minutes=1, action="BootNotification", direction="out", message_type=3)
    log("CP1", minutes=2, action="Heartbeat")
    log("CP2", minutes=3, action="Heartbeat")

    response = support_api.get("/api/v1/charge-points/CP1/messages/")

    assert response.status_code == 200
    rows = response.data["results"]
    assert [(r["action"], r["direction"]) for r in rows] == [
        ("Heartbeat", "in"),
        ("BootNotification", "out"),
        ("BootNotification", "in"),
    ]
    assert set(rows[0]) == {
        "id",
        "direction",
        "message_type",
        "action",
        "message_id",
        "payload",
        "created_at",
    }
    assert rows[0]["payload"] == '[2, "m2", "Heartbeat", {}]'


def test_it_filters_the_message_log(operator_api):
    make_charge_point(identity="CP1")
    for minute, action in enumerate(["BootNotification", "Heartbeat", "Heartbeat", "Authorize"]):
        log("CP1", minutes=minute, action=action)
    log("CP1", minutes=5, action="Heartbeat", direction="out", message_type=3)
    url = "/api/v1/charge-points/CP1/messages/"

    def minutes(query: str) -> list[int]:
        response = operator_api.get(url + query)
        assert response.status_code == 200, response.data
        return [
            int((datetime.fromisoformat(r["created_at"]) - T0).total_seconds() // 60)
            for r in response.data["results"]
        ]

    assert minutes("?action=Heartbeat") == [5, 2, 1]
    assert minutes("?action=Heartbeat&direction=in") == [2, 1]
    assert minutes("?since=2025-03-01T08:01:00Z&until=2025-03-01T08:03:00Z") == [2, 1]
    # A time without zone is UTC; '+' unescaped in a query string arrives as a space.
    assert minutes("?since=2025-03-01T08:03:00") == [5, 3]
    assert minutes("?until=2025-03-01T09:01:00+01:00") == [0]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?since=yesterday", "since"),
        ("?until=2025-13-01T00:00:00Z", "until"),
        ("?direction=sideways", "direction"),
        ("?since=2025-03-02&until=2025-03-01", "until"),
    ],
)
def test_it_rejects_unreadable_message_filters(operator_api, query, field):
    make_charge_point(identity="CP1")
    response = operator_api.get("/api/v1/charge-points/CP1/messages/" + query)
    assert response.status_code == 400
    assert field in response.data


def test_the_message_log_pages_with_a_cursor(operator_api):
    make_charge_point(identity="CP1")
    for minute in range(5):
        log("CP1", minutes=minute, action="Heartbeat")
    first = operator_api.get("/api/v1/charge-points/CP1/messages/?page_size=2").data
    assert len(first["results"]) == 2 and first["next"]
    second = operator_api.get(first["next"]).data
    third = operator_api.get(second["next"]).data
    ids = [r["id"] for page in (first, second, third) for r in page["results"]]
    assert len(ids) == len(set(ids)) == 5
    assert third["next"] is None


def test_the_message_log_is_404_for_an_unknown_station(operator_api, driver_api):
    assert operator_api.get("/api/v1/charge-points/NOPE/messages/").status_code == 404
    make_charge_point(identity="CP1")
    assert driver_api.get("/api/v1/charge-points/CP1/messages/").status_code == 403


# --- Status history -----------------------------------------------------------------------


def test_it_lists_status_history_with_filters(support_api):
    station = make_charge_point(identity="CP1")
    other = make_charge_point(identity="CP2")
    for minute, (connector, status) in enumerate(
        [(0, "Available"), (1, "Preparing"), (1, "Charging"), (2, "Faulted")]
    ):
        StatusNotification.objects.create(
            charge_point=station,
            connector_id=connector,
            status=status,
            error_code="GroundFailure" if status == "Faulted" else "NoError",
            vendor_error_code="E1" if status == "Faulted" else "",
            timestamp=T0 + timedelta(minutes=minute),
            received_at=T0 + timedelta(minutes=minute),
        )
    StatusNotification.objects.create(
        charge_point=other, connector_id=1, status="Available", error_code="NoError"
    )
    url = "/api/v1/charge-points/CP1/status-history/"

    rows = support_api.get(url).data["results"]
    assert [r["status"] for r in rows] == ["Faulted", "Charging", "Preparing", "Available"]
    assert rows[0]["error_code"] == "GroundFailure" and rows[0]["vendor_error_code"] == "E1"

    by_connector = support_api.get(url + "?connector_id=1").data["results"]
    assert [r["status"] for r in by_connector] == ["Charging", "Preparing"]
    since = support_api.get(url + "?since=2025-03-01T08:02:00Z").data["results"]
    assert [r["status"] for r in since] == ["Faulted", "Charging"]
    assert support_api.get(url + "?connector_id=one").status_code == 400


# --- Connection attempts ------------------------------------------------------------------


def attempt(identity: str, reason: str = "unknown", **fields) -> ConnectionAttempt:
    return ConnectionAttempt.objects.create(identity=identity, reason=reason, **fields)


def test_it_lists_refused_handshakes(support_api):
    attempt("NEW1", remote_address="10.0.0.7")
    attempt("CP1", reason="bad_credentials", detail="wrong password")
    attempt("bad id", reason="malformed")

    rows = support_api.get("/api/v1/connection-attempts/").data["results"]
    assert {r["identity"] for r in rows} == {"NEW1", "CP1", "bad id"}
    unknown = support_api.get("/api/v1/connection-attempts/?reason=unknown").data["results"]
    assert [(r["identity"], r["remote_address"]) for r in unknown] == [("NEW1", "10.0.0.7")]
    by_identity = support_api.get("/api/v1/connection-attempts/?identity=CP1").data["results"]
    assert [r["detail"] for r in by_identity] == ["wrong password"]
    assert support_api.get("/api/v1/connection-attempts/?reason=nope").status_code == 400


def test_it_lists_a_stations_refused_handshakes(operator_api):
    make_charge_point(identity="CP1", password="a-station-secret-0123")
    attempt("CP1", reason="bad_credentials", detail="no Basic credentials")
    attempt("CP2")
    rows = operator_api.get("/api/v1/charge-points/CP1/connection-attempts/").data["results"]
    assert [r["detail"] for r in rows] == ["no Basic credentials"]


def test_it_registers_a_refused_station_in_one_step(operator_api):
    first = attempt("NEW1", created_at=timezone.now() - timedelta(minutes=1))
    attempt("NEW1")
    kept = attempt("OTHER")

    response = operator_api.post(f"/api/v1/connection-attempts/{first.pk}/register/")

    assert response.status_code == 201, response.data
    assert response.data["identity"] == "NEW1"
    assert response.data["registration_status"] == "Accepted"
    assert ChargePoint.objects.filter(identity="NEW1").exists()
    # Its refused attempts are resolved; others stay.
    assert list(ConnectionAttempt.objects.all()) == [kept]


def test_registering_an_already_known_identity_answers_200(operator_api):
    make_charge_point(identity="CP1", name="Known")
    refused = attempt("CP1", reason="bad_credentials")
    response = operator_api.post(f"/api/v1/connection-attempts/{refused.pk}/register/")
    assert response.status_code == 200
    assert response.data["name"] == "Known"
    assert ChargePoint.objects.count() == 1


def test_it_refuses_to_register_a_malformed_identity(operator_api):
    malformed = attempt("bad id/../x", reason="malformed")
    response = operator_api.post(f"/api/v1/connection-attempts/{malformed.pk}/register/")
    assert response.status_code == 400
    assert "not a valid identity" in str(response.data["identity"])
    assert not ChargePoint.objects.exists()


def test_registration_needs_an_operator_and_an_existing_attempt(operator_api, support_api):
    refused = attempt("NEW1")
    assert (
        support_api.post(f"/api/v1/connection-attempts/{refused.pk}/register/").status_code == 403
    )
    assert not ChargePoint.objects.exists()
    missing = operator_api.post("/api/v1/connection-attempts/999999/register/")
    assert missing.status_code == 404
