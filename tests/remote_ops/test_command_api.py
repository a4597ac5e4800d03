"""POST /api/v1/charge-points/<identity>/commands/ and the command log: what a caller gets
when things go wrong (timeout, offline, bad payload, CALLERROR, refusals) and who may call."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from csms.models import ChargePoint, Command, Reservation
from tests.factories import make_charge_point, make_reservation, make_transaction, make_user
from tests.remote_ops.conftest import (
    answer_call,
    api_get,
    api_post,
    client_for,
    command_url,
    round_trip,
)

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


async def test_a_station_that_never_answers_times_out_quickly(
    online_station, operator_api, settings
):
    settings.OCPP_COMMAND_TIMEOUT = 0.5
    station = await online_station("CP1")

    started = time.monotonic()
    request = asyncio.ensure_future(
        api_post(operator_api, command_url("CP1"), {"action": "Reset", "payload": {"type": "Soft"}})
    )
    frame = await station.receive()  # the station receives the call but stays silent
    response = await request
    elapsed = time.monotonic() - started

    assert frame[2] == "Reset"
    assert response.status_code == 504
    assert response.json()["state"] == "timed_out"
    assert elapsed < 3, f"took {elapsed:.1f}s for a 0.5 s timeout"
    command = await Command.objects.aget()
    assert command.state == Command.State.TIMED_OUT
    assert command.completed_at is not None
    # A late answer changes nothing.
    await station.send_text(json.dumps([3, frame[1], {"status": "Accepted"}]))
    await asyncio.sleep(0.1)
    await command.arefresh_from_db()
    assert command.state == Command.State.TIMED_OUT and command.response is None


async def test_the_timeout_can_be_given_per_command(online_station, operator_api):
    station = await online_station("CP1")
    request = asyncio.ensure_future(
        api_post(
            operator_api,
            command_url("CP1"),
            {"action": "ClearCache", "payload": {}, "timeout": 0.3},
        )
    )
    await station.receive()
    response = await request

    assert response.status_code == 504
    assert response.json()["timeout"] == 0.3


async def test_an_offline_station_is_refused_at_once(operator_api):
    await db(make_charge_point)(identity="CP1")  # registered, never connected

    started = time.monotonic()
    response = await api_post(
        operator_api, command_url("CP1"), {"action": "Reset", "payload": {"type": "Soft"}}
    )

    assert time.monotonic() - started < 1
    assert response.status_code == 409
    assert response.json()["code"] == "station_offline"
    assert "CP1 is offline" in response.json()["detail"]
    assert await Command.objects.acount() == 0


async def test_a_silent_station_counts_as_offline(operator_api):
    await db(make_charge_point)(
        identity="CP1",
        connected=True,
        ws_channel_name="specific.inmemory!gone",
        last_seen=timezone.now() - timedelta(hours=2),
    )

    response = await api_post(
        operator_api, command_url("CP1"), {"action": "Reset", "payload": {"type": "Soft"}}
    )

    assert response.status_code == 409
    assert "not heard from since" in response.json()["detail"]


async def test_an_invalid_payload_is_a_400_with_the_reason_and_nothing_is_sent(
    online_station, operator_api
):
    station = await online_station("CP1")

    response = await api_post(
        operator_api,
        command_url("CP1"),
        {"action": "ChangeAvailability", "payload": {"connectorId": "one", "type": "Operative"}},
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_payload"
    assert body["field"] == "connectorId"
    assert "connectorId" in body["detail"] and "integer" in body["detail"]
    assert await station.receive_nothing(0.2)
    assert await Command.objects.acount() == 0


async def test_a_missing_required_field_is_named(online_station, operator_api):
    await online_station("CP1")

    response = await api_post(
        operator_api, command_url("CP1"), {"action": "RemoteStartTransaction", "payload": {}}
    )

    assert response.status_code == 400
    assert "idTag" in response.json()["detail"]


async def test_an_unknown_action_is_a_400_listing_the_operations(online_station, operator_api):
    await online_station("CP1")

    response = await api_post(
        operator_api, command_url("CP1"), {"action": "Heartbeat", "payload": {}}
    )

    assert response.status_code == 400
    assert "UnlockConnector" in response.json()["action"][0]


async def test_an_unknown_station_is_a_404(operator_api):
    response = await api_post(
        operator_api, command_url("NOPE"), {"action": "ClearCache", "payload": {}}
    )

    assert response.status_code == 404


async def test_a_callerror_answer_is_a_failed_command_with_the_code(online_station, operator_api):
    station = await online_station("CP1")
    request = asyncio.ensure_future(
        api_post(operator_api, command_url("CP1"), {"action": "ClearCache", "payload": {}})
    )
    frame = await station.receive()
    await station.send_text(
        json.dumps([4, frame[1], "NotSupported", "ClearCache is not supported", {"x": 1}])
    )
    response = await request

    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "failed"
    assert body["error_code"] == "NotSupported"
    assert body["error_description"] == "ClearCache is not supported"
    assert body["error_details"] == {"x": 1}
    assert body["response"] is None


async def test_an_answer_that_breaks_the_schema_is_failed_and_kept(online_station, operator_api):
    station = await online_station("CP1")
    response, _ = await round_trip(
        operator_api, station, "CP1", "Reset", {"type": "Soft"}, {"status": "Maybe"}
    )

    body = response.json()
    assert body["state"] == "failed"
    assert body["error_code"] == "PropertyConstraintViolation"
    assert body["error_details"] == {"response": {"status": "Maybe"}}


@pytest.mark.parametrize(
    "answer,field",
    [
        (r'{"status": "Accepted", "x": "\ud800"}', "x"),
        ('{"status": "Accepted", "x": 1e999}', "x"),
    ],
    ids=["lone-surrogate", "non-finite"],
)
async def test_an_answer_holding_a_value_nothing_can_store_fails_the_command_at_once(
    online_station, operator_api, answer, field
):
    station = await online_station("CP1")
    request = asyncio.ensure_future(
        api_post(operator_api, command_url("CP1"), {"action": "ClearCache", "payload": {}})
    )
    frame = await station.receive()
    await station.send_text(f'[3, "{frame[1]}", {answer}]')
    response = await asyncio.wait_for(request, timeout=10)

    body = response.json()
    assert body["state"] == "failed"
    assert body["error_code"] == "TypeConstraintViolation"
    assert field in body["error_description"]
    assert body["response"] is None


async def test_a_callerror_to_reserve_now_rejects_the_reservation(online_station, operator_api):
    station = await online_station("CP1")
    request = asyncio.ensure_future(
        api_post(
            operator_api,
            command_url("CP1"),
            {
                "action": "ReserveNow",
                "payload": {"connectorId": 1, "idTag": "T", "expiryDate": "2030-01-01T00:00:00Z"},
            },
        )
    )
    frame = await station.receive()
    await station.send_text(json.dumps([4, frame[1], "NotImplemented", "", {}]))
    await request

    reservation = await Reservation.objects.aget()
    assert reservation.state == Reservation.State.REJECTED


async def test_reserve_now_with_a_reservation_id_we_never_issued_is_refused(
    online_station, operator_api
):
    station = await online_station("CP1")

    response = await api_post(
        operator_api,
        command_url("CP1"),
        {
            "action": "ReserveNow",
            "payload": {
                "connectorId": 1,
                "idTag": "T",
                "expiryDate": "2030-01-01T00:00:00Z",
                "reservationId": 999,
            },
        },
    )

    assert response.status_code == 400
    assert response.json()["field"] == "reservationId"
    assert await station.receive_nothing(0.2)
    assert await Command.objects.acount() == 0


@pytest.mark.parametrize(
    "action,payload",
    [
        ("RemoteStartTransaction", {"idTag": "04A2B3C4"}),
        ("RemoteStopTransaction", {"transactionId": 1}),
    ],
)
async def test_a_pending_station_may_not_receive_remote_start_or_stop(
    online_station, operator_api, action, payload
):
    station = await online_station("CP1", registration_status="Pending")

    response = await api_post(
        operator_api, command_url("CP1"), {"action": action, "payload": payload}
    )

    assert response.status_code == 409
    assert response.json()["code"] == "not_allowed"
    assert "Pending" in response.json()["detail"]
    assert await station.receive_nothing(0.2)


async def test_a_pending_station_may_still_be_configured(online_station, operator_api):
    station = await online_station("CP1", registration_status="Pending")

    response, _ = await round_trip(
        operator_api, station, "CP1", "GetConfiguration", {}, {"configurationKey": []}
    )

    assert response.json()["state"] == "answered"


async def test_wait_0_returns_202_and_the_answer_lands_in_the_log(online_station, operator_api):
    station = await online_station("CP1")

    response = await api_post(
        operator_api, command_url("CP1", wait=False), {"action": "ClearCache", "payload": {}}
    )

    assert response.status_code == 202
    assert response.json()["state"] in ("queued", "sent")
    command_id = response.json()["id"]
    assert response["Location"] == f"/api/v1/commands/{command_id}/"
    await answer_call(station, {"status": "Accepted"}, action="ClearCache")
    for _ in range(50):
        detail = await api_get(operator_api, f"/api/v1/commands/{command_id}/")
        if detail.json()["state"] == "answered":
            break
        await asyncio.sleep(0.05)
    assert detail.json()["response"] == {"status": "Accepted"}


# --- Conveniences -----------------------------------------------------------------------------


async def test_remote_stop_of_an_ended_transaction_is_a_409(online_station, operator_api):
    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")
    tx = await db(make_transaction)(charge_point=cp, stopped_at=timezone.now(), meter_stop=2000)

    response = await api_post(operator_api, f"/api/v1/transactions/{tx.pk}/remote-stop/")

    assert response.status_code == 409
    assert await station.receive_nothing(0.2)


async def test_remote_stop_of_an_unknown_transaction_is_a_404(operator_api):
    response = await api_post(operator_api, "/api/v1/transactions/999999/remote-stop/")

    assert response.status_code == 404


async def test_a_full_local_list_naming_unregistered_tags_is_a_400(online_station, operator_api):
    station = await online_station("CP1")

    response = await api_post(
        operator_api,
        "/api/v1/charge-points/CP1/local-list/",
        {"update_type": "Full", "id_tags": ["NOSUCHTAG"]},
    )

    assert response.status_code == 400
    assert "NOSUCHTAG" in response.json()["id_tags"][0]
    assert await station.receive_nothing(0.2)


async def test_cancel_a_reservation_from_its_endpoint(online_station, operator_api):
    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")
    reservation = await database_sync_to_async(make_reservation)(charge_point=cp)

    request = asyncio.ensure_future(
        api_post(operator_api, f"/api/v1/reservations/{reservation.pk}/cancel/")
    )
    frame = await answer_call(station, {"status": "Accepted"}, action="CancelReservation")
    response = await request

    assert frame[3] == {"reservationId": reservation.pk}
    assert response.json()["state"] == "answered"
    listed = await api_get(operator_api, "/api/v1/reservations/", state="cancelled")
    assert [r["id"] for r in listed.json()["results"]] == [reservation.pk]


# --- The command log --------------------------------------------------------------------------


async def test_the_log_filters_by_station_action_state_and_issuer(
    online_station, operator_api, support_api
):
    station1 = await online_station("CP1")
    station2 = await online_station("CP2")
    await round_trip(operator_api, station1, "CP1", "ClearCache", {}, {"status": "Accepted"})
    await round_trip(
        support_api, station2, "CP2", "Reset", {"type": "Soft"}, {"status": "Rejected"}
    )
    await round_trip(
        support_api, station1, "CP1", "Reset", {"type": "Soft"}, {"status": "Accepted"}
    )

    async def listed(**params):
        response = await api_get(operator_api, "/api/v1/commands/", **params)
        assert response.status_code == 200, response.json()
        return [
            (c["charge_point"], c["action"], c["issued_by"]) for c in response.json()["results"]
        ]

    assert await listed(charge_point="CP1") == [
        ("CP1", "Reset", "sam-support"),
        ("CP1", "ClearCache", "olivia-operator"),
    ]
    assert await listed(action="Reset") == [
        ("CP1", "Reset", "sam-support"),
        ("CP2", "Reset", "sam-support"),
    ]
    assert await listed(issued_by="olivia-operator") == [("CP1", "ClearCache", "olivia-operator")]
    assert await listed(state="answered", charge_point="CP2") == [("CP2", "Reset", "sam-support")]
    per_station = await api_get(operator_api, "/api/v1/charge-points/CP2/commands/")
    assert [c["action"] for c in per_station.json()["results"]] == ["Reset"]
    bad = await api_get(operator_api, "/api/v1/commands/", state="pending")
    assert bad.status_code == 400


async def test_a_command_record_shows_everything(online_station, operator_api):
    station = await online_station("CP1")
    response, _ = await round_trip(
        operator_api, station, "CP1", "UnlockConnector", {"connectorId": 1}, {"status": "Unlocked"}
    )
    detail = await api_get(operator_api, f"/api/v1/commands/{response.json()['id']}/")

    body = detail.json()
    assert set(body) >= {
        "id",
        "charge_point",
        "action",
        "request",
        "state",
        "response",
        "error_code",
        "error_description",
        "issued_by",
        "source",
        "created_at",
        "sent_at",
        "completed_at",
    }
    assert body["charge_point"] == "CP1"
    assert body["request"] == {"connectorId": 1}
    assert body["source"] == "api"
    assert body["sent_at"] is not None and body["completed_at"] is not None


# --- Who may do what --------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["operator", "support"])
async def test_operators_and_support_may_send(online_station, role):
    user = await db(make_user)(username=f"{role}-1", role=role)
    client = await db(client_for)(user)
    station = await online_station("CP1")

    response, _ = await round_trip(client, station, "CP1", "ClearCache", {}, {"status": "Accepted"})

    assert response.status_code == 200
    listed = await api_get(client, "/api/v1/commands/")
    assert listed.status_code == 200


async def test_a_driver_is_refused(online_station, driver_api):
    station = await online_station("CP1")

    response = await api_post(
        driver_api, command_url("CP1"), {"action": "ClearCache", "payload": {}}
    )

    assert response.status_code == 403
    assert await station.receive_nothing(0.2)
    assert (await api_get(driver_api, "/api/v1/commands/")).status_code == 403
    assert (await api_post(driver_api, "/api/v1/transactions/1/remote-stop/")).status_code == 403


async def test_a_staff_user_without_a_role_is_refused(online_station):
    await online_station("CP1")
    staff = await db(make_user)(username="no-role", is_staff=True)
    client = await db(client_for)(staff)

    response = await api_post(client, command_url("CP1"), {"action": "ClearCache", "payload": {}})

    assert response.status_code == 403


async def test_anonymous_callers_must_authenticate(online_station, anonymous_api):
    station = await online_station("CP1")

    response = await api_post(
        anonymous_api, command_url("CP1"), {"action": "ClearCache", "payload": {}}
    )

    assert response.status_code == 401
    assert await station.receive_nothing(0.2)
    assert (await api_get(anonymous_api, "/api/v1/commands/")).status_code == 401


async def test_a_full_call_queue_is_a_503_and_the_command_is_failed(
    online_station, operator_api, monkeypatch
):
    from channels.exceptions import ChannelFull
    from channels.layers import get_channel_layer

    await online_station("CP1")
    layer = get_channel_layer()
    original_send = layer.send

    async def send(channel, message):
        if message.get("type") == "ocpp.call":
            raise ChannelFull()
        return await original_send(channel, message)

    monkeypatch.setattr(layer, "send", send)

    response = await api_post(operator_api, command_url("CP1"), {"action": "ClearCache"})

    assert response.status_code == 503
    assert response.json()["code"] == "gateway_unavailable"
    command = await Command.objects.aget()
    assert command.state == Command.State.FAILED
    assert "queue is full" in command.error_description
