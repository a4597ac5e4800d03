"""Admin of invoicing documents (invoices, credit notes, supplementary invoices; read-only,
with the PDF when rendered) and their yearly sequences."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import SafeString

from csms.admin.common import pretty_json
from wallet.admin.common import MoneyAdmin
from wallet.models import Invoice, InvoiceSequence


@admin.register(Invoice)
class InvoiceAdmin(MoneyAdmin):
    list_display = [
        "number",
        "kind",
        "corrects",
        "issued_at",
        "order",
        "total_incl_vat",
        "currency",
        "pdf_link",
    ]
    list_filter = ["kind", "year", "currency"]
    search_fields = ["number", "corrects__number", "=order__id", "order__driver__email"]
    list_select_related = ["order", "corrects"]
    date_hierarchy = "issued_at"
    readonly_fields = [
        "number",
        "kind",
        "corrects",
        "reason",
        "year",
        "sequence",
        "order",
        "idempotency_key",
        "issued_at",
        "currency",
        "total_excl_vat",
        "total_vat",
        "total_incl_vat",
        "vat_breakdown_display",
        "seller_display",
        "buyer_display",
        "pdf_link",
        "rendered_at",
    ]
    fields = tuple(readonly_fields)

    @admin.display(description="PDF")
    def pdf_link(self, obj: Invoice) -> SafeString | str:
        if not obj.pdf:
            return "not rendered yet"
        return format_html('<a href="{}" download>download</a>', obj.pdf.url)

    @admin.display(description="VAT breakdown")
    def vat_breakdown_display(self, obj: Invoice) -> SafeString:
        return pretty_json(obj.vat_breakdown)

    @admin.display(description="seller")
    def seller_display(self, obj: Invoice) -> SafeString:
        return pretty_json(obj.seller)

    @admin.display(description="buyer")
    def buyer_display(self, obj: Invoice) -> SafeString:
        return pretty_json(obj.buyer)


@admin.register(InvoiceSequence)
class InvoiceSequenceAdmin(MoneyAdmin):
    list_display = ["year", "last_number"]
    readonly_fields = ["year", "last_number"]
    fields = tuple(readonly_fields)
