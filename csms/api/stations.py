"""Station API: register, list, change and delete charge points; refused handshakes and
registering their station in one step."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from csms.api.common import (
    bool_param,
    charge_point_or_404,
    query_bool,
    query_choice,
    query_text,
)
from csms.models import (
    CHARGE_POINT_CONNECTION_FIELDS,
    CHARGE_POINT_DEVICE_FIELDS,
    CHARGE_POINT_FIRMWARE_FIELDS,
    CHARGE_POINT_REMOTE_STATE_FIELDS,
    CHARGE_POINT_SETTINGS_FIELDS,
    CONNECTOR_STATE_FIELDS,
    ChargePoint,
    ConnectionAttempt,
    Connector,
    RegistrationStatus,
    identity_validator,
)
from csms.selectors.stations import charge_point_get, charge_point_list, connection_attempt_list
from csms.services.stations import (
    ChargePointInUse,
    charge_point_delete,
    charge_point_register,
    charge_point_register_from_attempt,
    charge_point_update,
)
from csms.station_auth import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

logger = logging.getLogger(__name__)


# --- Charge points --------------------------------------------------------------------------


class ConnectorOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Connector
        fields = list(CONNECTOR_STATE_FIELDS)
        read_only_fields = fields


class ChargePointOutputSerializer(serializers.ModelSerializer):
    online = serializers.BooleanField(
        source="is_online",
        read_only=True,
        help_text="Connected and heard from within twice the heartbeat interval.",
    )
    has_password = serializers.BooleanField(read_only=True)
    password_change_pending = serializers.BooleanField(
        read_only=True,
        help_text="The station accepted a new AuthorizationKey and has not connected with it "
        "yet; until it does, its old password works too.",
    )
    effective_heartbeat_interval = serializers.IntegerField(
        read_only=True, help_text="heartbeat_interval, or the server default when it is empty."
    )
    clock_skewed = serializers.BooleanField(
        read_only=True,
        help_text=(
            "The station's clock is off by more than OCPP_CLOCK_SKEW_TOLERANCE seconds "
            "(clock_offset_seconds, measured from the timestamps it sends)."
        ),
    )
    connectors = ConnectorOutputSerializer(many=True, read_only=True)

    class Meta:
        model = ChargePoint
        # The same field groups the admin's station page shows (csms.models.stations).
        fields = [
            *CHARGE_POINT_SETTINGS_FIELDS,
            "has_password",
            "password_change_pending",
            "effective_heartbeat_interval",
            "online",
            *CHARGE_POINT_CONNECTION_FIELDS,
            "clock_skewed",
            *CHARGE_POINT_DEVICE_FIELDS,
            *CHARGE_POINT_FIRMWARE_FIELDS,
            *CHARGE_POINT_REMOTE_STATE_FIELDS,
            "connectors",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class _ChargePointWriteFields(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    location = serializers.CharField(max_length=255, required=False, allow_blank=True)
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        help_text=(
            f"HTTP Basic password for the station ({MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} "
            "characters, OCPP security profile 1). Stored hashed, never returned; "
            "null or empty clears it."
        ),
    )
    registration_status = serializers.ChoiceField(
        choices=RegistrationStatus.choices, required=False
    )
    heartbeat_interval = serializers.IntegerField(
        min_value=1,
        max_value=86400,
        required=False,
        allow_null=True,
        help_text="Seconds; null means the server default.",
    )
    # The station's site is a foreign key to billing.Site: a link in the schema, resolved by
    # the app registry. The queryset comes through that key, so csms's code imports nothing of
    # billing.
    site = serializers.PrimaryKeyRelatedField(
        queryset=ChargePoint.site.field.related_model._default_manager.all(),  # type: ignore[union-attr]
        required=False,
        allow_null=True,
        help_text="Id of the site (GET /api/v1/sites/) the station is at; null: none.",
    )


class ChargePointCreateSerializer(_ChargePointWriteFields):
    identity = serializers.CharField(
        max_length=48,
        validators=[identity_validator],
        help_text="The last path segment of the station's ws://.../ocpp/<identity> URL.",
    )

    def validate_identity(self, value: str) -> str:
        if ChargePoint.objects.filter(identity=value).exists():
            raise serializers.ValidationError(f"A charge point {value!r} is already registered.")
        return value


class ChargePointUpdateSerializer(_ChargePointWriteFields):
    identity = serializers.CharField(
        required=False, help_text="Read-only after registration; may be sent unchanged."
    )

    def validate_identity(self, value: str) -> str:
        if self.instance is not None and value != self.instance.identity:
            raise serializers.ValidationError(
                "The identity cannot change: it is the URL the station connects to. "
                "Register a new charge point instead."
            )
        return value


@extend_schema_view(
    get=extend_schema(
        summary="List charge points",
        parameters=[
            bool_param("online", "Filter by online state (see `online` in the response)."),
            bool_param("clock_skewed", "Stations whose clock is off (see `clock_skewed`)."),
            OpenApiParameter(
                "registration_status", OpenApiTypes.STR, enum=RegistrationStatus.values
            ),
            OpenApiParameter(
                "search", OpenApiTypes.STR, description="Substring of identity or name."
            ),
        ],
    ),
    post=extend_schema(
        summary="Register a charge point",
        request=ChargePointCreateSerializer,
        responses={201: ChargePointOutputSerializer},
    ),
)
class ChargePointListApi(generics.ListCreateAPIView):
    serializer_class = ChargePointOutputSerializer

    def get_serializer_class(self) -> type[serializers.Serializer]:
        # The browsable API's form shows the registration fields.
        if self.request is not None and self.request.method == "POST":
            return ChargePointCreateSerializer
        return ChargePointOutputSerializer

    def get_queryset(self) -> QuerySet[ChargePoint]:
        return charge_point_list(
            online=query_bool(self.request, "online"),
            clock_skewed=query_bool(self.request, "clock_skewed"),
            registration_status=query_choice(
                self.request, "registration_status", RegistrationStatus
            ),
            search=query_text(self.request, "search"),
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = ChargePointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                charge_point = charge_point_register(**serializer.validated_data)
        except IntegrityError:  # registered concurrently
            raise exceptions.ValidationError(
                {"identity": ["A charge point with this identity is already registered."]}
            ) from None
        logger.info("charge point %s registered by %s", charge_point.identity, request.user)
        output = charge_point_get(identity=charge_point.identity)
        return Response(ChargePointOutputSerializer(output).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="A charge point, its device data and connectors"),
    patch=extend_schema(
        summary="Change a charge point",
        request=ChargePointUpdateSerializer,
        responses={200: ChargePointOutputSerializer},
    ),
    delete=extend_schema(
        summary="Delete a charge point",
        description=(
            "Deletes the station with its connectors, status history and message log. A "
            "station with transactions is refused with 409: charging history is kept; set "
            "its registration_status to Rejected instead."
        ),
        responses={204: None, 409: OpenApiTypes.OBJECT},
    ),
)
class ChargePointDetailApi(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = ChargePointOutputSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self) -> ChargePoint:
        return charge_point_or_404(self.kwargs["identity"])

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        charge_point = self.get_object()
        serializer = ChargePointUpdateSerializer(charge_point, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        fields.pop("identity", None)
        with transaction.atomic():
            charge_point_update(charge_point=charge_point, **fields)
        logger.info(
            "charge point %s changed by %s: %s", charge_point.identity, request.user, sorted(fields)
        )
        output = charge_point_get(identity=charge_point.identity)
        return Response(ChargePointOutputSerializer(output).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        charge_point = self.get_object()
        try:
            with transaction.atomic():
                charge_point_delete(charge_point=charge_point)
        except ChargePointInUse as exc:
            logger.info("refused to delete %s: %s", charge_point.identity, exc)
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        logger.info("charge point %s deleted by %s", charge_point.identity, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Connection attempts --------------------------------------------------------------------


class ConnectionAttemptOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConnectionAttempt
        # count: refusals this row stands for, the first at created_at, the latest at last_at.
        fields = [
            "id",
            "identity",
            "reason",
            "remote_address",
            "detail",
            "count",
            "created_at",
            "last_at",
        ]
        read_only_fields = fields


@extend_schema(
    summary="A charge point's refused handshakes (e.g. wrong credentials), newest first",
    parameters=[OpenApiParameter("reason", OpenApiTypes.STR, enum=ConnectionAttempt.Reason.values)],
)
class ChargePointConnectionAttemptApi(generics.ListAPIView):
    serializer_class = ConnectionAttemptOutputSerializer

    def get_queryset(self) -> QuerySet[ConnectionAttempt]:
        charge_point = charge_point_or_404(self.kwargs["identity"])
        return connection_attempt_list(
            identity=charge_point.identity,
            reason=query_choice(self.request, "reason", ConnectionAttempt.Reason),
        )


@extend_schema(
    summary="Refused WebSocket handshakes, newest first",
    parameters=[
        OpenApiParameter("identity", OpenApiTypes.STR, description="Exact identity."),
        OpenApiParameter("reason", OpenApiTypes.STR, enum=ConnectionAttempt.Reason.values),
    ],
)
class ConnectionAttemptListApi(generics.ListAPIView):
    serializer_class = ConnectionAttemptOutputSerializer

    def get_queryset(self) -> QuerySet[ConnectionAttempt]:
        return connection_attempt_list(
            identity=query_text(self.request, "identity"),
            reason=query_choice(self.request, "reason", ConnectionAttempt.Reason),
        )


@extend_schema(
    summary="Register the station of a refused handshake in one step",
    description=(
        "Creates the charge point (registration status Accepted, no password) and clears its "
        "'unknown identity' attempts; the station is accepted on its next connection. 201 when "
        "created, 200 when the identity is already registered (e.g. an attempt refused for "
        "bad credentials), 400 when the attempt's identity is not a valid identity."
    ),
    request=None,
    responses={201: ChargePointOutputSerializer, 200: ChargePointOutputSerializer},
)
class ConnectionAttemptRegisterApi(generics.GenericAPIView):
    serializer_class = ChargePointOutputSerializer
    queryset = ConnectionAttempt.objects.all()

    def post(self, request: Request, pk: int) -> Response:
        attempt = ConnectionAttempt.objects.filter(pk=pk).first()
        if attempt is None:
            raise exceptions.NotFound(f"No connection attempt {pk}.")
        try:
            identity_validator(attempt.identity)
        except DjangoValidationError:
            raise exceptions.ValidationError(
                {
                    "identity": [
                        f"{attempt.identity!r} is not a valid identity; it cannot be registered."
                    ]
                }
            ) from None
        existed = ChargePoint.objects.filter(identity=attempt.identity).exists()
        with transaction.atomic():
            charge_point = charge_point_register_from_attempt(attempt=attempt)
        logger.info("charge point %s registered from attempt by %s", charge_point, request.user)
        output = charge_point_get(identity=charge_point.identity)
        return Response(
            ChargePointOutputSerializer(output).data,
            status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )
