"""What remote operations leave behind, under /api/v1/: reservations (and cancelling one),
charging profiles sent to stations, composite schedules they answered. Same permissions as
the commands API (csms.permissions.CanSendCommands)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from csms.api.common import query_bool, query_choice, query_int, query_text
from csms.models import ChargingProfile, CompositeSchedule, Reservation
from csms.permissions import CanSendCommands
from csms.selectors.operations import (
    charging_profile_list,
    composite_schedule_list,
    reservation_get,
    reservation_list,
)
from csms.services.reservations import OPEN_RESERVATION_STATES
from ocpp_gateway import calls
from ocpp_gateway.api.commands import (
    COMMAND_RESPONSES,
    WAIT_PARAM,
    CommandRefused,
    command_send_response,
)


class ReservationOutputSerializer(serializers.ModelSerializer):
    charge_point = serializers.CharField(source="charge_point.identity", read_only=True)

    class Meta:
        model = Reservation
        fields = [
            "id",
            "charge_point",
            "connector_id",
            "id_tag",
            "parent_id_tag",
            "expiry_date",
            "state",
            "station_status",
            "transaction",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


@extend_schema(
    summary="Reservations (id is the OCPP reservationId)",
    parameters=[
        OpenApiParameter("charge_point", OpenApiTypes.STR),
        OpenApiParameter("state", OpenApiTypes.STR, enum=[s.value for s in Reservation.State]),
    ],
)
class ReservationListApi(generics.ListAPIView):
    permission_classes = [CanSendCommands]
    serializer_class = ReservationOutputSerializer

    def get_queryset(self) -> QuerySet[Reservation]:
        return reservation_list(
            charge_point=query_text(self.request, "charge_point"),
            state=query_choice(self.request, "state", Reservation.State),
        )


@extend_schema(
    summary="Cancel a reservation (CancelReservation to its station)",
    request=None,
    parameters=[WAIT_PARAM],
    responses=COMMAND_RESPONSES,
)
class ReservationCancelApi(APIView):
    permission_classes = [CanSendCommands]

    def post(self, request: Request, pk: int) -> Response:
        reservation = reservation_get(reservation_id=pk)
        if reservation is None:
            raise exceptions.NotFound(f"No reservation {pk}.")
        if reservation.state not in OPEN_RESERVATION_STATES:
            raise CommandRefused(
                calls.CommandNotAllowed(f"Reservation {pk} is already {reservation.state}.")
            )
        return command_send_response(
            request,
            charge_point=reservation.charge_point,
            action="CancelReservation",
            payload={"reservationId": reservation.pk},
        )


class ChargingProfileOutputSerializer(serializers.ModelSerializer):
    charge_point = serializers.CharField(source="charge_point.identity", read_only=True)
    schedule_periods = serializers.JSONField(read_only=True)

    class Meta:
        model = ChargingProfile
        fields = [
            "id",
            "charge_point",
            "connector_id",
            "profile_id",
            "transaction",
            "stack_level",
            "purpose",
            "kind",
            "recurrency_kind",
            "valid_from",
            "valid_to",
            "charging_rate_unit",
            "duration",
            "start_schedule",
            "min_charging_rate",
            "schedule_periods",
            "active",
            "command",
            "created_at",
            "cleared_at",
        ]
        read_only_fields = fields


@extend_schema(
    summary="Charging profiles sent to stations (active: installed, not cleared)",
    parameters=[
        OpenApiParameter("charge_point", OpenApiTypes.STR),
        OpenApiParameter("connector_id", OpenApiTypes.INT),
        OpenApiParameter("active", OpenApiTypes.BOOL),
    ],
)
class ChargingProfileListApi(generics.ListAPIView):
    permission_classes = [CanSendCommands]
    serializer_class = ChargingProfileOutputSerializer

    def get_queryset(self) -> QuerySet[ChargingProfile]:
        return charging_profile_list(
            charge_point=query_text(self.request, "charge_point"),
            connector_id=query_int(self.request, "connector_id"),
            active=query_bool(self.request, "active"),
        )


class CompositeScheduleOutputSerializer(serializers.ModelSerializer):
    charge_point = serializers.CharField(source="charge_point.identity", read_only=True)
    charging_schedule = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = CompositeSchedule
        fields = [
            "id",
            "charge_point",
            "connector_id",
            "status",
            "schedule_start",
            "charging_schedule",
            "command",
            "created_at",
        ]
        read_only_fields = fields


@extend_schema(
    summary="GetCompositeSchedule answers, newest first",
    parameters=[OpenApiParameter("charge_point", OpenApiTypes.STR)],
)
class CompositeScheduleListApi(generics.ListAPIView):
    permission_classes = [CanSendCommands]
    serializer_class = CompositeScheduleOutputSerializer

    def get_queryset(self) -> QuerySet[CompositeSchedule]:
        return composite_schedule_list(charge_point=query_text(self.request, "charge_point"))
