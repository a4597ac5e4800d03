"""Admin of what stations report besides transactions: status history, the message log, data
transfers, and firmware and diagnostics status events. All read-only; these tables grow without
bound, so the busy ones skip the full COUNT(*) on every page."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import SafeString

from csms.admin.common import ReadOnlyAdmin, pretty_json
from csms.models import (
    DataTransfer,
    DiagnosticsStatusEvent,
    FirmwareStatusEvent,
    MessageLog,
    StatusNotification,
)


@admin.register(StatusNotification)
class StatusNotificationAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "charge_point",
        "connector_id",
        "status",
        "error_code",
        "info",
        "vendor_error_code",
        "timestamp",
    ]
    list_filter = ["status", "error_code"]
    search_fields = ["=charge_point__identity"]
    list_select_related = ["charge_point"]
    date_hierarchy = "received_at"
    show_full_result_count = False


@admin.register(MessageLog)
class MessageLogAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "identity",
        "direction",
        "message_type",
        "action",
        "message_id",
        "payload_excerpt",
    ]
    list_filter = ["direction", "message_type"]
    # Exact identity search uses the (identity, -created_at) index.
    search_fields = ["=identity", "=message_id", "action"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [
        "created_at",
        "charge_point",
        "identity",
        "direction",
        "message_type",
        "action",
        "message_id",
        "payload_display",
    ]
    fields = tuple(readonly_fields)

    @admin.display(description="payload")
    def payload_excerpt(self, obj: MessageLog) -> str:
        return obj.payload if len(obj.payload) <= 120 else obj.payload[:117] + "..."

    @admin.display(description="payload")
    def payload_display(self, obj: MessageLog) -> SafeString:
        try:
            return pretty_json(json.loads(obj.payload))
        except ValueError:  # logged verbatim because it was not JSON
            return format_html("<pre>{}</pre>", obj.payload)


@admin.register(DataTransfer)
class DataTransferAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "charge_point",
        "direction",
        "vendor_id",
        "message_id",
        "response_status",
    ]
    list_filter = ["direction", "response_status"]
    search_fields = ["=charge_point__identity", "vendor_id", "message_id"]
    list_select_related = ["charge_point"]
    date_hierarchy = "created_at"


@admin.register(FirmwareStatusEvent)
class FirmwareStatusEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "charge_point", "status"]
    list_filter = ["status"]
    search_fields = ["=charge_point__identity"]
    list_select_related = ["charge_point"]


@admin.register(DiagnosticsStatusEvent)
class DiagnosticsStatusEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "charge_point", "status"]
    list_filter = ["status"]
    search_fields = ["=charge_point__identity"]
    list_select_related = ["charge_point"]
