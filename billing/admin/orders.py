"""Admin of orders (read-only, line items inline), session tariff snapshots and billing
failures, plus the "cost so far" row billing adds to csms's transaction page
(``csms.admin.transactions.transaction_admin_field_register``, from ``BillingConfig.ready``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

from billing.models import BillingFailure, Order, OrderLine, SessionPricing
from billing.pricing.engine import PricingInputError
from billing.pricing.ocpi import TariffFormatError
from billing.selectors.orders import transaction_cost_so_far
from csms.admin.common import ReadOnlyAdmin, change_url, link, pretty_json
from csms.models import Transaction

logger = logging.getLogger(__name__)


@admin.display(description="cost so far")
def cost_so_far_display(obj: Transaction) -> str:
    """The session's cost up to its last reading, priced with the tariff frozen at its start."""
    try:
        cost = transaction_cost_so_far(transaction=obj)
    except (PricingInputError, TariffFormatError) as exc:
        logger.warning("cost so far of transaction %s: %s", obj.pk, exc)
        return f"cannot be priced: {exc}"
    if cost is None:
        return "free (no tariff applies)"
    incl = "unknown" if cost["incl_vat"] is None else cost["incl_vat"]
    return f"{cost['excl_vat']} {cost['currency']} excl. VAT, {incl} incl. VAT"


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    fields = (
        "position",
        "kind",
        "dimension",
        "description",
        "volume",
        "unit_price",
        "vat_rate",
        "amount_excl_vat",
        "amount_incl_vat",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "transaction_id",
        "charge_point",
        "site",
        "driver",
        "stopped_at",
        "energy_kwh",
        "total_excl_vat",
        "total_incl_vat",
        "currency",
        "state",
    ]
    list_filter = ["state", "free_reason", "currency", "site"]
    search_fields = ["=id", "=transaction__id", "=charge_point__identity", "id_tag"]
    list_select_related = ["charge_point", "site", "driver"]
    date_hierarchy = "stopped_at"
    inlines = [OrderLineInline]
    readonly_fields = [
        "id",
        "transaction_link",
        "driver",
        "id_tag",
        "charge_point",
        "site",
        "connector_id",
        "started_at",
        "stopped_at",
        "duration_seconds",
        "energy_kwh",
        "tariff_version",
        "currency",
        "total_excl_vat",
        "total_incl_vat",
        "state",
        "free_reason",
        "priced_display",
        "priced_through_sample",
        "created_at",
        "updated_at",
    ]
    fields = tuple(readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # what a driver was billed is kept

    @admin.display(description="session")
    def transaction_link(self, obj: Order) -> SafeString | str:
        return link(change_url(obj.transaction), f"#{obj.transaction_id}")

    @admin.display(description="priced record (OCPI CDR naming)")
    def priced_display(self, obj: Order) -> SafeString | str:
        return pretty_json(obj.priced) if obj.priced else "-"


@admin.register(SessionPricing)
class SessionPricingAdmin(ReadOnlyAdmin):
    list_display = ["transaction", "tariff_version", "currency", "timezone", "taken", "created_at"]
    list_filter = ["taken", "currency"]
    search_fields = ["=transaction__id"]
    list_select_related = ["tariff_version__tariff"]
    readonly_fields = [
        "transaction",
        "tariff_version",
        "currency",
        "timezone",
        "reason",
        "taken",
        "tariff_display",
        "created_at",
    ]
    fields = tuple(readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="tariff (OCPI JSON, frozen at the start)")
    def tariff_display(self, obj: SessionPricing) -> SafeString | str:
        return pretty_json(obj.tariff) if obj.tariff else "-"


@admin.register(BillingFailure)
class BillingFailureAdmin(ReadOnlyAdmin):
    list_display = ["transaction", "kind", "attempts", "next_attempt_at", "resolved_at"]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["=transaction__id"]
    readonly_fields = [
        "transaction",
        "kind",
        "attempts",
        "error",
        "next_attempt_at",
        "resolved_at",
        "created_at",
        "updated_at",
    ]
    fields = tuple(readonly_fields)


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdmin):
    """Every line of every order, for reconciling (each order's page shows its own)."""

    list_display = ["order", "position", "kind", "dimension", "volume", "amount_excl_vat"]
    list_filter = ["kind", "dimension"]
    search_fields = ["=order__id", "=order__transaction__id"]
    list_select_related = ["order"]
    readonly_fields = [*OrderLineInline.fields, "order", "created_at"]
    fields = tuple(readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
