"""Id-tag reads (case-insensitive, like every tag lookup)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from csms.models import IdTag


def id_tag_list(*, search: str | None = None, status: str | None = None) -> QuerySet[IdTag]:
    qs = IdTag.objects.select_related("parent")
    if search:
        qs = qs.filter(Q(key__contains=IdTag.normalize(search)) | Q(note__icontains=search))
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("key")


def id_tag_get(*, id_tag: str) -> IdTag | None:
    """Case-insensitive, like every tag lookup (IdTag.key)."""
    return IdTag.objects.select_related("parent").filter(key=IdTag.normalize(id_tag)).first()
