"""Driver accounts and their append-only ledger. Services (top-ups, orders, settlement) arrive
with the wallet issue; the shape is fixed now: balance changes only through a LedgerEntry
written while holding the account row lock."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models


class Account(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wallet"
    )
    currency = models.CharField(max_length=3, default="EUR")
    balance = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} {self.balance} {self.currency}"


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        TOP_UP = "top_up"
        CHARGE = "charge"
        REFUND = "refund"
        ADJUSTMENT = "adjustment"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    balance_after = models.DecimalField(max_digits=14, decimal_places=2)
    reference = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind", "reference"],
                condition=~models.Q(reference=""),
                name="uniq_ledger_reference",
            )
        ]
