"""Transaction API: charging sessions as the stations reported them, and their meter values.

**Extension point.** Apps built on csms (billing) add read-only fields to the transaction
detail without csms importing them: ``transaction_detail_field_register(name, factory)``,
called from the app's ``AppConfig.ready``, where ``factory()`` returns a fresh read-only DRF
field (typically a ``SerializerMethodField`` subclass whose schema is declared with
``extend_schema_field``) that receives the Transaction. The fields appear in
``GET /api/v1/transactions/<id>/`` and its OpenAPI schema, never in the list (whose pages
must stay one query).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from csms.api.common import (
    SINCE_UNTIL,
    NewestFirstCursorPagination,
    bool_param,
    datetime_param,
    query_bool,
    query_int,
    query_text,
    query_time_range,
    transaction_or_404,
)
from csms.models import MeterValue, Transaction
from csms.selectors.transactions import meter_value_list, transaction_list

_DETAIL_FIELDS: dict[str, Callable[[], serializers.Field]] = {}


def transaction_detail_field_register(name: str, factory: Callable[[], serializers.Field]) -> None:
    """Add the read-only field ``factory()`` as ``name`` to the transaction detail (see the
    module docstring). Registering a name again replaces it (a reloaded app)."""
    _DETAIL_FIELDS[name] = factory


class TransactionOutputSerializer(serializers.ModelSerializer):
    charge_point = serializers.CharField(
        source="charge_point.identity", read_only=True, help_text="Station identity."
    )
    active = serializers.BooleanField(source="is_active", read_only=True)
    last_power_w = serializers.DecimalField(
        max_digits=12, decimal_places=1, read_only=True, allow_null=True
    )

    class Meta:
        model = Transaction
        fields = [
            "id",
            "charge_point",
            "connector_id",
            "id_tag",
            "start_status",
            "meter_start",
            "meter_stop",
            "energy_wh",
            "meter_stop_implausible",
            "energy_note",
            "started_at",
            "stopped_at",
            "stop_reason",
            "stop_id_tag",
            "late_stop",
            "reservation_id",
            "active",
            "last_meter_wh",
            "last_power_w",
            "last_soc",
            "last_meter_at",
        ]
        read_only_fields = fields


@extend_schema(
    summary="List transactions, newest first",
    parameters=[
        OpenApiParameter("charge_point", OpenApiTypes.STR, description="Station identity."),
        OpenApiParameter("connector_id", OpenApiTypes.INT),
        OpenApiParameter("id_tag", OpenApiTypes.STR, description="Case-insensitive."),
        bool_param("active", "true: running sessions; false: finished ones."),
        datetime_param("started_after", "Started at or after (ISO 8601; no zone means UTC)."),
        datetime_param("started_before", "Started before (exclusive)."),
    ],
)
class TransactionListApi(generics.ListAPIView):
    serializer_class = TransactionOutputSerializer

    def get_queryset(self) -> QuerySet[Transaction]:
        started_after, started_before = query_time_range(
            self.request, "started_after", "started_before"
        )
        return transaction_list(
            charge_point=query_text(self.request, "charge_point"),
            id_tag=query_text(self.request, "id_tag"),
            active=query_bool(self.request, "active"),
            started_after=started_after,
            started_before=started_before,
            connector_id=query_int(self.request, "connector_id"),
        )


class TransactionDetailSerializer(TransactionOutputSerializer):
    """The list's fields plus those other apps registered
    (``transaction_detail_field_register``)."""

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        for name, factory in _DETAIL_FIELDS.items():
            fields[name] = factory()
        return fields


@extend_schema(summary="A transaction (id is the OCPP transactionId)")
class TransactionDetailApi(generics.RetrieveAPIView):
    serializer_class = TransactionDetailSerializer

    def get_object(self) -> Transaction:
        return transaction_or_404(self.kwargs["pk"])


class MeterValueOutputSerializer(serializers.ModelSerializer):
    value_decimal = serializers.DecimalField(
        max_digits=20,
        decimal_places=6,
        read_only=True,
        allow_null=True,
        help_text="The value as a number when its format is Raw and it parses.",
    )
    # value_decimal has 14 integer digits; a kWh reading in Wh needs three more.
    value_wh = serializers.DecimalField(
        max_digits=23,
        decimal_places=6,
        read_only=True,
        allow_null=True,
        help_text="Energy.Active.* readings (registers and intervals) in Wh, whether sent in "
        "Wh or kWh (no unit: Wh); null for other measurands, other units or non-numbers.",
    )
    value_w = serializers.DecimalField(
        max_digits=23,
        decimal_places=6,
        read_only=True,
        allow_null=True,
        help_text="Power.Active.* and Power.Offered readings in W, whether sent in W or kW "
        "(no unit: W); null for other measurands, other units or non-numbers.",
    )

    class Meta:
        model = MeterValue
        fields = [
            "id",
            "timestamp",
            "connector_id",
            "measurand",
            "phase",
            "unit",
            "context",
            "location",
            "format",
            "value",
            "value_decimal",
            "value_wh",
            "value_w",
        ]
        read_only_fields = fields


class MeterValuePagination(NewestFirstCursorPagination):
    ordering = ("timestamp", "id")  # a session's curve reads in time order


@extend_schema(
    summary="A transaction's meter values in time order",
    parameters=[
        OpenApiParameter(
            "measurand", OpenApiTypes.STR, description="e.g. Energy.Active.Import.Register"
        ),
        *SINCE_UNTIL,
    ],
)
class TransactionMeterValueApi(generics.ListAPIView):
    serializer_class = MeterValueOutputSerializer
    pagination_class = MeterValuePagination

    def get_queryset(self) -> QuerySet[MeterValue]:
        tx = transaction_or_404(self.kwargs["pk"])
        since, until = query_time_range(self.request, "since", "until")
        return meter_value_list(
            transaction=tx,
            measurand=query_text(self.request, "measurand"),
            since=since,
            until=until,
        )
