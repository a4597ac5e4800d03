"""Reads of stations from the app: stations near a point, whether a driver can start at a
connector now, and a connector by its code. The tariff in force and the price in words are
``wallet.selectors.tariffs``; QR codes ``wallet.selectors.qr``.

Lists read a fixed number of queries whatever their length: stations, connectors, sites,
tariffs, running sessions, reservations and app starts are each read once per page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from billing.models import Site
from csms.models import (
    ChargePoint,
    ChargePointStatus,
    Connector,
    RegistrationStatus,
    Reservation,
    Transaction,
)
from wallet.models import AppSession
from wallet.selectors.tariffs import TariffResolver, price_summary

EARTH_RADIUS_KM = Decimal("6371.0088")
KM_PER_DEGREE = Decimal("111.32")  # of latitude (and of longitude at the equator)


# --- Stations near a point -------------------------------------------------------------------


def distance_km(lat1: Decimal, lon1: Decimal, lat2: Decimal, lon2: Decimal) -> Decimal:
    """Great-circle (haversine) distance in km, to 3 places."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    km = 2 * EARTH_RADIUS_KM * Decimal(math.asin(min(1, math.sqrt(h))))
    return km.quantize(Decimal("0.001"))


def _bounding_box(lat: Decimal, lon: Decimal, radius_km: Decimal, prefix: str = "") -> Q:
    """Sites inside a lat/lon box holding the circle (the exact distance is computed after):
    an index-friendly range on each column. Near the poles the box spans every longitude; a
    box crossing the antimeridian is two ranges."""
    lat_f, lon_f = f"{prefix}latitude", f"{prefix}longitude"
    dlat = radius_km / KM_PER_DEGREE
    q = Q(**{f"{lat_f}__gte": lat - dlat, f"{lat_f}__lte": lat + dlat})
    cos_lat = Decimal(math.cos(math.radians(lat)))
    if cos_lat < Decimal("0.01") or lat + dlat >= 90 or lat - dlat <= -90:
        return q
    dlon = radius_km / (KM_PER_DEGREE * cos_lat)
    if dlon >= 180:
        return q
    low, high = lon - dlon, lon + dlon
    if low < -180:
        return q & (Q(**{f"{lon_f}__gte": low + 360}) | Q(**{f"{lon_f}__lte": high}))
    if high > 180:
        return q & (Q(**{f"{lon_f}__gte": low}) | Q(**{f"{lon_f}__lte": high - 360}))
    return q & Q(**{f"{lon_f}__gte": low, f"{lon_f}__lte": high})


def stations_nearby(*, lat: Decimal, lon: Decimal, radius_km: Decimal) -> list[tuple[int, Decimal]]:
    """``(charge_point_id, distance_km)`` of every station whose site lies within
    ``radius_km`` of (``lat``, ``lon``), nearest first (then by identity). One query over
    plain columns: the caller pages this list and reads the page with ``stations_detail``."""
    rows = (
        ChargePoint.objects.filter(site__latitude__isnull=False, site__longitude__isnull=False)
        .filter(_bounding_box(lat, lon, radius_km, prefix="site__"))
        .values_list("pk", "identity", "site__latitude", "site__longitude")
    )
    found = []
    for pk, identity, site_lat, site_lon in rows:
        if site_lat is None or site_lon is None:
            continue
        distance = distance_km(lat, lon, site_lat, site_lon)
        if distance <= radius_km:
            found.append((distance, identity, pk))
    found.sort()
    return [(pk, distance) for distance, _, pk in found]


# --- Tariffs that apply now, for many stations at once --------------------------------------


class Availability:
    AVAILABLE = "available"
    OCCUPIED = "occupied"
    OFFLINE = "offline"
    FAULTED = "faulted"
    UNAVAILABLE = "unavailable"
    RESERVED = "reserved"


OCCUPIED_STATUSES = frozenset(
    {
        ChargePointStatus.CHARGING,
        ChargePointStatus.SUSPENDED_EV,
        ChargePointStatus.SUSPENDED_EVSE,
        ChargePointStatus.FINISHING,
    }
)


@dataclass
class ConnectorActivity:
    """What else is going on at a page of stations' connectors (three queries): running
    sessions, app starts in flight, and open reservations by connector, each keyed by
    ``(charge_point_id, connector_id)``."""

    running: set[tuple[int, int]] = field(default_factory=set)
    starting: set[tuple[int, int]] = field(default_factory=set)
    reservations: dict[tuple[int, int], list[str]] = field(default_factory=dict)

    @classmethod
    def for_stations(cls, charge_point_ids: Iterable[int]) -> ConnectorActivity:
        ids = list(charge_point_ids)
        now = timezone.now()
        activity = cls()
        activity.running = set(
            Transaction.objects.filter(
                charge_point_id__in=ids, stopped_at__isnull=True
            ).values_list("charge_point_id", "connector_id")
        )
        activity.starting = set(
            AppSession.objects.filter(
                charge_point_id__in=ids, state=AppSession.State.STARTING
            ).values_list("charge_point_id", "connector_id")
        )
        for cp_id, connector_id, tag in Reservation.objects.filter(
            charge_point_id__in=ids, state=Reservation.State.ACTIVE, expiry_date__gt=now
        ).values_list("charge_point_id", "connector_id", "id_tag"):
            activity.reservations.setdefault((cp_id, connector_id), []).append(tag.upper())
        return activity


def connector_availability(
    *,
    charge_point: ChargePoint,
    connector: Connector,
    activity: ConnectorActivity,
    id_tag: str | None = None,
) -> str:
    """One of ``Availability``: whether a start from the app can work now. ``id_tag``: the
    driver's virtual tag (a reservation for it is no obstacle); None for anyone (a listing:
    any reservation shows ``reserved``). Checked in this order, the first that applies wins:
    offline (not connected, silent, or not Accepted), faulted, unavailable, occupied (a
    charging status, a running session, or another app start in flight), reserved."""
    if not charge_point.is_online or (
        charge_point.registration_status != RegistrationStatus.ACCEPTED
    ):
        return Availability.OFFLINE
    if connector.status == ChargePointStatus.FAULTED:
        return Availability.FAULTED
    if connector.status == ChargePointStatus.UNAVAILABLE:
        return Availability.UNAVAILABLE
    key = (charge_point.pk, connector.connector_id)
    if connector.status in OCCUPIED_STATUSES or key in activity.running or key in activity.starting:
        return Availability.OCCUPIED
    holders = activity.reservations.get(key, []) + activity.reservations.get(
        (charge_point.pk, 0), []
    )
    mine = id_tag is not None and id_tag.upper() in holders
    if holders and not mine:
        return Availability.RESERVED
    if connector.status == ChargePointStatus.RESERVED and not mine:
        return Availability.RESERVED
    return Availability.AVAILABLE


# --- Stations and connectors as the app shows them -----------------------------------------


def _stations_qs() -> QuerySet[ChargePoint]:
    return ChargePoint.objects.select_related("site").prefetch_related(
        Prefetch(
            "connectors",
            queryset=Connector.objects.filter(connector_id__gt=0).order_by("connector_id"),
            to_attr="app_connectors",
        )
    )


def _site(site: Site | None) -> dict[str, Any] | None:
    if site is None:
        return None
    return {
        "id": site.pk,
        "name": site.name,
        "address": site.address,
        "postal_code": site.postal_code,
        "city": site.city,
        "country": site.country,
        "latitude": None if site.latitude is None else str(site.latitude),
        "longitude": None if site.longitude is None else str(site.longitude),
    }


def _connector(
    charge_point: ChargePoint,
    connector: Connector,
    *,
    activity: ConnectorActivity,
    tariffs: TariffResolver,
    id_tag: str | None,
) -> dict[str, Any]:
    return {
        "connector_id": connector.connector_id,
        "code": connector.code,
        "status": connector.status or None,
        "online": charge_point.is_online,
        "availability": connector_availability(
            charge_point=charge_point, connector=connector, activity=activity, id_tag=id_tag
        ),
        "price": price_summary(tariffs.version_for(charge_point, connector.connector_id)),
    }


def _station(
    charge_point: ChargePoint,
    *,
    distance: Decimal | None,
    activity: ConnectorActivity,
    tariffs: TariffResolver,
    id_tag: str | None,
) -> dict[str, Any]:
    return {
        "identity": charge_point.identity,
        "name": charge_point.name,
        "site": _site(charge_point.site),
        "distance_km": None if distance is None else str(distance),
        "online": charge_point.is_online,
        "connectors": [
            _connector(charge_point, c, activity=activity, tariffs=tariffs, id_tag=id_tag)
            for c in charge_point.app_connectors  # type: ignore[attr-defined]
        ],
    }


def stations_detail(
    *, distances: Sequence[tuple[int, Decimal | None]], id_tag: str | None = None
) -> list[dict[str, Any]]:
    """The app's view of these stations, in the order given: site, distance, connectors with
    live status, availability and price. A fixed number of queries for any page."""
    by_pk = {cp.pk: cp for cp in _stations_qs().filter(pk__in=[pk for pk, _ in distances])}
    stations = [by_pk[pk] for pk, _ in distances if pk in by_pk]
    activity = ConnectorActivity.for_stations(by_pk)
    tariffs = TariffResolver.for_stations(stations)
    return [
        _station(by_pk[pk], distance=d, activity=activity, tariffs=tariffs, id_tag=id_tag)
        for pk, d in distances
        if pk in by_pk
    ]


def station_by_identity(*, identity: str, id_tag: str | None = None) -> dict[str, Any] | None:
    pk = ChargePoint.objects.filter(identity=identity).values_list("pk", flat=True).first()
    if pk is None:
        return None
    return stations_detail(distances=[(pk, None)], id_tag=id_tag)[0]


def connector_by_code(code: str) -> Connector | None:
    """The connector (connector_id > 0) whose code this is, case-insensitive (codes are
    printed upper-case; a driver may type them in lower case), with its station and site."""
    code = code.strip().upper()
    if not code or len(code) > 16:
        return None
    return (
        Connector.objects.select_related("charge_point__site")
        .filter(code=code, connector_id__gt=0)
        .first()
    )


def connector_detail(*, connector: Connector, id_tag: str | None = None) -> dict[str, Any]:
    """A connector by its code as the app shows it before a start: its station, the
    connector, the price, and whether a start can work now (``availability``)."""
    charge_point = connector.charge_point
    activity = ConnectorActivity.for_stations([charge_point.pk])
    tariffs = TariffResolver.for_stations([charge_point])
    body = _connector(charge_point, connector, activity=activity, tariffs=tariffs, id_tag=id_tag)
    body["can_start"] = body["availability"] == Availability.AVAILABLE
    body["station"] = {
        "identity": charge_point.identity,
        "name": charge_point.name,
        "site": _site(charge_point.site),
        "online": charge_point.is_online,
    }
    return body


# --- QR codes ---------------------------------------------------------------------------------
