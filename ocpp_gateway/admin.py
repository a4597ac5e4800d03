"""Django admin for remote operations: the command log and what commands leave behind, and
the actions that send commands from the station and transaction changelists.

All of it is read-only. The command log is an audit trail (who sent what, what the station
answered); reservations, charging profiles, composite schedules, firmware updates and
diagnostics requests mirror what a station accepted. They change only through commands: the
actions in ocpp_gateway.admin_actions (on stations, transactions and here, reservations).

csms.admin registers the station and transaction admins without those actions, since csms never
imports the gateway; this module registers subclasses of them in their place that add them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse

from csms.admin import common
from csms.admin.stations import ChargePointAdmin
from csms.admin.transactions import TransactionAdmin
from csms.models import (
    ChargePoint,
    ChargingProfile,
    Command,
    CompositeSchedule,
    DiagnosticsRequest,
    FirmwareUpdate,
    Reservation,
    Transaction,
)
from csms.permissions import can_send_commands
from csms.services.reservations import OPEN_RESERVATION_STATES
from ocpp_gateway import calls
from ocpp_gateway.admin_actions import (
    refuse,
    remote_stop_action,
    results_page,
    send_command_action,
)


def _pretty(value: Any) -> Any:
    return "-" if value in (None, "", {}, []) else common.pretty_json(value)


def _station_link(obj: Any) -> Any:
    # By the foreign key's id: no query for the station beyond the one select_related made.
    url = reverse("admin:csms_chargepoint_change", args=[obj.charge_point_id])
    return common.link(url, obj.charge_point.identity)


def _command_link(command_id: Any) -> Any:
    if command_id is None:
        return "-"
    return common.link(reverse("admin:csms_command_change", args=[command_id]), command_id)


class SendsCommandsAdmin:
    """For the admins whose actions are declared with ``permissions=["send_command"]``: Django
    asks the model admin ``has_send_command_permission`` before offering them."""

    def has_send_command_permission(self, request: HttpRequest) -> bool:
        return can_send_commands(request.user)


# The core's admins, with the actions that send commands after their own (csms.admin registered
# them first: the gateway app comes after csms in INSTALLED_APPS, and imports it anyway).
admin.site.unregister(ChargePoint)
admin.site.unregister(Transaction)


@admin.register(ChargePoint)
class GatewayChargePointAdmin(SendsCommandsAdmin, ChargePointAdmin):
    actions = [*ChargePointAdmin.actions, send_command_action]


@admin.register(Transaction)
class GatewayTransactionAdmin(SendsCommandsAdmin, TransactionAdmin):
    actions = [*TransactionAdmin.actions, remote_stop_action]


class ReadOnlyAdmin(common.ReadOnlyAdmin):
    """Records of what was sent and answered: not even deletable (they are the audit trail;
    retention and station deletion remove them)."""

    list_per_page = 100

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Every field is shown as text: no form is built for records nobody edits.
        hidden = set(self.exclude or ())
        own = [f.name for f in self.model._meta.fields if f.name not in hidden]
        return [*own, *(f for f in self.readonly_fields if f not in own)]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


COMMAND_FIELDS = (
    "id",
    "station",
    "action",
    "state",
    "issued_by",
    "source",
    "request_display",
    "response_display",
    "error_code",
    "error_description",
    "error_details_display",
    "timeout",
    "created_at",
    "sent_at",
    "completed_at",
)


@admin.register(Command)
class CommandAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "charge_point",
        "action",
        "state",
        "answer",
        "issued_by",
        "source",
        "round_trip",
    ]
    list_filter = ["state", "action", "source", "issued_by", "charge_point"]
    list_select_related = ["charge_point", "issued_by"]
    search_fields = ["charge_point__identity", "issued_by__username", "action", "id"]
    show_full_result_count = False  # the log grows without bound: no COUNT(*) per page
    fields = COMMAND_FIELDS
    readonly_fields = COMMAND_FIELDS

    @admin.display(description="charge point")
    def station(self, obj: Command) -> Any:
        return _station_link(obj)

    @admin.display(description="request")
    def request_display(self, obj: Command) -> Any:
        return _pretty(obj.request)

    @admin.display(description="response")
    def response_display(self, obj: Command) -> Any:
        return _pretty(obj.response)

    @admin.display(description="error details")
    def error_details_display(self, obj: Command) -> Any:
        return _pretty(obj.error_details)

    @admin.display(description="answer")
    def answer(self, obj: Command) -> str:
        if obj.error_code:
            return obj.error_code
        if isinstance(obj.response, dict):
            return str(obj.response.get("status", "")) or "answered"
        return "-"

    @admin.display(description="round trip")
    def round_trip(self, obj: Command) -> str:
        if obj.completed_at is None:
            return "-"
        return f"{(obj.completed_at - obj.created_at).total_seconds() * 1000:.0f} ms"


@admin.register(Reservation)
class ReservationAdmin(SendsCommandsAdmin, ReadOnlyAdmin):
    list_display = [
        "id",
        "charge_point",
        "connector_id",
        "id_tag",
        "expiry_date",
        "state",
        "station_status",
        "created_by",
        "created_at",
    ]
    list_filter = ["state", "charge_point"]
    list_select_related = ["charge_point", "created_by"]
    search_fields = ["id_tag", "charge_point__identity"]
    actions = ["cancel_reservations"]

    @admin.action(description="Cancel the selected reservations", permissions=["send_command"])
    def cancel_reservations(
        self, request: HttpRequest, queryset: QuerySet[Reservation]
    ) -> TemplateResponse | None:
        if not can_send_commands(request.user):
            refuse(self, request)
            return None
        reservations = queryset.select_related("charge_point").filter(
            state__in=OPEN_RESERVATION_STATES
        )
        outcomes = calls.command_send_many(
            targets=[(r.charge_point, {"reservationId": r.pk}) for r in reservations],
            action="CancelReservation",
            issued_by=request.user,
            source="admin",
        )
        return results_page(self, request, "CancelReservation", outcomes)


@admin.register(ChargingProfile)
class ChargingProfileAdmin(ReadOnlyAdmin):
    list_display = [
        "charge_point",
        "connector_id",
        "profile_id",
        "purpose",
        "stack_level",
        "kind",
        "charging_rate_unit",
        "active",
        "created_at",
        "cleared_at",
    ]
    list_filter = ["active", "purpose", "kind", "charge_point"]
    list_select_related = ["charge_point"]
    search_fields = ["charge_point__identity"]
    exclude = ["schedule_periods", "command"]
    readonly_fields = ["schedule_periods_display", "command_link"]

    @admin.display(description="schedule periods")
    def schedule_periods_display(self, obj: ChargingProfile) -> Any:
        return _pretty(obj.schedule_periods)

    @admin.display(description="command")
    def command_link(self, obj: ChargingProfile) -> Any:
        return _command_link(obj.command_id)


@admin.register(CompositeSchedule)
class CompositeScheduleAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "charge_point", "connector_id", "status", "schedule_start"]
    list_filter = ["status", "charge_point"]
    list_select_related = ["charge_point"]
    exclude = ["charging_schedule", "command"]
    readonly_fields = ["charging_schedule_display", "command_link"]

    @admin.display(description="charging schedule")
    def charging_schedule_display(self, obj: CompositeSchedule) -> Any:
        return _pretty(obj.charging_schedule)

    @admin.display(description="command")
    def command_link(self, obj: CompositeSchedule) -> Any:
        return _command_link(obj.command_id)


@admin.register(FirmwareUpdate)
class FirmwareUpdateAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "charge_point", "location", "retrieve_date", "status"]
    list_filter = ["status", "charge_point"]
    list_select_related = ["charge_point"]
    exclude = ["command"]
    readonly_fields = ["command_link"]

    @admin.display(description="command")
    def command_link(self, obj: FirmwareUpdate) -> Any:
        return _command_link(obj.command_id)


@admin.register(DiagnosticsRequest)
class DiagnosticsRequestAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "charge_point", "location", "file_name", "status"]
    list_filter = ["status", "charge_point"]
    list_select_related = ["charge_point"]
    exclude = ["command"]
    readonly_fields = ["command_link"]

    @admin.display(description="command")
    def command_link(self, obj: DiagnosticsRequest) -> Any:
        return _command_link(obj.command_id)
