"""Smart charging: the charging profiles a station has installed (as we sent them and it
accepted), what clearing removes, and the composite schedules it reports."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from csms.models import ChargingProfile, Command, CompositeSchedule, Transaction
from csms.services.common import INT32_MAX, stored_datetime


def charging_profile_install(
    *,
    charge_point_id: int,
    connector_id: int,
    profile: dict[str, Any],
    command: Command | None = None,
) -> ChargingProfile:
    """Record a profile the station accepted. As on the station (OCPP 1.6 §3.13.2), it
    replaces an installed profile with the same chargingProfileId, or with the same stackLevel
    and purpose on the same connector."""
    now = timezone.now()
    profile_id = profile["chargingProfileId"]
    stack_level = profile["stackLevel"]
    purpose = profile["chargingProfilePurpose"]
    ChargingProfile.objects.filter(charge_point_id=charge_point_id, active=True).filter(
        Q(profile_id=profile_id)
        | Q(connector_id=connector_id, stack_level=stack_level, purpose=purpose)
    ).update(active=False, cleared_at=now)
    schedule = profile["chargingSchedule"]
    transaction_id = profile.get("transactionId")
    tx = (
        Transaction.objects.filter(pk=transaction_id, charge_point_id=charge_point_id).first()
        if transaction_id is not None and 0 <= transaction_id <= INT32_MAX
        else None
    )
    min_rate = schedule.get("minChargingRate")
    return ChargingProfile.objects.create(
        charge_point_id=charge_point_id,
        connector_id=connector_id,
        profile_id=profile_id,
        transaction=tx,
        stack_level=stack_level,
        purpose=purpose,
        kind=profile["chargingProfileKind"],
        recurrency_kind=profile.get("recurrencyKind", ""),
        valid_from=stored_datetime(profile.get("validFrom")),
        valid_to=stored_datetime(profile.get("validTo")),
        charging_rate_unit=schedule["chargingRateUnit"],
        duration=schedule.get("duration"),
        start_schedule=stored_datetime(schedule.get("startSchedule")),
        min_charging_rate=(
            Decimal(str(min_rate)).quantize(Decimal("0.1")) if min_rate is not None else None
        ),
        schedule_periods=schedule["chargingSchedulePeriod"],
        active=True,
        command=command,
        created_at=now,
    )


def charging_profiles_clear(
    *,
    charge_point_id: int,
    profile_id: int | None = None,
    connector_id: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
) -> int:
    """The station accepted a ClearChargingProfile: deactivate what it cleared. With
    ``profile_id`` only that profile; otherwise every profile matching all given criteria
    (none given: every profile). Returns how many."""
    profiles = ChargingProfile.objects.filter(charge_point_id=charge_point_id, active=True)
    if profile_id is not None:
        profiles = profiles.filter(profile_id=profile_id)
    else:
        if connector_id is not None:
            profiles = profiles.filter(connector_id=connector_id)
        if purpose:
            profiles = profiles.filter(purpose=purpose)
        if stack_level is not None:
            profiles = profiles.filter(stack_level=stack_level)
    return profiles.update(active=False, cleared_at=timezone.now())


def composite_schedule_record(
    *, command: Command, connector_id: int, status: str, start: Any, schedule: Any
) -> CompositeSchedule:
    """Keep a GetCompositeSchedule answer for display."""
    return CompositeSchedule.objects.create(
        charge_point_id=command.charge_point_id,
        connector_id=connector_id,
        status=status[:16],
        schedule_start=stored_datetime(start),
        charging_schedule=schedule,
        command=command,
    )
