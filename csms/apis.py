"""REST API (DRF) for the core domain, under /api/v1/.

Views parse the request (strictly: an unreadable filter is a 400, never ignored), read through
csms.selectors and write through csms.services. Permissions come from the project default,
csms.permissions.IsStaffRole: operators read and write, support staff read, others 403.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import now
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, generics, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from billing.models import Tariff
from csms.models import (
    ChargePoint,
    ConnectionAttempt,
    Connector,
    IdTag,
    MessageLog,
    MeterValue,
    RegistrationStatus,
    StatusNotification,
    Transaction,
    identity_validator,
)
from csms.selectors.authorization import id_tag_get, id_tag_list
from csms.selectors.logs import message_log_list, status_history_list
from csms.selectors.stations import charge_point_get, charge_point_list, connection_attempt_list
from csms.selectors.transactions import meter_value_list, transaction_get, transaction_list
from csms.services.authorization import id_tag_create, id_tag_update
from csms.services.stations import (
    ChargePointInUse,
    charge_point_delete,
    charge_point_register,
    charge_point_register_from_attempt,
    charge_point_update,
)
from csms.station_auth import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus Django ValidationErrors from services as 400s; every 4xx is logged."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = exceptions.ValidationError(detail=detail)
    response = drf_exception_handler(exc, context)
    if response is not None and 400 <= response.status_code < 500:
        request = context.get("request")
        logger.info(
            "API %s %s -> %s: %s",
            getattr(request, "method", "?"),
            getattr(request, "path", "?"),
            response.status_code,
            response.data,
        )
    return response


# --- Query-string parsing -------------------------------------------------------------------
# Filters are parsed here, strictly: a value we cannot read is a 400 naming the parameter,
# never a silently ignored filter (which would return more data than the caller asked for).

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _query_bool(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise exceptions.ValidationError({name: f"Expected true or false, got {raw!r}."})


def _query_datetime(request: Request, name: str) -> datetime | None:
    """ISO 8601 datetime (a value without a zone is UTC, as for station timestamps) or date."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip().replace(" ", "+")  # an unescaped '+' in a query string arrives as ' '
    try:
        parsed = parse_datetime(text)
        if parsed is None:
            day = parse_date(text)
            parsed = datetime(day.year, day.month, day.day) if day else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise exceptions.ValidationError(
            {name: f"Expected an ISO 8601 datetime such as 2025-01-31T08:00:00Z, got {raw!r}."}
        )
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _query_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise exceptions.ValidationError({name: f"Expected an integer, got {raw!r}."}) from None


def _query_text(request: Request, name: str) -> str | None:
    """A free-text filter. NUL cannot be stored in (or compared with) PostgreSQL text: a 400
    here rather than a DataError (500) from the database."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    if "\x00" in raw:
        raise exceptions.ValidationError({name: "Null characters are not allowed."})
    return raw


def _query_choice(request: Request, name: str, choices: Any) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    allowed = [str(value) for value in choices.values]
    if raw not in allowed:
        raise exceptions.ValidationError({name: f"Expected one of {', '.join(allowed)}."})
    return raw


def _time_range(request: Request, after: str, before: str) -> tuple[Any, Any]:
    start, end = _query_datetime(request, after), _query_datetime(request, before)
    if start and end and start >= end:
        raise exceptions.ValidationError({before: f"Must be later than {after}."})
    return start, end


def _charge_point_or_404(identity: str) -> ChargePoint:
    try:
        identity_validator(identity)
    except DjangoValidationError as exc:
        raise exceptions.ValidationError({"identity": exc.messages}) from None
    charge_point = charge_point_get(identity=identity)
    if charge_point is None:
        raise exceptions.NotFound(f"No charge point with identity {identity!r}.")
    return charge_point


def _bool_param(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.BOOL, description=description)


def _datetime_param(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.DATETIME, description=description)


SINCE_UNTIL = [
    _datetime_param("since", "Only rows at or after this time (ISO 8601; no zone means UTC)."),
    _datetime_param("until", "Only rows before this time (exclusive)."),
]


class NewestFirstCursorPagination(CursorPagination):
    """For append-only tables that grow without bound (message log, status history, meter
    values): no COUNT(*) over millions of rows, and stable pages while rows keep arriving."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = ("-created_at", "-id")


class StatusHistoryPagination(NewestFirstCursorPagination):
    ordering = ("-received_at", "-id")


class MeterValuePagination(NewestFirstCursorPagination):
    ordering = ("timestamp", "id")


# --- Charge points --------------------------------------------------------------------------


class ConnectorOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Connector
        fields = [
            "connector_id",
            "status",
            "error_code",
            "info",
            "vendor_id",
            "vendor_error_code",
            "status_timestamp",
        ]
        read_only_fields = fields


class ChargePointOutputSerializer(serializers.ModelSerializer):
    online = serializers.BooleanField(
        source="is_online",
        read_only=True,
        help_text="Connected and heard from within twice the heartbeat interval.",
    )
    has_password = serializers.BooleanField(read_only=True)
    effective_heartbeat_interval = serializers.IntegerField(
        read_only=True, help_text="heartbeat_interval, or the server default when it is empty."
    )
    connectors = ConnectorOutputSerializer(many=True, read_only=True)

    class Meta:
        model = ChargePoint
        fields = [
            "identity",
            "name",
            "description",
            "location",
            "registration_status",
            "has_password",
            "heartbeat_interval",
            "effective_heartbeat_interval",
            "tariff",
            "online",
            "connected",
            "last_seen",
            "connected_at",
            "disconnected_at",
            "remote_address",
            "vendor",
            "model",
            "charge_point_serial_number",
            "charge_box_serial_number",
            "firmware_version",
            "iccid",
            "imsi",
            "meter_type",
            "meter_serial_number",
            "vendor_extras",
            "last_boot_at",
            "firmware_status",
            "firmware_status_at",
            "diagnostics_status",
            "diagnostics_status_at",
            "local_list_version",
            "local_list_reported_version",
            "local_list_checked_at",
            "local_list_mismatch",
            "configuration",
            "configuration_unknown_keys",
            "configuration_at",
            "reboot_required",
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
    tariff = serializers.PrimaryKeyRelatedField(
        queryset=Tariff.objects.all(), required=False, allow_null=True
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
            _bool_param("online", "Filter by online state (see `online` in the response)."),
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
            online=_query_bool(self.request, "online"),
            registration_status=_query_choice(
                self.request, "registration_status", RegistrationStatus
            ),
            search=_query_text(self.request, "search"),
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
        return _charge_point_or_404(self.kwargs["identity"])

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
        charge_point = _charge_point_or_404(self.kwargs["identity"])
        since, until = _time_range(self.request, "since", "until")
        return message_log_list(
            charge_point=charge_point,
            action=_query_text(self.request, "action"),
            direction=_query_choice(self.request, "direction", MessageLog.Direction),
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


@extend_schema(
    summary="A charge point's StatusNotification history, newest first",
    parameters=[
        OpenApiParameter("connector_id", OpenApiTypes.INT, description="0 is the station."),
        _datetime_param("since", "Received at or after this time."),
        _datetime_param("until", "Received before this time (exclusive)."),
    ],
)
class ChargePointStatusHistoryApi(generics.ListAPIView):
    serializer_class = StatusNotificationOutputSerializer
    pagination_class = StatusHistoryPagination

    def get_queryset(self) -> QuerySet[StatusNotification]:
        charge_point = _charge_point_or_404(self.kwargs["identity"])
        since, until = _time_range(self.request, "since", "until")
        return status_history_list(
            charge_point=charge_point,
            connector_id=_query_int(self.request, "connector_id"),
            since=since,
            until=until,
        )


# --- Connection attempts --------------------------------------------------------------------


class ConnectionAttemptOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConnectionAttempt
        fields = ["id", "identity", "reason", "remote_address", "detail", "created_at"]
        read_only_fields = fields


@extend_schema(
    summary="A charge point's refused handshakes (e.g. wrong credentials), newest first",
    parameters=[OpenApiParameter("reason", OpenApiTypes.STR, enum=ConnectionAttempt.Reason.values)],
)
class ChargePointConnectionAttemptApi(generics.ListAPIView):
    serializer_class = ConnectionAttemptOutputSerializer

    def get_queryset(self) -> QuerySet[ConnectionAttempt]:
        charge_point = _charge_point_or_404(self.kwargs["identity"])
        return connection_attempt_list(
            identity=charge_point.identity,
            reason=_query_choice(self.request, "reason", ConnectionAttempt.Reason),
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
            identity=_query_text(self.request, "identity"),
            reason=_query_choice(self.request, "reason", ConnectionAttempt.Reason),
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


# --- Id tags --------------------------------------------------------------------------------


class IdTagOutputSerializer(serializers.ModelSerializer):
    parent_id_tag = serializers.CharField(
        source="parent.id_tag", read_only=True, allow_null=True, default=None
    )
    effective_status = serializers.SerializerMethodField(
        help_text="What Authorize answers now: Expired once expiry_date has passed."
    )

    class Meta:
        model = IdTag
        fields = [
            "id_tag",
            "status",
            "effective_status",
            "expiry_date",
            "parent_id_tag",
            "note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=IdTag.Status.choices))
    def get_effective_status(self, tag: IdTag) -> str:
        if tag.status == IdTag.Status.ACCEPTED and tag.expiry_date and tag.expiry_date <= now():
            return IdTag.Status.EXPIRED.value
        return str(tag.status)


class _IdTagWriteFields(serializers.Serializer):
    status = serializers.ChoiceField(choices=IdTag.Status.choices, required=False)
    expiry_date = serializers.DateTimeField(required=False, allow_null=True)
    parent_id_tag = serializers.CharField(
        max_length=20,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="An existing tag (case-insensitive); null or empty for none.",
    )
    note = serializers.CharField(max_length=255, required=False, allow_blank=True)


class IdTagCreateSerializer(_IdTagWriteFields):
    id_tag = serializers.CharField(max_length=20, help_text="OCPP IdToken, case-insensitive.")


class IdTagUpdateSerializer(_IdTagWriteFields):
    id_tag = serializers.CharField(
        max_length=20, required=False, help_text="Only the case of its spelling may change."
    )


@extend_schema_view(
    get=extend_schema(
        summary="List id tags",
        parameters=[
            OpenApiParameter("search", OpenApiTypes.STR, description="Substring of tag or note."),
            OpenApiParameter("status", OpenApiTypes.STR, enum=IdTag.Status.values),
        ],
    ),
    post=extend_schema(
        summary="Register an id tag",
        request=IdTagCreateSerializer,
        responses={201: IdTagOutputSerializer},
    ),
)
class IdTagListApi(generics.ListCreateAPIView):
    serializer_class = IdTagOutputSerializer

    def get_serializer_class(self) -> type[serializers.Serializer]:
        if self.request is not None and self.request.method == "POST":
            return IdTagCreateSerializer
        return IdTagOutputSerializer

    def get_queryset(self) -> QuerySet[IdTag]:
        return id_tag_list(
            search=_query_text(self.request, "search"),
            status=_query_choice(self.request, "status", IdTag.Status),
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = IdTagCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            tag = id_tag_create(**serializer.validated_data)
        logger.info("id tag %s registered by %s", tag.id_tag, request.user)
        return Response(IdTagOutputSerializer(tag).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="An id tag (looked up case-insensitively)"),
    patch=extend_schema(
        summary="Change an id tag",
        request=IdTagUpdateSerializer,
        responses={200: IdTagOutputSerializer},
    ),
    delete=extend_schema(
        summary="Delete an id tag",
        description="Transactions keep the tag string they were started with.",
    ),
)
class IdTagDetailApi(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = IdTagOutputSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self) -> IdTag:
        if "\x00" in self.kwargs["id_tag"]:  # PostgreSQL text cannot hold NUL: no such tag
            raise exceptions.NotFound("No such id tag.")
        tag = id_tag_get(id_tag=self.kwargs["id_tag"])
        if tag is None:
            raise exceptions.NotFound(f"No id tag {self.kwargs['id_tag']!r}.")
        return tag

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        tag = self.get_object()
        serializer = IdTagUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            tag = id_tag_update(tag=tag, **serializer.validated_data)
        logger.info("id tag %s changed by %s", tag.id_tag, request.user)
        return Response(IdTagOutputSerializer(id_tag_get(id_tag=tag.key)).data)

    def perform_destroy(self, instance: IdTag) -> None:
        logger.info("id tag %s deleted by %s", instance.id_tag, self.request.user)
        instance.delete()


# --- Transactions ---------------------------------------------------------------------------


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
            "started_at",
            "stopped_at",
            "stop_reason",
            "stop_id_tag",
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
        _bool_param("active", "true: running sessions; false: finished ones."),
        _datetime_param("started_after", "Started at or after (ISO 8601; no zone means UTC)."),
        _datetime_param("started_before", "Started before (exclusive)."),
    ],
)
class TransactionListApi(generics.ListAPIView):
    serializer_class = TransactionOutputSerializer

    def get_queryset(self) -> QuerySet[Transaction]:
        started_after, started_before = _time_range(self.request, "started_after", "started_before")
        return transaction_list(
            charge_point=_query_text(self.request, "charge_point"),
            id_tag=_query_text(self.request, "id_tag"),
            active=_query_bool(self.request, "active"),
            started_after=started_after,
            started_before=started_before,
            connector_id=_query_int(self.request, "connector_id"),
        )


def _transaction_or_404(transaction_id: int) -> Transaction:
    found = transaction_get(transaction_id=transaction_id)
    if found is None:
        raise exceptions.NotFound(f"No transaction {transaction_id}.")
    return found


@extend_schema(summary="A transaction (id is the OCPP transactionId)")
class TransactionDetailApi(generics.RetrieveAPIView):
    serializer_class = TransactionOutputSerializer

    def get_object(self) -> Transaction:
        return _transaction_or_404(self.kwargs["pk"])


class MeterValueOutputSerializer(serializers.ModelSerializer):
    value_decimal = serializers.DecimalField(
        max_digits=20,
        decimal_places=6,
        read_only=True,
        allow_null=True,
        help_text="The value as a number when its format is Raw and it parses.",
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
        ]
        read_only_fields = fields


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
        tx = _transaction_or_404(self.kwargs["pk"])
        since, until = _time_range(self.request, "since", "until")
        return meter_value_list(
            transaction=tx,
            measurand=_query_text(self.request, "measurand"),
            since=since,
            until=until,
        )
