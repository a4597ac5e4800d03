"""Admin of id tags: the one authorization record operators edit by hand.

Tags are unique case-insensitively (``IdTag.key``); the form says which tag a new spelling
clashes with instead of failing on the database constraint.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.safestring import SafeString

from csms.admin.common import changelist_url, link
from csms.models import IdTag, Transaction


class IdTagAdminForm(forms.ModelForm):
    class Meta:
        model = IdTag
        fields = [
            "id_tag",
            "status",
            "expiry_date",
            "parent",
            "max_concurrent_sessions",
            "user",
            "note",
        ]

    def clean_id_tag(self) -> str:
        value = self.cleaned_data["id_tag"].strip()
        key = IdTag.normalize(value)
        clash = IdTag.objects.filter(key=key).exclude(pk=self.instance.pk).first()
        if clash is not None:
            raise ValidationError(
                f"Id tag {clash.id_tag!r} already exists; tags are case-insensitive, "
                f"so {value!r} is the same tag."
            )
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        parent, value = data.get("parent"), data.get("id_tag")
        if parent is not None and value and parent.key == IdTag.normalize(value):
            raise ValidationError({"parent": "A tag cannot be its own parent."})
        return data


@admin.register(IdTag)
class IdTagAdmin(admin.ModelAdmin):
    form = IdTagAdminForm
    list_display = [
        "id_tag",
        "status",
        "expiry_date",
        "parent",
        "max_concurrent_sessions",
        "user",
        "note",
        "updated_at",
    ]
    list_filter = ["status"]
    search_fields = ["id_tag", "key", "note", "user__username", "user__email"]
    list_select_related = ["parent", "user"]
    raw_id_fields = ["parent", "user"]
    readonly_fields = ["transactions_link", "created_at", "updated_at"]

    @admin.display(description="transactions")
    def transactions_link(self, obj: IdTag) -> SafeString | str:
        if obj.pk is None:
            return "-"
        return link(changelist_url(Transaction, id_tag__iexact=obj.id_tag), "Transactions")
