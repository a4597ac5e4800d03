"""Order API: orders with their line items, CSV exports of orders and sessions, revenue per
day and site, and the ``cost_so_far`` field billing adds to csms's transaction detail.

Who may read: operators everything; support staff orders, exports and the cost so far
(the project default, ``csms.permissions.IsStaffRole``, for read-only views); revenue is the
operators' alone. Drivers and other users get 403 (their own orders are the wallet's).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, generics, serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Order, OrderLine
from billing.pricing.engine import PricingInputError
from billing.pricing.ocpi import TariffFormatError
from billing.selectors.orders import (
    order_get,
    order_list,
    revenue_per_day,
    sessions_for_export,
    transaction_cost_so_far,
)
from csms.api.common import (
    datetime_param,
    query_choice,
    query_int,
    query_text,
    query_time_range,
)
from csms.models import Transaction
from csms.permissions import is_operator

logger = logging.getLogger(__name__)


class IsOperator(BasePermission):
    message = "Only operators may read revenue."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_operator(request.user)


# --- cost_so_far on GET /api/v1/transactions/<id>/ ------------------------------------------


class _CostSerializer(serializers.Serializer):
    excl_vat = serializers.DecimalField(max_digits=14, decimal_places=4)
    incl_vat = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        allow_null=True,
        help_text="null when a price component of the tariff has no VAT rate.",
    )
    currency = serializers.CharField()


@extend_schema_field(_CostSerializer(allow_null=True))
class CostSoFarField(serializers.Field):
    """The session's cost up to its last meter reading (its whole cost once stopped), priced
    on read with the tariff frozen at its start; null when no tariff applies or the samples
    cannot be priced (logged). Registered by ``BillingConfig.ready``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["source"] = "*"
        kwargs["read_only"] = True
        kwargs.setdefault(
            "help_text",
            "Cost so far, priced from the meter samples with the tariff frozen at the start.",
        )
        super().__init__(**kwargs)

    def to_representation(self, value: Transaction) -> dict[str, Any] | None:
        try:
            cost = transaction_cost_so_far(transaction=value)
        except (PricingInputError, TariffFormatError) as exc:
            logger.warning("cost so far of transaction %s: %s", value.pk, exc)
            return None
        if cost is None:
            return None
        return {
            "excl_vat": str(cost["excl_vat"]),
            "incl_vat": None if cost["incl_vat"] is None else str(cost["incl_vat"]),
            "currency": cost["currency"],
        }


# --- Orders ---------------------------------------------------------------------------------


class OrderLineOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = [
            "position",
            "kind",
            "dimension",
            "description",
            "volume",
            "unit_price",
            "vat_rate",
            "amount_excl_vat",
            "amount_incl_vat",
            "created_at",
        ]
        read_only_fields = fields


class OrderOutputSerializer(serializers.ModelSerializer):
    transaction = serializers.IntegerField(source="transaction_id", read_only=True)
    charge_point = serializers.CharField(source="charge_point.identity", read_only=True)
    site = serializers.IntegerField(source="site_id", read_only=True, allow_null=True)
    driver = serializers.CharField(
        source="driver.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "transaction",
            "charge_point",
            "connector_id",
            "site",
            "driver",
            "id_tag",
            "started_at",
            "stopped_at",
            "duration_seconds",
            "energy_kwh",
            "currency",
            "total_excl_vat",
            "total_incl_vat",
            "state",
            "free_reason",
            "tariff_version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrderDetailOutputSerializer(OrderOutputSerializer):
    lines = OrderLineOutputSerializer(many=True, read_only=True)

    class Meta(OrderOutputSerializer.Meta):
        fields = [*OrderOutputSerializer.Meta.fields, "lines", "priced"]
        read_only_fields = fields


ORDER_FILTERS = [
    OpenApiParameter("charge_point", OpenApiTypes.STR, description="Station identity."),
    OpenApiParameter("site", OpenApiTypes.INT, description="Site id."),
    OpenApiParameter("driver", OpenApiTypes.STR, description="The driver's username."),
    OpenApiParameter("state", OpenApiTypes.STR, enum=Order.State.values),
    datetime_param("stopped_after", "Sessions ended at or after (ISO 8601; no zone is UTC)."),
    datetime_param("stopped_before", "Sessions ended before (exclusive)."),
]


def _orders_filtered(request: Request) -> QuerySet[Order]:
    stopped_after, stopped_before = query_time_range(request, "stopped_after", "stopped_before")
    return order_list(
        charge_point=query_text(request, "charge_point"),
        site_id=query_int(request, "site"),
        driver=query_text(request, "driver"),
        stopped_after=stopped_after,
        stopped_before=stopped_before,
        state=query_choice(request, "state", Order.State),
    )


@extend_schema(summary="List orders, newest session end first", parameters=ORDER_FILTERS)
class OrderListApi(generics.ListAPIView):
    serializer_class = OrderOutputSerializer

    def get_queryset(self) -> QuerySet[Order]:
        return _orders_filtered(self.request)


@extend_schema(summary="An order with its line items and priced record")
class OrderDetailApi(generics.RetrieveAPIView):
    serializer_class = OrderDetailOutputSerializer

    def get_object(self) -> Order:
        order = order_get(pk=self.kwargs["pk"])
        if order is None:
            raise exceptions.NotFound(f"No order {self.kwargs['pk']}.")
        return order


# --- CSV exports ----------------------------------------------------------------------------


class _Echo:
    """csv.writer's file: hands each formatted row back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _csv_stream(header: list[str], rows: Iterable[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(["" if value is None else _cell(value) for value in row])


def _cell(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


async def _async_chunks(lines: Iterator[str], size: int = 500) -> AsyncIterator[str]:
    """The rows, ``size`` at a time, each batch read in the ORM's thread: under daphne (ASGI)
    Django would otherwise read a synchronous iterator to its end before sending a byte."""
    take = sync_to_async(lambda: "".join(itertools.islice(lines, size)), thread_sensitive=True)
    while chunk := await take():
        yield chunk


def _csv_response(
    request: Request, name: str, header: list[str], rows: Iterable[list[Any]]
) -> StreamingHttpResponse:
    lines = _csv_stream(header, rows)
    asgi = isinstance(request._request, ASGIRequest)
    content = _async_chunks(lines) if asgi else lines
    response = StreamingHttpResponse(content, content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _export_range(request: Request) -> tuple[dt.datetime | None, dt.datetime | None]:
    since, until = query_time_range(request, "from", "to")
    return since, until


EXPORT_RANGE = [
    datetime_param("from", "At or after (ISO 8601 datetime or date; no zone is UTC)."),
    datetime_param("to", "Before (exclusive)."),
]
CSV_RESPONSE = {(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV")}

ORDER_CSV_HEADER = [
    "order",
    "transaction",
    "charge_point",
    "connector_id",
    "site",
    "driver",
    "id_tag",
    "started_at",
    "stopped_at",
    "duration_seconds",
    "energy_kwh",
    "currency",
    "total_excl_vat",
    "total_incl_vat",
    "state",
    "free_reason",
]


@extend_schema(
    summary="Orders as CSV (sessions ended in the range), streamed",
    parameters=[
        *EXPORT_RANGE,
        *(p for p in ORDER_FILTERS if p.name not in ("stopped_after", "stopped_before")),
    ],
    responses=CSV_RESPONSE,
)
class OrderCsvExportApi(APIView):
    def get(self, request: Request) -> StreamingHttpResponse:
        since, until = _export_range(request)
        orders = order_list(
            charge_point=query_text(request, "charge_point"),
            site_id=query_int(request, "site"),
            driver=query_text(request, "driver"),
            stopped_after=since,
            stopped_before=until,
            state=query_choice(request, "state", Order.State),
        ).order_by("stopped_at", "id")
        rows = (
            [
                o.pk,
                o.transaction_id,
                o.charge_point.identity,
                o.connector_id,
                o.site.name if o.site else "",
                o.driver.username if o.driver else "",
                o.id_tag,
                o.started_at,
                o.stopped_at,
                o.duration_seconds,
                o.energy_kwh,
                o.currency,
                o.total_excl_vat,
                o.total_incl_vat,
                o.state,
                o.free_reason,
            ]
            for o in orders.iterator(chunk_size=1000)
        )
        return _csv_response(request, "orders.csv", ORDER_CSV_HEADER, rows)


SESSION_CSV_HEADER = [
    "transaction",
    "charge_point",
    "connector_id",
    "id_tag",
    "started_at",
    "stopped_at",
    "stop_reason",
    "meter_start",
    "meter_stop",
    "energy_wh",
    "meter_stop_implausible",
    "order",
    "currency",
    "total_excl_vat",
    "total_incl_vat",
    "order_state",
]


@extend_schema(
    summary="Sessions as CSV (started in the range), with their orders, streamed",
    parameters=EXPORT_RANGE,
    responses=CSV_RESPONSE,
)
class SessionCsvExportApi(APIView):
    def get(self, request: Request) -> StreamingHttpResponse:
        since, until = _export_range(request)

        def rows() -> Iterator[list[Any]]:
            for tx in sessions_for_export(since=since, until=until).iterator(chunk_size=1000):
                order = getattr(tx, "order", None)
                yield [
                    tx.pk,
                    tx.charge_point.identity,
                    tx.connector_id,
                    tx.id_tag,
                    tx.started_at,
                    tx.stopped_at,
                    tx.stop_reason,
                    tx.meter_start,
                    tx.meter_stop,
                    tx.energy_wh,
                    tx.meter_stop_implausible,
                    order.pk if order else None,
                    order.currency if order else None,
                    order.total_excl_vat if order else None,
                    order.total_incl_vat if order else None,
                    order.state if order else None,
                ]

        return _csv_response(request, "sessions.csv", SESSION_CSV_HEADER, rows())


# --- Revenue ----------------------------------------------------------------------------------


class RevenueRowSerializer(serializers.Serializer):
    day = serializers.DateField()
    site = serializers.IntegerField(allow_null=True)
    site_name = serializers.CharField()
    currency = serializers.CharField()
    orders = serializers.IntegerField()
    free_orders = serializers.IntegerField()
    energy_kwh = serializers.DecimalField(max_digits=20, decimal_places=6)
    total_excl_vat = serializers.DecimalField(max_digits=20, decimal_places=4)
    total_incl_vat = serializers.DecimalField(
        max_digits=20,
        decimal_places=4,
        allow_null=True,
        help_text="Sum of the orders whose amount incl. VAT is known.",
    )


@extend_schema(
    summary="Revenue per day (settings.TIME_ZONE) and site, from the orders",
    parameters=[*EXPORT_RANGE, OpenApiParameter("site", OpenApiTypes.INT)],
    responses=RevenueRowSerializer(many=True),
)
class RevenueApi(APIView):
    permission_classes = [IsOperator]

    def get(self, request: Request) -> Response:
        since, until = _export_range(request)
        rows = revenue_per_day(since=since, until=until, site_id=query_int(request, "site"))
        return Response(RevenueRowSerializer(rows, many=True).data)
