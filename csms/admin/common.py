"""What every admin module of the core shares: links between changelists and change pages,
JSON shown readably, and the base class for what stations report (read-only)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString


def changelist_url(model: type[Model], **params: Any) -> str | None:
    """The admin changelist of ``model`` filtered by ``params``; None if it is not registered."""
    opts = model._meta
    try:
        base = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:
        return None
    return f"{base}?{urlencode(params)}" if params else base


def change_url(obj: Any) -> str | None:
    opts = obj._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return None


def link(url: str | None, text: Any) -> SafeString | str:
    return format_html('<a href="{}">{}</a>', url, text) if url else str(text)


def pretty_json(value: Any) -> SafeString:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
        json.dumps(value, indent=2, ensure_ascii=False, default=str),
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    """For what stations report: viewable (and deletable by operators, so deleting a station
    can cascade), never added or edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
