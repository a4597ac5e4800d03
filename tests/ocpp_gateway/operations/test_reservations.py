"""Reservations (ocpp_gateway.operations.reservations): ReserveNow and CancelReservation,
through the API to a simulated station and back, and what each answer leaves of the
reservation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from csms.models import ChargePoint, Reservation
from tests.factories import make_id_tag, make_reservation
from tests.ocpp_gateway.operations.conftest import station_calls
from tests.ocpp_gateway.support import db
from tests.remote_ops.conftest import round_trip

pytestmark = pytest.mark.django_db(transaction=True)

# Timestamps go out normalised to UTC, with milliseconds: given so, a request goes out as is.
EXPIRY = "2030-01-01T12:00:00.000Z"


async def test_it_creates_a_reservation_that_a_start_transaction_then_consumes(
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

    answer = await station_calls(
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


@pytest.mark.parametrize("status", ["Occupied", "Faulted", "Rejected", "Unavailable"])
async def test_it_rejects_a_new_reservation_with_the_station_status(
    online_station, operator_api, status
):
    station = await online_station("CP1")
    await round_trip(
        operator_api,
        station,
        "CP1",
        "ReserveNow",
        {"connectorId": 1, "idTag": "T1", "expiryDate": "2030-01-01T12:00:00Z"},
        {"status": status},
    )

    reservation = await Reservation.objects.aget()
    assert reservation.state == Reservation.State.REJECTED
    assert reservation.station_status == status


def _replace_it(reservation_id):
    return {
        "connectorId": 2,
        "idTag": "NEW",
        "expiryDate": EXPIRY,
        "reservationId": reservation_id,
    }


def _cancel_it(reservation_id):
    return {"reservationId": reservation_id}


@pytest.mark.parametrize(
    "action,payload_for,status,left",
    [
        pytest.param(
            "ReserveNow",
            _replace_it,
            "Accepted",
            (2, "NEW", Reservation.State.ACTIVE, "Accepted"),
            id="ReserveNow Accepted: the reservation is replaced",
        ),
        pytest.param(
            "ReserveNow",
            _replace_it,
            "Occupied",
            (1, "OLD", Reservation.State.ACTIVE, "Occupied"),
            id="ReserveNow Occupied: the old reservation still stands",
        ),
        pytest.param(
            "CancelReservation",
            _cancel_it,
            "Accepted",
            (1, "OLD", Reservation.State.CANCELLED, ""),
            id="CancelReservation Accepted: the reservation is cancelled",
        ),
        pytest.param(
            "CancelReservation",
            _cancel_it,
            "Rejected",
            (1, "OLD", Reservation.State.ACTIVE, ""),
            id="CancelReservation Rejected: the reservation still stands",
        ),
    ],
)
async def test_it_applies_the_answer_to_the_active_reservation_the_call_names(
    online_station, operator_api, action, payload_for, status, left
):
    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")
    existing = await db(make_reservation)(
        charge_point=cp, id_tag="OLD", expires_in=timedelta(minutes=10)
    )
    payload = payload_for(existing.pk)
    response, frame = await round_trip(
        operator_api, station, "CP1", action, payload, {"status": status}
    )

    assert frame[3] == payload
    assert response.json()["state"] == "answered"
    await existing.arefresh_from_db()
    assert (
        existing.connector_id,
        existing.id_tag,
        existing.state,
        existing.station_status,
    ) == left
    assert await Reservation.objects.acount() == 1


# --- parentIdTag from the registry --------------------------------------------------------


async def test_it_fills_in_the_parent_id_tag_the_registry_knows_for_the_reserved_tag(
    online_station, operator_api
):
    # OCPP 1.6 ReserveNow: the station lets a tag with the same parent use the reservation,
    # which it can only do if it is told the parent (the certification cases expect it).
    station = await online_station("CP1")
    fleet = await db(make_id_tag)(id_tag="FLEET-ACME")
    await db(make_id_tag)(id_tag="04A2B3C4", parent=fleet)

    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "ReserveNow",
        {"connectorId": 1, "idTag": "04a2b3c4", "expiryDate": EXPIRY},
        {"status": "Accepted"},
    )

    assert frame[3]["parentIdTag"] == "FLEET-ACME"
    assert response.json()["request"]["parentIdTag"] == "FLEET-ACME"
    reservation = await Reservation.objects.aget()
    assert reservation.parent_id_tag == "FLEET-ACME"


async def test_it_fills_in_the_parent_id_tag_when_it_replaces_a_reservation(
    online_station, operator_api
):
    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")
    existing = await db(make_reservation)(charge_point=cp, id_tag="OLD")
    fleet = await db(make_id_tag)(id_tag="FLEET-ACME")
    await db(make_id_tag)(id_tag="NEW", parent=fleet)

    _, frame = await round_trip(
        operator_api, station, "CP1", "ReserveNow", _replace_it(existing.pk), {"status": "Accepted"}
    )

    assert frame[3]["parentIdTag"] == "FLEET-ACME"
    await existing.arefresh_from_db()
    assert (existing.id_tag, existing.parent_id_tag) == ("NEW", "FLEET-ACME")


async def test_it_sends_the_parent_id_tag_the_caller_gave(online_station, operator_api):
    station = await online_station("CP1")
    fleet = await db(make_id_tag)(id_tag="FLEET-ACME")
    await db(make_id_tag)(id_tag="04A2B3C4", parent=fleet)
    payload = {
        "connectorId": 1,
        "idTag": "04A2B3C4",
        "expiryDate": EXPIRY,
        "parentIdTag": "DEPOT-7",
    }

    _, frame = await round_trip(
        operator_api, station, "CP1", "ReserveNow", payload, {"status": "Accepted"}
    )

    assert frame[3]["parentIdTag"] == "DEPOT-7"
    assert (await Reservation.objects.aget()).parent_id_tag == "DEPOT-7"


@pytest.mark.parametrize("registered", [True, False], ids=["tag without parent", "unknown tag"])
async def test_it_sends_no_parent_id_tag_when_the_registry_has_none(
    online_station, operator_api, registered
):
    station = await online_station("CP1")
    if registered:
        await db(make_id_tag)(id_tag="04A2B3C4")
    payload = {"connectorId": 1, "idTag": "04A2B3C4", "expiryDate": EXPIRY}

    _, frame = await round_trip(
        operator_api, station, "CP1", "ReserveNow", payload, {"status": "Accepted"}
    )

    assert frame[3] == {**payload, "reservationId": (await Reservation.objects.aget()).pk}
