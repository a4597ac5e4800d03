"""Reservations: ReserveNow and CancelReservation (OCPP 1.6 §5.13, §5.1)."""

from __future__ import annotations

from csms.models import Command
from csms.services.reservations import (
    reservation_cancel,
    reservation_prepare,
    reservation_record_answer,
    reservation_withdraw,
)
from ocpp_gateway.operations.base import Operation, Payload


def _reserve_now_answered(command: Command, response: Payload) -> None:
    reservation_record_answer(command=command, status=response.get("status", ""))


def _reserve_now_not_done(command: Command) -> None:
    reservation_withdraw(command=command)


def _cancel_reservation_answered(command: Command, response: Payload) -> None:
    if response.get("status") == "Accepted":
        reservation_cancel(
            charge_point_id=command.charge_point_id,
            reservation_id=command.request.get("reservationId"),
        )


RESERVE_NOW = Operation(
    action="ReserveNow",
    # The reservationId is the Reservation's primary key: made when the command is stored.
    assigned_field="reservationId",
    prepare=reservation_prepare,
    answered=_reserve_now_answered,
    not_done=_reserve_now_not_done,
    examples=(
        (
            "Reserve connector 1 (the CSMS assigns reservationId)",
            {"connectorId": 1, "idTag": "04A2B3C4", "expiryDate": "2030-01-01T12:00:00Z"},
        ),
    ),
)
CANCEL_RESERVATION = Operation(
    action="CancelReservation",
    answered=_cancel_reservation_answered,
    examples=(("Cancel reservation 1", {"reservationId": 1}),),
)

OPERATIONS = (RESERVE_NOW, CANCEL_RESERVATION)
