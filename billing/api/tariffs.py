"""Tariff API: tariffs with their versions (created and changed as OCPI 2.2.1 Tariff JSON,
every change a new version), the OCPI export, assignments, and which tariff applies to a
station now and why.

OCPI JSON is read by ``billing.pricing.ocpi.tariff_from_ocpi``; a mistake is a 400 naming
its JSON path under ``ocpi``: ``{"ocpi": {"elements[0].price_components[1].step_size":
["must be an integer"]}}``. The export is ``/tariffs/<id>/ocpi/``, not ``?format=ocpi``:
DRF reads ``format`` as the renderer to use.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Site, Tariff, TariffAssignment, TariffVersion
from billing.pricing.ocpi import TariffFormatError, tariff_from_ocpi, tariff_to_ocpi
from billing.pricing.tariff import Tariff as PricingTariff
from billing.selectors import (
    site_timezone_for,
    tariff_applicable_detail,
    tariff_assignment_list,
    tariff_get,
    tariff_list,
    tariff_version_get,
    tariff_version_list,
)
from billing.services import (
    TariffInUse,
    tariff_assignment_create,
    tariff_assignment_delete,
    tariff_assignment_update,
    tariff_create,
    tariff_delete,
    tariff_update,
    tariff_version_create,
)
from csms.api.common import (
    bool_param,
    charge_point_or_404,
    datetime_param,
    query_bool,
    query_datetime,
    query_int,
    query_text,
)
from csms.models import ChargePoint

logger = logging.getLogger(__name__)


def pricing_from_request(data: Any) -> PricingTariff:
    """``data`` (the ``ocpi`` member of a request) as a tariff, or a 400 naming the field."""
    try:
        return tariff_from_ocpi(data)
    except TariffFormatError as exc:
        raise exceptions.ValidationError(
            {"ocpi": {exc.field or "(document)": [exc.message]}}
        ) from None


# --- Output ---------------------------------------------------------------------------------


class VersionSummarySerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = TariffVersion
        fields = ["number", "created_at", "created_by", "start_date_time", "end_date_time"]
        read_only_fields = fields


class VersionOutputSerializer(VersionSummarySerializer):
    tariff = serializers.IntegerField(source="tariff_id", read_only=True)
    ocpi = serializers.SerializerMethodField(help_text="This version as OCPI 2.2.1 Tariff JSON.")

    class Meta(VersionSummarySerializer.Meta):
        fields = ["tariff", *VersionSummarySerializer.Meta.fields, "ocpi"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_ocpi(self, version: TariffVersion) -> dict[str, Any]:
        return tariff_to_ocpi(version.as_pricing())


class TariffOutputSerializer(serializers.ModelSerializer):
    current_version = serializers.SerializerMethodField(
        help_text="Number of the newest version (it may start later: see start_date_time)."
    )
    ocpi = serializers.SerializerMethodField(
        help_text="The newest version as OCPI 2.2.1 Tariff JSON."
    )
    versions = serializers.SerializerMethodField()
    assignment_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Tariff
        fields = [
            "id",
            "name",
            "currency",
            "is_default",
            "country_code",
            "party_id",
            "ocpi_id",
            "current_version",
            "ocpi",
            "versions",
            "assignment_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.INT)
    def get_current_version(self, tariff: Tariff) -> int | None:
        version = tariff.current_version
        return version.number if version else None

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_ocpi(self, tariff: Tariff) -> dict[str, Any] | None:
        version = tariff.current_version
        return tariff_to_ocpi(version.as_pricing()) if version else None

    @extend_schema_field(VersionSummarySerializer(many=True))
    def get_versions(self, tariff: Tariff) -> list[Any]:
        versions = sorted(tariff.versions.all(), key=lambda v: -v.number)
        return list(VersionSummarySerializer(versions, many=True).data)


def _tariff_output(pk: int) -> dict[str, Any]:
    tariff = tariff_list().prefetch_related("versions__elements__components").get(pk=pk)
    return dict(TariffOutputSerializer(tariff).data)


def _tariff_or_404(pk: int) -> Tariff:
    tariff = tariff_get(pk=pk)
    if tariff is None:
        raise exceptions.NotFound(f"No tariff {pk}.")
    return tariff


# --- Input ----------------------------------------------------------------------------------

OCPI_HELP = (
    "An OCPI 2.2.1 Tariff object (currency, elements with price_components and restrictions, "
    "min_price/max_price, tariff_alt_text, start_date_time/end_date_time...)."
)


class TariffCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    is_default = serializers.BooleanField(
        required=False, default=False, help_text="Makes it the default in place of any other."
    )
    ocpi = serializers.JSONField(
        help_text=OCPI_HELP + " Its currency and country_code/party_id/id become the tariff's."
    )

    def validate_name(self, value: str) -> str:
        if Tariff.objects.filter(name=value).exists():
            raise serializers.ValidationError(f"A tariff named {value!r} exists.")
        return value


class TariffUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    is_default = serializers.BooleanField(required=False)
    country_code = serializers.CharField(max_length=2, required=False, allow_blank=True)
    party_id = serializers.CharField(max_length=3, required=False, allow_blank=True)
    ocpi_id = serializers.CharField(max_length=36, required=False, allow_blank=True)
    ocpi = serializers.JSONField(
        required=False,
        help_text=OCPI_HELP + " Published as a new version; earlier versions are unchanged.",
    )

    def validate_name(self, value: str) -> str:
        others = Tariff.objects.filter(name=value)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError(f"A tariff named {value!r} exists.")
        return value


class VersionCreateSerializer(serializers.Serializer):
    ocpi = serializers.JSONField(help_text=OCPI_HELP)


def _integrity_error(exc: IntegrityError) -> exceptions.ValidationError:
    # Constraints checked by the service first; a concurrent write can still trip them.
    logger.info("tariff write refused by the database: %s", exc)
    return exceptions.ValidationError(
        {"detail": ["Another change to tariffs was saved at the same moment; try again."]}
    )


# --- Tariffs --------------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        summary="List tariffs",
        parameters=[
            OpenApiParameter("search", OpenApiTypes.STR, description="Substring of the name."),
            OpenApiParameter("currency", OpenApiTypes.STR),
            bool_param("is_default", "Only the default tariff (true) or the others."),
        ],
    ),
    post=extend_schema(
        summary="Create a tariff from OCPI 2.2.1 Tariff JSON",
        description="400 names the bad field, e.g. `ocpi.elements[0].price_components[0].price`.",
        request=TariffCreateSerializer,
        responses={201: TariffOutputSerializer},
    ),
)
class TariffListApi(generics.ListCreateAPIView):
    serializer_class = TariffOutputSerializer

    def get_serializer_class(self) -> type[serializers.Serializer]:
        if self.request is not None and self.request.method == "POST":
            return TariffCreateSerializer
        return TariffOutputSerializer

    def get_queryset(self) -> QuerySet[Tariff]:
        return tariff_list(
            search=query_text(self.request, "search"),
            currency=query_text(self.request, "currency"),
            is_default=query_bool(self.request, "is_default"),
        ).prefetch_related("versions__elements__components")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = TariffCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        pricing = pricing_from_request(data["ocpi"])
        try:
            with transaction.atomic():
                tariff = tariff_create(
                    name=data["name"],
                    pricing=pricing,
                    is_default=data["is_default"],
                    created_by=request.user,
                )
        except IntegrityError as exc:
            raise _integrity_error(exc) from None
        logger.info("tariff %s (%s) created by %s", tariff.pk, tariff.name, request.user)
        return Response(_tariff_output(tariff.pk), status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="A tariff: its newest version as OCPI JSON, and its versions"),
    patch=extend_schema(
        summary="Change a tariff (prices: a new version)",
        description=(
            "name, is_default and the OCPI ids change in place (they price nothing). `ocpi` "
            "publishes a new version; existing versions, and the sessions priced by them, "
            "are never changed."
        ),
        request=TariffUpdateSerializer,
        responses={200: TariffOutputSerializer},
    ),
    delete=extend_schema(
        summary="Delete a tariff and its versions",
        description="409 while it is assigned to a site, station or connector.",
        responses={204: None, 409: OpenApiTypes.OBJECT},
    ),
)
class TariffDetailApi(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = TariffOutputSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self) -> Tariff:
        return _tariff_or_404(self.kwargs["pk"])

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(_tariff_output(self.get_object().pk))

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        tariff = self.get_object()
        serializer = TariffUpdateSerializer(tariff, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        raw = fields.pop("ocpi", None)
        pricing = pricing_from_request(raw) if "ocpi" in serializer.validated_data else None
        try:
            with transaction.atomic():
                tariff_update(tariff=tariff, pricing=pricing, created_by=request.user, **fields)
        except IntegrityError as exc:
            raise _integrity_error(exc) from None
        logger.info(
            "tariff %s changed by %s: %s%s",
            tariff.pk,
            request.user,
            sorted(fields),
            " and a new version" if pricing else "",
        )
        return Response(_tariff_output(tariff.pk))

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        tariff = self.get_object()
        try:
            with transaction.atomic():
                tariff_delete(tariff=tariff)
        except TariffInUse as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        logger.info("tariff %s (%s) deleted by %s", kwargs["pk"], tariff.name, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    get=extend_schema(summary="A tariff's versions, newest first"),
    post=extend_schema(
        summary="Publish a new version from OCPI 2.2.1 Tariff JSON",
        request=VersionCreateSerializer,
        responses={201: VersionOutputSerializer},
    ),
)
class TariffVersionListApi(generics.ListCreateAPIView):
    serializer_class = VersionOutputSerializer

    def get_serializer_class(self) -> type[serializers.Serializer]:
        if self.request is not None and self.request.method == "POST":
            return VersionCreateSerializer
        return VersionOutputSerializer

    def get_queryset(self) -> QuerySet[TariffVersion]:
        return tariff_version_list(tariff=_tariff_or_404(self.kwargs["pk"]))

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        tariff = _tariff_or_404(self.kwargs["pk"])
        serializer = VersionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pricing = pricing_from_request(serializer.validated_data["ocpi"])
        try:
            with transaction.atomic():
                version = tariff_version_create(
                    tariff=tariff, pricing=pricing, created_by=request.user
                )
        except IntegrityError as exc:
            raise _integrity_error(exc) from None
        logger.info("tariff %s version %s by %s", tariff.pk, version.number, request.user)
        output = tariff_version_get(tariff=tariff, number=version.number)
        return Response(VersionOutputSerializer(output).data, status=status.HTTP_201_CREATED)


def _version_or_404(tariff: Tariff, number: int) -> TariffVersion:
    version = tariff_version_get(tariff=tariff, number=number)
    if version is None:
        raise exceptions.NotFound(f"Tariff {tariff.pk} has no version {number}.")
    return version


@extend_schema(summary="One version of a tariff (never changes once published)")
class TariffVersionDetailApi(generics.RetrieveAPIView):
    serializer_class = VersionOutputSerializer

    def get_object(self) -> TariffVersion:
        return _version_or_404(_tariff_or_404(self.kwargs["pk"]), self.kwargs["number"])


@extend_schema(
    summary="A tariff as OCPI 2.2.1 Tariff JSON (export)",
    description="The newest version, or `?version=N`. The body is the OCPI Tariff object.",
    parameters=[OpenApiParameter("version", OpenApiTypes.INT)],
    responses={200: OpenApiTypes.OBJECT},
)
class TariffOcpiApi(APIView):
    def get(self, request: Request, pk: int) -> Response:
        tariff = _tariff_or_404(pk)
        number = query_int(request, "version")
        if number is None:
            current = tariff.current_version
            if current is None:
                raise exceptions.NotFound(f"Tariff {pk} has no version yet.")
            number = current.number
        version = _version_or_404(tariff, number)
        return Response(tariff_to_ocpi(version.as_pricing()))


# --- Assignments ----------------------------------------------------------------------------


class AssignmentSerializer(serializers.ModelSerializer):
    tariff = serializers.PrimaryKeyRelatedField(queryset=Tariff.objects.all())
    tariff_name = serializers.CharField(source="tariff.name", read_only=True)
    site = serializers.PrimaryKeyRelatedField(
        queryset=Site.objects.all(), required=False, allow_null=True
    )
    charge_point = serializers.SlugRelatedField(
        slug_field="identity",
        queryset=ChargePoint.objects.all(),
        required=False,
        allow_null=True,
        help_text="Station identity.",
    )
    scope = serializers.ChoiceField(
        choices=["site", "charge_point", "connector"],
        read_only=True,
        help_text="Which rule this is: connector > charge_point > site > the default tariff.",
    )

    class Meta:
        model = TariffAssignment
        fields = [
            "id",
            "tariff",
            "tariff_name",
            "scope",
            "site",
            "charge_point",
            "connector_id",
            "valid_from",
            "valid_until",
            "created_at",
        ]
        read_only_fields = ["id", "tariff_name", "scope", "created_at"]


@extend_schema_view(
    get=extend_schema(
        summary="List tariff assignments",
        parameters=[
            OpenApiParameter("tariff", OpenApiTypes.INT),
            OpenApiParameter("site", OpenApiTypes.INT),
            OpenApiParameter("charge_point", OpenApiTypes.STR, description="Station identity."),
            datetime_param("active_at", "Only assignments whose window holds this time."),
        ],
    ),
    post=extend_schema(
        summary="Assign a tariff to a site, a station or a connector",
        description=(
            "Exactly one scope: `site`; or `charge_point`; or `charge_point` with "
            "`connector_id` (1 or more). Optional window [valid_from, valid_until)."
        ),
    ),
)
class TariffAssignmentListApi(generics.ListCreateAPIView):
    serializer_class = AssignmentSerializer

    def get_queryset(self) -> QuerySet[TariffAssignment]:
        identity = query_text(self.request, "charge_point")
        return tariff_assignment_list(
            tariff_id=query_int(self.request, "tariff"),
            site_id=query_int(self.request, "site"),
            charge_point=charge_point_or_404(identity) if identity else None,
            active_at=query_datetime(self.request, "active_at"),
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = AssignmentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            assignment = tariff_assignment_create(**serializer.validated_data)
        logger.info("tariff assignment %s created by %s", assignment, request.user)
        return Response(AssignmentSerializer(assignment).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="A tariff assignment"),
    patch=extend_schema(summary="Change a tariff assignment"),
    delete=extend_schema(summary="Remove a tariff assignment", responses={204: None}),
)
class TariffAssignmentDetailApi(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = AssignmentSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self) -> TariffAssignment:
        found = tariff_assignment_list().filter(pk=self.kwargs["pk"]).first()
        if found is None:
            raise exceptions.NotFound(f"No tariff assignment {self.kwargs['pk']}.")
        return found

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        assignment = self.get_object()
        serializer = AssignmentSerializer(assignment, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            tariff_assignment_update(assignment=assignment, **serializer.validated_data)
        logger.info("tariff assignment %s changed by %s", assignment.pk, request.user)
        return Response(AssignmentSerializer(assignment).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        assignment = self.get_object()
        with transaction.atomic():
            tariff_assignment_delete(assignment=assignment)
        logger.info("tariff assignment %s deleted by %s", kwargs["pk"], request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- The tariff of a station ----------------------------------------------------------------


class ApplicableTariffSerializer(serializers.Serializer):
    charge_point = serializers.CharField()
    connector_id = serializers.IntegerField(allow_null=True)
    at = serializers.DateTimeField()
    reason = serializers.CharField(
        help_text="Which rule chose it: connector, station, site, default."
    )
    assignment = serializers.IntegerField(allow_null=True, help_text="None for the default.")
    tariff = serializers.IntegerField()
    tariff_name = serializers.CharField()
    version = serializers.IntegerField()
    timezone = serializers.CharField(help_text="The zone its time-of-day rules are read in.")
    ocpi = serializers.JSONField()


@extend_schema(
    summary="The tariff that applies to a station (or one connector) now, and why",
    description=(
        "Connector assignment > station assignment > site assignment > the default tariff, "
        "each only within its validity window and when its tariff has a version in force. "
        "404 says why none applies."
    ),
    parameters=[
        OpenApiParameter("connector", OpenApiTypes.INT, description="Connector id (1, 2...)."),
        datetime_param("at", "Another moment than now (ISO 8601; no zone means UTC)."),
    ],
    responses={200: ApplicableTariffSerializer, 404: OpenApiTypes.OBJECT},
)
class ChargePointTariffApi(APIView):
    def get(self, request: Request, identity: str) -> Response:
        charge_point = charge_point_or_404(identity)
        connector_id = query_int(request, "connector")
        if connector_id is not None and connector_id < 0:
            raise exceptions.ValidationError({"connector": "Expected 0 or more."})
        at = query_datetime(request, "at") or timezone.now()
        choice = tariff_applicable_detail(charge_point, connector_id or None, at)
        if choice.version is None:
            raise exceptions.NotFound(choice.reason)
        version = choice.version
        data = {
            "charge_point": charge_point.identity,
            "connector_id": connector_id or None,
            "at": at,
            "reason": choice.reason,
            "assignment": choice.assignment.pk if choice.assignment else None,
            "tariff": version.tariff_id,
            "tariff_name": version.tariff.name,
            "version": version.number,
            "timezone": site_timezone_for(charge_point).key,
            "ocpi": tariff_to_ocpi(version.as_pricing()),
        }
        return Response(ApplicableTariffSerializer(data).data)
