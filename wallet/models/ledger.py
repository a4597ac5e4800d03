"""The ledger: double-entry and append-only.

- ``Wallet``: a driver's prepaid wallet, one per driver, in one currency. Its row is the lock
  every money movement of that driver takes (``select_for_update``) before it posts.
- ``LedgerAccount``: what postings move money between: the driver's spendable funds, funds held
  for a session, what the driver owes (receivable), and the platform's accounts (a payment
  provider's clearing account, revenue, VAT payable). ``balance`` is a cache of the sum of its
  postings in the account's natural sign, written only by ``wallet.services.ledger`` under the
  wallet lock (platform accounts: under their own row lock); ``manage.py ledger_verify``
  checks every cache against its postings.
- ``JournalEntry``: one money movement, with a unique idempotency key: a retried webhook,
  capture or refund finds its entry and posts nothing.
- ``Posting``: one leg of an entry. Amounts are signed, debit positive: the postings of an entry
  sum to zero.

On PostgreSQL the database itself refuses UPDATE and DELETE of entries and postings, and a
deferred constraint trigger refuses a commit that leaves an entry unbalanced, empty or mixing
currencies (migration 0002). On SQLite, UPDATE and DELETE are refused by triggers too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

# Amounts in the ledger: exact, at the minor unit of the currency (wallet.money.quantize);
# four places so that a currency with three minor digits (KWD, BHD) fits too.
LEDGER_MONEY: dict[str, Any] = {"max_digits": 16, "decimal_places": 4}


class Wallet(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wallet"
    )
    currency = models.CharField(max_length=3)
    # The driver's id tag for sessions started from the app (RemoteStartTransaction idTag).
    virtual_id_tag = models.OneToOneField(
        "csms.IdTag", on_delete=models.PROTECT, related_name="virtual_wallet"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"wallet of {self.user} ({self.currency})"


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        # A driver's (liabilities of ours: credit-normal).
        WALLET = "wallet", "Driver's available funds"
        HELD = "held", "Driver's funds held for sessions"
        # What a driver owes us when a session cost more than was held and available
        # (an asset: debit-normal).
        RECEIVABLE = "receivable", "Driver owes"
        # The platform's.
        PROVIDER_CLEARING = "provider_clearing", "Payment provider clearing"
        REVENUE = "revenue", "Charging revenue"
        VAT_PAYABLE = "vat_payable", "VAT payable"

    DEBIT_NORMAL = frozenset({Kind.RECEIVABLE, Kind.PROVIDER_CLEARING})
    DRIVER_KINDS = frozenset({Kind.WALLET, Kind.HELD, Kind.RECEIVABLE})

    kind = models.CharField(max_length=20, choices=Kind.choices)
    wallet = models.ForeignKey(
        Wallet, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts"
    )
    # Which provider a clearing account is for ("sandbox", "stripe"); empty otherwise.
    provider = models.CharField(max_length=20, blank=True)
    currency = models.CharField(max_length=3)
    balance = models.DecimalField(**LEDGER_MONEY, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["wallet", "kind"],
                condition=Q(wallet__isnull=False),
                name="wallet_account_per_wallet",
            ),
            models.UniqueConstraint(
                fields=["kind", "provider", "currency"],
                condition=Q(wallet__isnull=True),
                name="wallet_platform_account",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind__in=["wallet", "held", "receivable"], wallet__isnull=False)
                    | Q(
                        kind__in=["provider_clearing", "revenue", "vat_payable"],
                        wallet__isnull=True,
                    )
                ),
                name="wallet_account_owner_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        owner = f"wallet {self.wallet_id}" if self.wallet_id else (self.provider or "platform")
        return f"{self.get_kind_display()} ({owner}, {self.currency})"

    @property
    def sign(self) -> int:
        """+1 when a debit raises this account's natural balance, -1 when a credit does."""
        return 1 if self.kind in self.DEBIT_NORMAL else -1


class JournalEntry(models.Model):
    class Kind(models.TextChoices):
        TOP_UP = "top_up", "Top-up"
        HOLD = "hold", "Hold for a session"
        RELEASE = "release", "Hold released"
        CAPTURE = "capture", "Session charged"
        RECEIVABLE = "receivable", "Unpaid part of a session"
        RECEIVABLE_SETTLED = "receivable_settled", "Unpaid session settled"
        REFUND = "refund", "Refund"
        ADJUSTMENT = "adjustment", "Adjustment"

    idempotency_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Whose money moved (None: platform accounts only).
    wallet = models.ForeignKey(
        Wallet, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    currency = models.CharField(max_length=3)
    # What the driver's statement shows: the amount that moved, positive, and the effect on
    # available funds (signed: + credited to the wallet, - taken from it).
    amount = models.DecimalField(**LEDGER_MONEY)
    available_change = models.DecimalField(**LEDGER_MONEY, default=Decimal("0"))
    memo = models.CharField(max_length=255, blank=True)
    order = models.ForeignKey(
        "billing.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    top_up = models.ForeignKey(
        "wallet.TopUp", null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    session = models.ForeignKey(
        "wallet.AppSession",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entries",
    )
    refund = models.ForeignKey(
        "wallet.Refund", null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The operator who posted it (refunds, adjustments); empty: the platform.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "journal entries"
        indexes = [models.Index(fields=["wallet", "-created_at"], name="wallet_entry_statement")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency} ({self.idempotency_key})"


class Posting(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="postings")
    # Debit positive, credit negative; an entry's postings sum to zero.
    amount = models.DecimalField(**LEDGER_MONEY)

    class Meta:
        ordering = ["entry", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="wallet_posting_not_zero")
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.amount:+}"
