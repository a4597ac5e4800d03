"""Station reads: the list with its online rule, one station, refused handshakes, the gateway
processes holding the sockets."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from csms.models import (
    GATEWAY_DEAD_AFTER_BEATS,
    ChargePoint,
    ConnectionAttempt,
    Connector,
    GatewayProcess,
)


def online_q(*, now: datetime | None = None) -> Q:
    """The ``ChargePoint.is_online`` rule as a filter: connected and heard from within twice the
    (effective) heartbeat interval.

    Row arithmetic on durations is not portable (SQLite cannot multiply an interval), so the
    cut-off is computed per distinct configured interval: stations share a handful of them, and
    each branch stays a plain indexable comparison on last_seen.
    """
    now = now or timezone.now()
    default = settings.OCPP_HEARTBEAT_INTERVAL
    branches = Q(
        heartbeat_interval__isnull=True, last_seen__gte=now - timedelta(seconds=2 * default)
    )
    intervals = (
        ChargePoint.objects.filter(connected=True, heartbeat_interval__isnull=False)
        .values_list("heartbeat_interval", flat=True)
        .distinct()
        .order_by()
    )
    for configured in intervals:
        effective = configured or default  # 0 means "the default", as in the model property
        cutoff = now - timedelta(seconds=2 * effective)
        branches |= Q(heartbeat_interval=configured, last_seen__gte=cutoff)
    return Q(connected=True, last_seen__isnull=False) & branches


def clock_skewed_q() -> Q:
    """The ``ChargePoint.clock_skewed`` rule as a filter."""
    tolerance = settings.OCPP_CLOCK_SKEW_TOLERANCE
    return Q(clock_offset_seconds__gt=tolerance) | Q(clock_offset_seconds__lt=-tolerance)


def charge_point_list(
    *,
    online: bool | None = None,
    clock_skewed: bool | None = None,
    registration_status: str | None = None,
    search: str | None = None,
) -> QuerySet[ChargePoint]:
    """Stations with their connectors prefetched (two queries for any page)."""
    qs = ChargePoint.objects.prefetch_related(
        Prefetch("connectors", queryset=Connector.objects.order_by("connector_id"))
    )
    if online is not None:
        condition = online_q()
        qs = qs.filter(condition) if online else qs.exclude(condition)
    if clock_skewed is not None:
        qs = qs.filter(clock_skewed_q()) if clock_skewed else qs.exclude(clock_skewed_q())
    if registration_status:
        qs = qs.filter(registration_status=registration_status)
    if search:
        qs = qs.filter(Q(identity__icontains=search) | Q(name__icontains=search))
    return qs.order_by("identity")


def charge_point_get(*, identity: str) -> ChargePoint | None:
    return charge_point_list().filter(identity=identity).first()


def connection_attempt_list(
    *, identity: str | None = None, reason: str | None = None
) -> QuerySet[ConnectionAttempt]:
    qs = ConnectionAttempt.objects.all()
    if identity:
        qs = qs.filter(identity=identity)
    if reason:
        qs = qs.filter(reason=reason)
    return qs.order_by("-last_at", "-id")


def gateway_processes_silent(
    *, heartbeat_interval: float, now: datetime | None = None
) -> list[str]:
    """Ids of the gateway processes whose heartbeat is more than GATEWAY_DEAD_AFTER_BEATS
    intervals old: dead, wherever they ran."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=GATEWAY_DEAD_AFTER_BEATS * heartbeat_interval)
    return list(GatewayProcess.objects.filter(heartbeat_at__lt=cutoff).values_list("pk", flat=True))


def gateway_processes_on_host(*, host: str) -> list[tuple[str, int]]:
    """(id, pid) of every gateway process recorded on ``host`` (the caller, on that host,
    tells which pids still run)."""
    return list(GatewayProcess.objects.filter(host=host).values_list("pk", "pid"))
