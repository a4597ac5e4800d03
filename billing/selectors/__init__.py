"""Reads of billing (sites, tariffs, assignments), shaped for its API and admin: lazy
QuerySets with their joins declared, filters already parsed (the API parses query strings
with csms.api.common). ``tariff_applicable`` answers which tariff version prices a session
and why; ``site_timezone_for`` the zone its time-of-day rules are read in.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import NamedTuple

from django.conf import settings
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.utils import timezone

from billing.models import Site, Tariff, TariffAssignment, TariffVersion
from csms.models import ChargePoint

# --- Sites ----------------------------------------------------------------------------------


def site_list(*, search: str | None = None, country: str | None = None) -> QuerySet[Site]:
    """Sites with ``station_count`` annotated and their stations' identities prefetched."""
    qs = Site.objects.annotate(station_count=Count("charge_points")).prefetch_related(
        Prefetch("charge_points", queryset=ChargePoint.objects.only("id", "identity", "site_id"))
    )
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(city__icontains=search))
    if country:
        qs = qs.filter(country=country)
    return qs.order_by("name")


def site_get(*, pk: int) -> Site | None:
    return site_list().filter(pk=pk).first()


def site_timezone_for(charge_point: ChargePoint) -> zoneinfo.ZoneInfo:
    """The zone a station's local-time tariff rules are read in: its site's, else
    settings.TIME_ZONE (a station with no site)."""
    if charge_point.site_id is not None:
        site = charge_point.site  # one query unless select_related("site")
        if site is not None:
            return site.zone
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


# --- Tariffs --------------------------------------------------------------------------------


def tariff_list(
    *, search: str | None = None, currency: str | None = None, is_default: bool | None = None
) -> QuerySet[Tariff]:
    """Tariffs with their versions prefetched (``current_version`` then costs no query) and
    ``assignment_count`` annotated."""
    qs = Tariff.objects.annotate(assignment_count=Count("assignments")).prefetch_related(
        Prefetch("versions", queryset=TariffVersion.objects.select_related("created_by"))
    )
    if search:
        qs = qs.filter(name__icontains=search)
    if currency:
        qs = qs.filter(currency=currency)
    if is_default is not None:
        qs = qs.filter(is_default=is_default)
    return qs.order_by("name")


def tariff_get(*, pk: int) -> Tariff | None:
    return tariff_list().filter(pk=pk).first()


def tariff_version_list(*, tariff: Tariff) -> QuerySet[TariffVersion]:
    """Newest first, each with its elements and components (``as_pricing`` reads no more)."""
    return (
        TariffVersion.objects.filter(tariff=tariff)
        .select_related("tariff", "created_by")
        .prefetch_related("elements__components")
        .order_by("-number")
    )


def tariff_version_get(*, tariff: Tariff, number: int) -> TariffVersion | None:
    return tariff_version_list(tariff=tariff).filter(number=number).first()


def tariff_default() -> Tariff | None:
    return Tariff.objects.filter(is_default=True).first()


# --- Assignments ----------------------------------------------------------------------------


def tariff_assignment_list(
    *,
    tariff_id: int | None = None,
    site_id: int | None = None,
    charge_point: ChargePoint | None = None,
    active_at: dt.datetime | None = None,
) -> QuerySet[TariffAssignment]:
    qs = TariffAssignment.objects.select_related("tariff", "site", "charge_point")
    if tariff_id is not None:
        qs = qs.filter(tariff_id=tariff_id)
    if site_id is not None:
        qs = qs.filter(site_id=site_id)
    if charge_point is not None:
        qs = qs.filter(charge_point=charge_point)
    if active_at is not None:
        qs = qs.filter(_valid_at(active_at))
    return qs.order_by("-created_at", "-id")


def _valid_at(at: dt.datetime) -> Q:
    return (Q(valid_from__isnull=True) | Q(valid_from__lte=at)) & (
        Q(valid_until__isnull=True) | Q(valid_until__gt=at)
    )


class TariffChoice(NamedTuple):
    """What ``tariff_applicable_detail`` found: the version (None: no tariff applies), the
    rule that chose it in words, and the assignment (None for the default tariff)."""

    version: TariffVersion | None
    reason: str
    assignment: TariffAssignment | None


def tariff_applicable_detail(
    charge_point: ChargePoint, connector_id: int | None = None, at: dt.datetime | None = None
) -> TariffChoice:
    """Which tariff version prices a session on ``connector_id`` of ``charge_point``
    starting at ``at`` (default now), and why.

    Precedence: an assignment to that connector, then to the station, then to its site,
    then the default tariff. At each level only assignments whose window holds ``at`` count;
    among those, the one whose window began last (an open start is the earliest), then the
    newest. A candidate whose tariff has no version in force at ``at``
    (``Tariff.version_in_force``) is passed over for the next one. One query for the
    assignments, one per candidate tried for its version."""
    at = at or timezone.now()
    scopes = Q(charge_point=charge_point, connector_id__isnull=True)
    if connector_id:
        scopes |= Q(charge_point=charge_point, connector_id=connector_id)
    if charge_point.site_id is not None:
        scopes |= Q(site_id=charge_point.site_id)
    candidates = list(
        TariffAssignment.objects.filter(scopes)
        .filter(_valid_at(at))
        .select_related("tariff", "site", "charge_point")
        .order_by(F("valid_from").desc(nulls_last=True), "-id")
    )
    rank = {"connector": 0, "charge_point": 1, "site": 2}
    candidates.sort(key=lambda a: rank[a.scope])  # stable: keeps the window order per level
    passed_over: list[str] = []
    for assignment in candidates:
        version = assignment.tariff.version_in_force(at)
        if version is not None:
            reason = f"{assignment.scope_label}: assignment #{assignment.pk}"
            if passed_over:
                reason += f" ({'; '.join(passed_over)})"
            return TariffChoice(version, reason, assignment)
        passed_over.append(
            f"assignment #{assignment.pk} skipped: tariff {assignment.tariff.name!r} has no "
            "version in force"
        )
    default = tariff_default()
    if default is not None:
        version = default.version_in_force(at)
        if version is not None:
            reason = "default tariff"
            if passed_over:
                reason += f" ({'; '.join(passed_over)})"
            return TariffChoice(version, reason, None)
    where = f"connector {connector_id} of {charge_point}" if connector_id else str(charge_point)
    site = f" or its site {charge_point.site.name!r}" if charge_point.site else ""
    reason = f"No tariff applies to {where} at {at.isoformat()}: "
    reason += "; ".join(passed_over) if passed_over else f"no assignment to it{site} is valid then"
    if default is None:
        reason += ", and there is no default tariff."
    else:
        reason += f", and the default tariff {default.name!r} has no version in force then."
    return TariffChoice(None, reason, None)


def tariff_applicable(
    charge_point: ChargePoint, connector_id: int | None = None, at: dt.datetime | None = None
) -> tuple[TariffVersion | None, str]:
    """(version, reason): ``tariff_applicable_detail`` without the assignment. The version
    has its elements and components prefetched: ``version.as_pricing()`` reads no more."""
    choice = tariff_applicable_detail(charge_point, connector_id, at)
    return choice.version, choice.reason
