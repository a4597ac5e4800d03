"""Id-tag API: the registry of RFID tags and other idTokens that Authorize and
StartTransaction answer from."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.timezone import now
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

from csms.api.common import query_choice, query_text
from csms.models import IdTag
from csms.selectors.authorization import id_tag_get, id_tag_list
from csms.services.authorization import id_tag_create, id_tag_update
from csms.services.common import INT32_MAX

logger = logging.getLogger(__name__)


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
            "max_concurrent_sessions",
            "note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=IdTag.Status.choices))
    def get_effective_status(self, tag: IdTag) -> str:
        return str(tag.status_at(now()))


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
    max_concurrent_sessions = serializers.IntegerField(
        min_value=0,
        max_value=INT32_MAX,
        required=False,
        help_text="Sessions the tag may run at once; StartTransaction answers ConcurrentTx "
        "beyond that. 0 = no limit. Default 1.",
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
            search=query_text(self.request, "search"),
            status=query_choice(self.request, "status", IdTag.Status),
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
