"""What wallet's admins share: read-only, and operators' only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from csms.permissions import is_operator


class MoneyAdmin(admin.ModelAdmin):
    """Viewable by operators (their group has the wallet's view permissions, wallet 0003);
    support staff see no money (no permission, and is_operator is checked besides). Nothing
    is added, changed or deleted by hand: money moves through wallet's services only."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_operator(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
