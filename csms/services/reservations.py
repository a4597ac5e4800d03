"""Reservations: made for a ReserveNow, settled by the station's answer, consumed by a
StartTransaction, cancelled, or expired by the beat task."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from csms.models import ChargePoint, Command, Reservation, Transaction
from csms.selectors.authorization import id_tag_get
from csms.services.common import stored_datetime_required

OPEN_RESERVATION_STATES = (Reservation.State.REQUESTED, Reservation.State.ACTIVE)


def reservation_prepare(
    *, charge_point: ChargePoint, request: dict[str, Any], issued_by: Any
) -> dict[str, Any]:
    """Before a ReserveNow is stored (same transaction). The reservationId is ours to assign:
    it is the Reservation's primary key. Without one a new reservation is made and its id
    returned in the request; with one, it must be an open reservation of this station, which
    the station then replaces (OCPP 1.6 §5.13), updated once Accepted.

    A request without parentIdTag gets the reserved tag's parent from the registry, if it has
    one: the station lets any tag of that parent use the reservation, and can only do so if it
    is told. A parentIdTag the caller gave is sent as given."""
    request = _with_registry_parent(request)
    reservation_id = request.get("reservationId")
    if reservation_id is None:
        created = Reservation.objects.create(
            charge_point=charge_point,
            connector_id=request["connectorId"],
            id_tag=request["idTag"],
            parent_id_tag=request.get("parentIdTag", ""),
            expiry_date=stored_datetime_required(request["expiryDate"]),
            created_by=issued_by if getattr(issued_by, "pk", None) else None,
        )
        return {**request, "reservationId": created.pk}
    reservation = (
        Reservation.objects.select_for_update()
        .filter(pk=reservation_id, charge_point=charge_point)
        .first()
    )
    if reservation is None:
        raise ValidationError(
            {
                "reservationId": f"No reservation {reservation_id} for this station. Leave "
                "reservationId out to make a new reservation; it is assigned by the CSMS."
            }
        )
    if reservation.state not in OPEN_RESERVATION_STATES:
        raise ValidationError(
            {"reservationId": f"Reservation {reservation_id} is {reservation.state}."}
        )
    return request


def _with_registry_parent(request: dict[str, Any]) -> dict[str, Any]:
    if request.get("parentIdTag"):
        return request
    tag = id_tag_get(id_tag=request["idTag"])
    if tag is None or tag.parent is None:
        return request
    return {**request, "parentIdTag": tag.parent.id_tag}


def reservation_record_answer(*, command: Command, status: str) -> None:
    """The station's ReserveNow status: Accepted makes the reservation active (with what the
    command asked for); otherwise a new one is rejected and a replaced one still stands."""
    reservation = (
        Reservation.objects.select_for_update()
        .filter(pk=command.request.get("reservationId"), charge_point_id=command.charge_point_id)
        .first()
    )
    if reservation is None:
        return
    reservation.station_status = status[:16]
    if status == "Accepted":
        if reservation.state in OPEN_RESERVATION_STATES:
            reservation.state = Reservation.State.ACTIVE
            reservation.connector_id = command.request["connectorId"]
            reservation.id_tag = command.request["idTag"]
            reservation.parent_id_tag = command.request.get("parentIdTag", "")
            reservation.expiry_date = stored_datetime_required(command.request["expiryDate"])
    elif reservation.state == Reservation.State.REQUESTED:
        # Replacing an active reservation failed: the old one still stands.
        reservation.state = Reservation.State.REJECTED
    reservation.save()


def reservation_withdraw(*, command: Command) -> None:
    """The ReserveNow never reached the station (or it answered a CALLERROR): the reservation
    made for it is rejected. An active one it would have replaced stays active."""
    Reservation.objects.filter(
        pk=command.request.get("reservationId"),
        charge_point_id=command.charge_point_id,
        state=Reservation.State.REQUESTED,
    ).update(state=Reservation.State.REJECTED, updated_at=timezone.now())


def reservation_cancel(*, charge_point_id: int, reservation_id: Any) -> None:
    """The station accepted a CancelReservation."""
    Reservation.objects.filter(
        pk=reservation_id,
        charge_point_id=charge_point_id,
        state__in=OPEN_RESERVATION_STATES,
    ).update(state=Reservation.State.CANCELLED, updated_at=timezone.now())


def reservation_consume(*, charge_point: ChargePoint, reservation_id: int, tx: Transaction) -> None:
    """A StartTransaction carrying a reservationId uses that reservation up."""
    Reservation.objects.filter(
        pk=reservation_id,
        charge_point=charge_point,
        state__in=OPEN_RESERVATION_STATES,
    ).update(state=Reservation.State.USED, transaction=tx, updated_at=timezone.now())


def reservations_expire(*, now: datetime | None = None) -> int:
    """Close reservations past their expiry date (the station drops them itself)."""
    now = now or timezone.now()
    return Reservation.objects.filter(
        state__in=OPEN_RESERVATION_STATES, expiry_date__lte=now
    ).update(state=Reservation.State.EXPIRED, updated_at=now)
