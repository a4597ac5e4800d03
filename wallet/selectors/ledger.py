"""Reads of the ledger: balances, statements, and the check that every cached balance is the
sum of its postings."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet, Sum

from wallet.models import JournalEntry, LedgerAccount, Posting, Wallet

ZERO = Decimal("0")
PLACES = Decimal("0.0001")  # LEDGER_MONEY's decimal places


@dataclass(frozen=True, slots=True)
class Balances:
    currency: str
    available: Decimal
    held: Decimal
    owed: Decimal


def wallet_balances(*, wallet: Wallet) -> Balances:
    """The wallet's cached balances (one query)."""
    by_kind = dict(LedgerAccount.objects.filter(wallet=wallet).values_list("kind", "balance"))
    return Balances(
        currency=wallet.currency,
        available=by_kind.get(LedgerAccount.Kind.WALLET, ZERO),
        held=by_kind.get(LedgerAccount.Kind.HELD, ZERO),
        owed=by_kind.get(LedgerAccount.Kind.RECEIVABLE, ZERO),
    )


def wallet_for_user(*, user: Any) -> Wallet | None:
    return Wallet.objects.filter(user=user).select_related("virtual_id_tag").first()


def wallet_statement(*, wallet: Wallet) -> QuerySet[JournalEntry]:
    """The driver's statement, newest first: every entry that moved their money."""
    return JournalEntry.objects.filter(wallet=wallet).order_by("-created_at", "-id")


@dataclass(frozen=True, slots=True)
class Mismatch:
    account: LedgerAccount
    cached: Decimal
    from_postings: Decimal


def ledger_mismatches() -> list[Mismatch]:
    """Accounts whose cached balance is not the sum of their postings (in the natural sign).
    One aggregate query over the postings."""
    sums = dict(
        Posting.objects.values("account_id")
        .annotate(total=Sum("amount"))
        .values_list("account_id", "total")
    )
    found = []
    for account in LedgerAccount.objects.all().iterator():
        expected = (Decimal(sums.get(account.pk) or ZERO) * account.sign).quantize(PLACES)
        if expected != account.balance:
            found.append(Mismatch(account, account.balance, expected))
    return found


def ledger_unbalanced_entries() -> list[int]:
    """Ids of entries whose postings do not sum to zero (the database refuses them on
    PostgreSQL; this finds any on SQLite)."""
    # Compared here at the ledger's 4 places, not in SQL: SQLite sums decimals as floats
    # (2.1 - 2.1 + ... is 1e-15 there). PostgreSQL sums numerics exactly.
    sums = Posting.objects.values("entry_id").annotate(total=Sum("amount"))
    return [
        row["entry_id"]
        for row in sums.values("entry_id", "total")
        if Decimal(row["total"]).quantize(PLACES) != 0
    ]
