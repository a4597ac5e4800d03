"""Roles. Operators do everything; support staff read everything and send the operational
commands (``SUPPORT_COMMANDS``); any other authenticated user (a driver, an outsider) is
refused by the operations API.

A role is a Django group (created by migration csms 0002); superusers are operators.

Which role sends which OCPP operation is decided here, once, by ``command_refusal``: the
gateway's one send path (``ocpp_gateway.calls.command_check``) asks it for every command,
whichever caller (API, admin action, Celery task, management command) issued it, so they all
agree. The README's "Who may send what" table is this policy (tests/architecture checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    """May send at least some commands (operators and support): who is offered the admin's
    command actions and the commands API at all. Which command: ``command_refusal``."""
    return is_operator(user) or is_support(user)


def _soft_reset(payload: Mapping[str, Any]) -> bool:
    return payload.get("type") == "Soft"


# The operations support staff may send, with a condition on the payload where only some of
# its forms are operational. Everything else is the operators' alone: UpdateFirmware (runs
# code from any URL on the station), ChangeConfiguration (AuthorizationKey locks a station out;
# other keys change metering and billing), SendLocalList (decides who may charge offline, like
# the id-tag registry support cannot write either), SetChargingProfile / ClearChargingProfile
# (grid and site limits), DataTransfer (vendor-defined: may do anything) and a Hard reset
# (interrupts sessions without stopping them cleanly).
# Read-only ones (GetConfiguration, GetLocalListVersion, GetCompositeSchedule) and ClearCache
# (drops cached authorizations, which the station then asks for again: the usual first step
# when a driver's card was just unblocked) are support's everyday troubleshooting.
SUPPORT_COMMANDS: Mapping[str, Callable[[Mapping[str, Any]], bool] | None] = {
    "RemoteStartTransaction": None,
    "RemoteStopTransaction": None,
    "UnlockConnector": None,
    "ChangeAvailability": None,
    "Reset": _soft_reset,
    "TriggerMessage": None,
    "GetConfiguration": None,
    "GetDiagnostics": None,
    "ReserveNow": None,
    "CancelReservation": None,
    "GetLocalListVersion": None,
    "GetCompositeSchedule": None,
    "ClearCache": None,
}
# What a condition means, for refusals and the README table.
SUPPORT_CONDITIONS = {"Reset": 'of type "Soft" only'}


def command_refusal(user: Any, action: str, payload: Mapping[str, Any]) -> str | None:
    """Why ``user`` may not send ``action`` with ``payload``, or None when they may.

    ``user`` None is the platform itself (a scheduled task, a management command run by
    whoever has a shell on the server): it may send everything. Operators may send
    everything; support staff what ``SUPPORT_COMMANDS`` allows; anyone else nothing."""
    if user is None or is_operator(user):
        return None
    if not is_support(user):
        return "Only operators and support staff may send commands."
    if action not in SUPPORT_COMMANDS:
        return f"Support staff may not send {action}: it is reserved to operators."
    condition = SUPPORT_COMMANDS[action]
    if condition is not None and not condition(payload):
        return (
            f"Support staff may send {action} {SUPPORT_CONDITIONS[action]}; "
            "anything else is reserved to operators."
        )
    return None


def commands_allowed(user: Any, actions: list[str]) -> list[str]:
    """Of ``actions``, those ``user`` may send in at least one form (the admin's choices)."""
    if user is None or is_operator(user):
        return list(actions)
    if not is_support(user):
        return []
    return [action for action in actions if action in SUPPORT_COMMANDS]


class IsStaffRole(BasePermission):
    """Operators: read and write. Support: read. Everyone else: 403 (anonymous: 401)."""

    message = "Only operators and support staff may use this endpoint."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if request.method in SAFE_METHODS:
            return can_send_commands(user)
        return is_operator(user)


class CanSendCommands(BasePermission):
    """Operators and support staff may use the commands API; which command each may send is
    checked when it is sent (``command_refusal``)."""

    message = "Only operators and support staff may send commands."

    def has_permission(self, request: Any, view: Any) -> bool:
        return can_send_commands(request.user)
