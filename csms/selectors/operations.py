"""Reads of what remote operations leave behind: reservations, charging profiles and
composite schedules, each with its station joined in (in the models' default order)."""

from __future__ import annotations

from django.db.models import QuerySet

from csms.models import ChargingProfile, CompositeSchedule, Reservation


def reservation_list(
    *, charge_point: str | None = None, state: str | None = None
) -> QuerySet[Reservation]:
    """``charge_point`` is an identity."""
    reservations = Reservation.objects.select_related("charge_point")
    if charge_point:
        reservations = reservations.filter(charge_point__identity=charge_point)
    if state:
        reservations = reservations.filter(state=state)
    return reservations


def reservation_get(*, reservation_id: int) -> Reservation | None:
    return reservation_list().filter(pk=reservation_id).first()


def charging_profile_list(
    *,
    charge_point: str | None = None,
    connector_id: int | None = None,
    active: bool | None = None,
) -> QuerySet[ChargingProfile]:
    """``active``: installed on the station and not cleared since."""
    profiles = ChargingProfile.objects.select_related("charge_point")
    if charge_point:
        profiles = profiles.filter(charge_point__identity=charge_point)
    if connector_id is not None:
        profiles = profiles.filter(connector_id=connector_id)
    if active is not None:
        profiles = profiles.filter(active=active)
    return profiles


def composite_schedule_list(*, charge_point: str | None = None) -> QuerySet[CompositeSchedule]:
    schedules = CompositeSchedule.objects.select_related("charge_point")
    if charge_point:
        schedules = schedules.filter(charge_point__identity=charge_point)
    return schedules
