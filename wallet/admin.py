"""Admin for driver accounts. Read-mostly: a balance changes only through a LedgerEntry
written by a wallet service under the account's row lock, so neither the balance nor the
ledger is editable here (an edited balance would disagree with its ledger)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from wallet.models import Account, LedgerEntry


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["user", "balance", "currency", "created_at"]
    list_filter = ["currency"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["balance", "ledger_link", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The owner and currency are fixed once money may have moved.
        if obj is not None:
            return [*self.readonly_fields, "user", "currency"]
        return self.readonly_fields

    @admin.display(description="ledger")
    def ledger_link(self, obj: Account) -> SafeString | str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:wallet_ledgerentry_changelist")
        return format_html(
            '<a href="{}?{}">Ledger entries</a>', url, urlencode({"account__id__exact": obj.pk})
        )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "account", "kind", "amount", "balance_after", "reference"]
    list_filter = ["kind"]
    search_fields = ["account__user__username", "=reference"]
    list_select_related = ["account__user"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # append-only
