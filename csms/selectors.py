"""Reads of the core domain, shaped for the API and the admin.

Every list selector returns a lazy QuerySet with the joins its callers need already declared
(select_related / prefetch_related), so a page of results costs a fixed number of queries
however many rows it holds. Filters arrive already parsed (datetimes, booleans); turning query
strings into them is the API layer's job.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from csms.models import (
    ChargePoint,
    ConnectionAttempt,
    Connector,
    IdTag,
    MessageLog,
    MeterValue,
    StatusNotification,
    Transaction,
)

# --- Charge points -------------------------------------------------------------------------


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


def charge_point_list(
    *,
    online: bool | None = None,
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
    if registration_status:
        qs = qs.filter(registration_status=registration_status)
    if search:
        qs = qs.filter(Q(identity__icontains=search) | Q(name__icontains=search))
    return qs.order_by("identity")


def charge_point_get(*, identity: str) -> ChargePoint | None:
    return charge_point_list().filter(identity=identity).first()


def message_log_list(
    *,
    charge_point: ChargePoint,
    action: str | None = None,
    direction: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[MessageLog]:
    """A station's frames, newest first. Filters on identity so the read uses the
    (identity, -created_at) index."""
    qs = MessageLog.objects.filter(identity=charge_point.identity)
    if action:
        qs = qs.filter(action=action)
    if direction:
        qs = qs.filter(direction=direction)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs.order_by("-created_at", "-id")


def status_history_list(
    *,
    charge_point: ChargePoint,
    connector_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[StatusNotification]:
    """Every StatusNotification the station sent, newest first (by time of receipt)."""
    qs = StatusNotification.objects.filter(charge_point=charge_point)
    if connector_id is not None:
        qs = qs.filter(connector_id=connector_id)
    if since:
        qs = qs.filter(received_at__gte=since)
    if until:
        qs = qs.filter(received_at__lt=until)
    return qs.order_by("-received_at", "-id")


def connection_attempt_list(
    *, identity: str | None = None, reason: str | None = None
) -> QuerySet[ConnectionAttempt]:
    qs = ConnectionAttempt.objects.all()
    if identity:
        qs = qs.filter(identity=identity)
    if reason:
        qs = qs.filter(reason=reason)
    return qs.order_by("-created_at", "-id")


# --- Id tags ------------------------------------------------------------------------------


def id_tag_list(*, search: str | None = None, status: str | None = None) -> QuerySet[IdTag]:
    qs = IdTag.objects.select_related("parent")
    if search:
        qs = qs.filter(Q(key__contains=IdTag.normalize(search)) | Q(note__icontains=search))
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("key")


def id_tag_get(*, id_tag: str) -> IdTag | None:
    """Case-insensitive, like every tag lookup (IdTag.key)."""
    return IdTag.objects.select_related("parent").filter(key=IdTag.normalize(id_tag)).first()


# --- Transactions -------------------------------------------------------------------------


def transaction_list(
    *,
    charge_point: str | None = None,
    id_tag: str | None = None,
    active: bool | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
    connector_id: int | None = None,
) -> QuerySet[Transaction]:
    """Sessions, newest first, with the station joined in (one query per page).
    ``charge_point`` is an identity; ``id_tag`` matches case-insensitively."""
    qs = Transaction.objects.select_related("charge_point")
    if charge_point:
        qs = qs.filter(charge_point__identity=charge_point)
    if id_tag:
        qs = qs.filter(id_tag__iexact=id_tag.strip())
    if active is not None:
        qs = qs.filter(stopped_at__isnull=active)
    if started_after:
        qs = qs.filter(started_at__gte=started_after)
    if started_before:
        qs = qs.filter(started_at__lt=started_before)
    if connector_id is not None:
        qs = qs.filter(connector_id=connector_id)
    return qs.order_by("-started_at", "-id")


def transaction_get(*, transaction_id: int) -> Transaction | None:
    return Transaction.objects.select_related("charge_point").filter(pk=transaction_id).first()


def meter_value_list(
    *,
    transaction: Transaction,
    measurand: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[MeterValue]:
    """A session's samples in time order; served by the (transaction, timestamp) index."""
    qs = MeterValue.objects.filter(transaction=transaction)
    if measurand:
        qs = qs.filter(measurand=measurand)
    if since:
        qs = qs.filter(timestamp__gte=since)
    if until:
        qs = qs.filter(timestamp__lt=until)
    return qs.order_by("timestamp", "id")
