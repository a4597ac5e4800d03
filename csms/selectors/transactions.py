"""Session reads: transactions and their meter samples."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from csms.models import MeterValue, Transaction


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
