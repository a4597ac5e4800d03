"""Roles. Operators do everything; support staff read everything and send commands; any
other authenticated user (a driver, an outsider) is refused by the operations API.

A role is a Django group (created by migration csms 0002); superusers are operators.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

OPERATORS = "operators"
SUPPORT = "support"


def _in_group(user: Any, name: str) -> bool:
    if not user or not user.is_authenticated:
        return False
    cache = getattr(user, "_csms_groups", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._csms_groups = cache
    return name in cache


def is_operator(user: Any) -> bool:
    return bool(
        user and user.is_authenticated and (user.is_superuser or _in_group(user, OPERATORS))
    )


def is_support(user: Any) -> bool:
    return _in_group(user, SUPPORT)


def can_send_commands(user: Any) -> bool:
    return is_operator(user) or is_support(user)


class IsStaffRole(BasePermission):
    """Operators: read and write. Support: read. Everyone else: 403 (anonymous: 401)."""

    message = "Only operators and support staff may use this endpoint."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if request.method in SAFE_METHODS:
            return can_send_commands(user)
        return is_operator(user)


class CanSendCommands(BasePermission):
    """Operators and support staff may issue remote commands."""

    message = "Only operators and support staff may send commands."

    def has_permission(self, request: Any, view: Any) -> bool:
        return can_send_commands(request.user)
