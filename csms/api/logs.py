"""Station history API: the message log (every OCPP frame in and out) and the
StatusNotification history, newest first."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from csms.api.common import (
    SINCE_UNTIL,
    NewestFirstCursorPagination,
    charge_point_or_404,
    datetime_param,
    query_choice,
    query_int,
    query_text,
    query_time_range,
)
from csms.models import MessageLog, StatusNotification
from csms.selectors.logs import message_log_list, status_history_list


class MessageLogOutputSerializer(serializers.ModelSerializer):
    payload = serializers.CharField(read_only=True, help_text="The frame exactly as on the wire.")

    class Meta:
        model = MessageLog
        fields = [
            "id",
            "direction",
            "message_type",
            "action",
            "message_id",
            "payload",
            "created_at",
        ]
        read_only_fields = fields


@extend_schema(
    summary="A charge point's message log (every OCPP frame in and out), newest first",
    parameters=[
        OpenApiParameter("action", OpenApiTypes.STR, description="OCPP action, e.g. Heartbeat."),
        OpenApiParameter("direction", OpenApiTypes.STR, enum=MessageLog.Direction.values),
        *SINCE_UNTIL,
    ],
)
class ChargePointMessageLogApi(generics.ListAPIView):
    serializer_class = MessageLogOutputSerializer
    pagination_class = NewestFirstCursorPagination

    def get_queryset(self) -> QuerySet[MessageLog]:
        charge_point = charge_point_or_404(self.kwargs["identity"])
        since, until = query_time_range(self.request, "since", "until")
        return message_log_list(
            charge_point=charge_point,
            action=query_text(self.request, "action"),
            direction=query_choice(self.request, "direction", MessageLog.Direction),
            since=since,
            until=until,
        )


class StatusNotificationOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = StatusNotification
        fields = [
            "id",
            "connector_id",
            "status",
            "error_code",
            "info",
            "vendor_id",
            "vendor_error_code",
            "timestamp",
            "received_at",
        ]
        read_only_fields = fields


class StatusHistoryPagination(NewestFirstCursorPagination):
    ordering = ("-received_at", "-id")


@extend_schema(
    summary="A charge point's StatusNotification history, newest first",
    parameters=[
        OpenApiParameter("connector_id", OpenApiTypes.INT, description="0 is the station."),
        datetime_param("since", "Received at or after this time."),
        datetime_param("until", "Received before this time (exclusive)."),
    ],
)
class ChargePointStatusHistoryApi(generics.ListAPIView):
    serializer_class = StatusNotificationOutputSerializer
    pagination_class = StatusHistoryPagination

    def get_queryset(self) -> QuerySet[StatusNotification]:
        charge_point = charge_point_or_404(self.kwargs["identity"])
        since, until = query_time_range(self.request, "since", "until")
        return status_history_list(
            charge_point=charge_point,
            connector_id=query_int(self.request, "connector_id"),
            since=since,
            until=until,
        )
