"""Admin of charging sessions: transactions, their meter values, and StopTransactions for
transactions the central system never knew. All read-only: it is what billing charged from.

The action that stops a running transaction remotely is the gateway's: ocpp_gateway.admin
registers a subclass of ``TransactionAdmin`` that adds it.

**Extension point.** Apps built on csms add read-only rows to the transaction change page
without csms importing them: ``transaction_admin_field_register(function)`` from their
``AppConfig.ready``, with ``function(transaction) -> str`` (its ``short_description``, e.g.
from ``@admin.display(description=...)``, is the label). Billing shows the cost so far.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from csms.admin.common import ReadOnlyAdmin, change_url, changelist_url, link, pretty_json
from csms.models import MeterValue, Transaction, UnmatchedStopTransaction


class ActiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "active"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Charging (active)"), ("no", "Finished")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(stopped_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(stopped_at__isnull=False)
        return queryset


_EXTRA_FIELDS: list[Callable[[Transaction], Any]] = []


def transaction_admin_field_register(function: Callable[[Transaction], Any]) -> None:
    """Show ``function(transaction)`` on the transaction change page (see the docstring)."""
    if function not in _EXTRA_FIELDS:
        _EXTRA_FIELDS.append(function)


def kwh(wh: int | None) -> str:
    return "-" if wh is None else f"{wh / 1000:.3f} kWh"


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "charge_point",
        "connector_id",
        "id_tag",
        "started_at",
        "stopped_at",
        "energy",
        "stop_reason",
        "active",
    ]
    list_filter = [ActiveFilter, "start_status", "stop_reason", "meter_stop_implausible"]
    search_fields = ["=id", "=charge_point__identity", "id_tag"]
    list_select_related = ["charge_point"]
    date_hierarchy = "started_at"
    readonly_fields = [
        "id",
        "charge_point_link",
        "connector_id",
        "id_tag",
        "id_tag_ref",
        "start_status",
        "reservation_id",
        "meter_start",
        "started_at",
        "meter_stop",
        "stopped_at",
        "stop_reason",
        "stop_id_tag",
        "energy",
        "meter_stop_implausible",
        "energy_note",
        "last_meter_wh",
        "last_power_w",
        "last_soc",
        "last_meter_at",
        "meter_values_link",
        "transaction_data_display",
        "late_stop_display",
        "created_at",
        "updated_at",
    ]
    fields = tuple(readonly_fields)
    # None of its own (nor bulk delete: see has_delete_permission). Declared all the same, so
    # that ocpp_gateway.admin's subclass can extend it with the remote stop.
    actions = []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # charging history is kept (billing); see Transaction.charge_point PROTECT

    # Django admin takes callables as read-only fields: those other apps registered.
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*super().get_readonly_fields(request, obj), *_EXTRA_FIELDS]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [*super().get_fields(request, obj), *_EXTRA_FIELDS]

    @admin.display(boolean=True, description="active")
    def active(self, obj: Transaction) -> bool:
        return obj.is_active

    @admin.display(description="energy")
    def energy(self, obj: Transaction) -> str:
        if obj.energy_wh is not None:
            return kwh(obj.energy_wh)
        if obj.last_meter_wh is not None:
            return f"{kwh(obj.last_meter_wh - obj.meter_start)} (so far)"
        return "-"

    @admin.display(description="charge point")
    def charge_point_link(self, obj: Transaction) -> SafeString | str:
        return link(change_url(obj.charge_point), obj.charge_point)

    @admin.display(description="meter values")
    def meter_values_link(self, obj: Transaction) -> SafeString | str:
        return link(changelist_url(MeterValue, transaction__id__exact=obj.pk), "Meter values")

    @admin.display(description="transaction data")
    def transaction_data_display(self, obj: Transaction) -> SafeString | str:
        return pretty_json(obj.transaction_data) if obj.transaction_data else "-"

    @admin.display(description="station's late stop (not applied)")
    def late_stop_display(self, obj: Transaction) -> SafeString | str:
        return pretty_json(obj.late_stop) if obj.late_stop else "-"


@admin.register(MeterValue)
class MeterValueAdmin(ReadOnlyAdmin):
    list_display = [
        "timestamp",
        "charge_point",
        "connector_id",
        "transaction",
        "measurand",
        "phase",
        "value",
        "unit",
        "context",
        "location",
    ]
    list_filter = ["context", "location"]
    search_fields = ["=charge_point__identity", "=transaction__id", "measurand"]
    list_select_related = ["charge_point", "transaction"]
    raw_id_fields = ["charge_point", "transaction"]
    show_full_result_count = False


@admin.register(UnmatchedStopTransaction)
class UnmatchedStopTransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "charge_point",
        "transaction_id",
        "id_tag",
        "meter_stop",
        "timestamp",
        "reason",
    ]
    search_fields = ["=charge_point__identity", "=transaction_id", "id_tag"]
    list_select_related = ["charge_point"]
    date_hierarchy = "received_at"
