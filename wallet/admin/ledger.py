"""Admin of the ledger: wallets (balances from their accounts, the newest statement lines),
accounts, journal entries with their postings, postings. All read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from csms.admin.common import change_url, changelist_url, link
from wallet.admin.common import MoneyAdmin, ReadOnlyInline
from wallet.models import JournalEntry, LedgerAccount, Posting, Refund, TopUp, Wallet
from wallet.money import quantize
from wallet.selectors.ledger import wallet_balances, wallet_statement

STATEMENT_LINES = 30


@admin.register(Wallet)
class WalletAdmin(MoneyAdmin):
    list_display = ["id", "user", "email", "currency", "virtual_id_tag", "created_at"]
    list_filter = ["currency"]
    search_fields = ["user__email", "user__username", "=virtual_id_tag__id_tag"]
    list_select_related = ["user", "virtual_id_tag"]
    readonly_fields = [
        "user_link",
        "currency",
        "virtual_id_tag",
        "balances_display",
        "links_display",
        "statement_display",
        "created_at",
    ]
    fields = tuple(readonly_fields)

    @admin.display(description="e-mail", ordering="user__email")
    def email(self, obj: Wallet) -> str:
        return str(obj.user.email)

    @admin.display(description="driver")
    def user_link(self, obj: Wallet) -> SafeString | str:
        return link(change_url(obj.user), obj.user)

    @admin.display(description="balances (from the ledger accounts)")
    def balances_display(self, obj: Wallet) -> SafeString:
        b = wallet_balances(wallet=obj)
        return format_html(
            "available <b>{}</b> · held {} · owed {} {}",
            quantize(b.available, b.currency),
            quantize(b.held, b.currency),
            quantize(b.owed, b.currency),
            b.currency,
        )

    @admin.display(description="see also")
    def links_display(self, obj: Wallet) -> SafeString:
        return format_html(
            "{} · {} · {}",
            link(changelist_url(JournalEntry, wallet__id__exact=obj.pk), "whole statement"),
            link(changelist_url(TopUp, wallet__id__exact=obj.pk), "top-ups"),
            link(changelist_url(Refund, wallet__id__exact=obj.pk), "refunds"),
        )

    @admin.display(description=f"statement (newest {STATEMENT_LINES})")
    def statement_display(self, obj: Wallet) -> SafeString | str:
        entries = list(wallet_statement(wallet=obj)[:STATEMENT_LINES])
        if not entries:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    e.created_at.strftime("%Y-%m-%d %H:%M"),
                    link(change_url(e), e.get_kind_display()),
                    quantize(e.amount, e.currency),
                    f"{quantize(e.available_change, e.currency):+}",
                    e.memo,
                )
                for e in entries
            ),
        )
        return format_html(
            "<table><thead><tr><th>when</th><th>what</th><th>amount</th>"
            "<th>available</th><th>memo</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


@admin.register(LedgerAccount)
class LedgerAccountAdmin(MoneyAdmin):
    list_display = ["id", "kind", "wallet", "provider", "currency", "balance", "created_at"]
    list_filter = ["kind", "currency", "provider"]
    search_fields = ["wallet__user__email", "=wallet__id"]
    list_select_related = ["wallet__user"]
    readonly_fields = ["kind", "wallet", "provider", "currency", "balance", "postings_link"]
    fields = tuple(readonly_fields)

    @admin.display(description="postings")
    def postings_link(self, obj: LedgerAccount) -> SafeString | str:
        return link(changelist_url(Posting, account__id__exact=obj.pk), "postings")


class PostingInline(ReadOnlyInline):
    model = Posting
    fields = ("account", "amount")
    readonly_fields = ("account", "amount")
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("account")


@admin.register(JournalEntry)
class JournalEntryAdmin(MoneyAdmin):
    list_display = [
        "id",
        "created_at",
        "kind",
        "wallet",
        "amount",
        "available_change",
        "currency",
        "memo",
    ]
    list_filter = ["kind", "currency"]
    search_fields = ["idempotency_key", "wallet__user__email", "memo"]
    list_select_related = ["wallet__user"]
    date_hierarchy = "created_at"
    inlines = [PostingInline]
    readonly_fields = [
        "idempotency_key",
        "kind",
        "wallet",
        "currency",
        "amount",
        "available_change",
        "memo",
        "order",
        "top_up",
        "session",
        "refund",
        "created_by",
        "created_at",
    ]
    fields = tuple(readonly_fields)


@admin.register(Posting)
class PostingAdmin(MoneyAdmin):
    list_display = ["id", "entry", "account", "amount"]
    list_filter = ["account__kind"]
    search_fields = ["=entry__id", "entry__idempotency_key"]
    list_select_related = ["entry", "account"]
    readonly_fields = ["entry", "account", "amount"]
    fields = tuple(readonly_fields)

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        return lookup == "account__id__exact" or super().lookup_allowed(lookup, value, request)
