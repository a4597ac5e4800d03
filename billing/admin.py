"""Admin for tariffs. Operators edit them; support staff view (role groups, csms 0002)."""

from __future__ import annotations

from django.contrib import admin

from billing.models import Tariff


@admin.register(Tariff)
class TariffAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "currency",
        "price_per_kwh",
        "price_per_hour",
        "session_fee",
        "is_default",
        "created_at",
    ]
    list_filter = ["currency", "is_default"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]
