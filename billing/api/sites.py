"""Site API: where stations are, with the time zone their tariffs' local-time rules use."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from billing.models import Site
from billing.selectors import site_get, site_list
from billing.services import site_create, site_delete, site_update
from csms.api.common import query_text

logger = logging.getLogger(__name__)

SITE_WRITE_FIELDS = [
    "name",
    "address",
    "city",
    "postal_code",
    "country",
    "latitude",
    "longitude",
    "timezone",
    "opening_hours",
]


class SiteOutputSerializer(serializers.ModelSerializer):
    station_count = serializers.IntegerField(read_only=True)
    charge_points: Any = serializers.SlugRelatedField(
        slug_field="identity",
        many=True,
        read_only=True,
        help_text="Identities of the stations at this site (set a station's `site` to add it).",
    )

    class Meta:
        model = Site
        fields = ["id", *SITE_WRITE_FIELDS, "station_count", "charge_points"]
        fields += ["created_at", "updated_at"]
        read_only_fields = fields


class SiteWriteSerializer(serializers.ModelSerializer):
    """The model's validators (country code, IANA zone, OCPI Hours, coordinate ranges) run
    here, so a bad value is a 400 naming its field; the service checks again."""

    class Meta:
        model = Site
        fields = SITE_WRITE_FIELDS


def _output(site_id: int) -> dict[str, Any]:
    return dict(SiteOutputSerializer(site_get(pk=site_id)).data)


def _site_or_404(pk: int) -> Site:
    site = site_get(pk=pk)
    if site is None:
        raise exceptions.NotFound(f"No site {pk}.")
    return site


def _save(fields: dict[str, Any], site: Site | None = None) -> Site:
    try:
        with transaction.atomic():
            if site is None:
                return site_create(**fields)
            return site_update(site=site, **fields)
    except IntegrityError:  # the same name saved concurrently
        raise exceptions.ValidationError({"name": ["A site with this name exists."]}) from None


@extend_schema_view(
    get=extend_schema(
        summary="List sites",
        parameters=[
            OpenApiParameter("search", OpenApiTypes.STR, description="Substring of name or city."),
            OpenApiParameter("country", OpenApiTypes.STR, description="ISO 3166-1 alpha-3."),
        ],
    ),
    post=extend_schema(
        summary="Create a site",
        request=SiteWriteSerializer,
        responses={201: SiteOutputSerializer},
    ),
)
class SiteListApi(generics.ListCreateAPIView):
    serializer_class = SiteOutputSerializer

    def get_serializer_class(self) -> type[serializers.Serializer]:
        if self.request is not None and self.request.method == "POST":
            return SiteWriteSerializer
        return SiteOutputSerializer

    def get_queryset(self) -> QuerySet[Site]:
        return site_list(
            search=query_text(self.request, "search"),
            country=query_text(self.request, "country"),
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = SiteWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        site = _save(dict(serializer.validated_data))
        logger.info("site %s (%s) created by %s", site.pk, site.name, request.user)
        return Response(_output(site.pk), status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="A site and its stations"),
    patch=extend_schema(
        summary="Change a site",
        request=SiteWriteSerializer,
        responses={200: SiteOutputSerializer},
    ),
    delete=extend_schema(
        summary="Delete a site",
        description="Its stations stay, with no site; its tariff assignments are deleted.",
        responses={204: None},
    ),
)
class SiteDetailApi(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = SiteOutputSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self) -> Site:
        return _site_or_404(self.kwargs["pk"])

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        site = self.get_object()
        serializer = SiteWriteSerializer(site, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        _save(fields, site)
        logger.info("site %s changed by %s: %s", site.pk, request.user, sorted(fields))
        return Response(_output(site.pk))

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        site = self.get_object()
        with transaction.atomic():
            site_delete(site=site)
        logger.info("site %s (%s) deleted by %s", kwargs["pk"], site.name, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
