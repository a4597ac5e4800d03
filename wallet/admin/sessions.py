"""Admin of app sessions (read-only)."""

from __future__ import annotations

from django.contrib import admin

from wallet.admin.common import MoneyAdmin
from wallet.models import AppSession


@admin.register(AppSession)
class AppSessionAdmin(MoneyAdmin):
    list_display = [
        "id",
        "created_at",
        "wallet",
        "charge_point",
        "connector_id",
        "state",
        "held",
        "stop_cause",
        "transaction",
    ]
    list_filter = ["state", "stop_cause"]
    search_fields = ["=id", "wallet__user__email", "=charge_point__identity", "connector_code"]
    list_select_related = ["wallet__user", "charge_point"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "wallet",
        "charge_point",
        "connector_id",
        "connector_code",
        "state",
        "transaction",
        "start_command",
        "stop_command",
        "held",
        "stop_cause",
        "failure_reason",
        "idempotency_key",
        "start_deadline",
        "created_at",
        "charging_at",
        "stop_requested_at",
        "finished_at",
        "updated_at",
    ]
    fields = tuple(readonly_fields)
