"""Invoices of paid orders: numbered without gaps per year, rendered to PDF by a task."""

from __future__ import annotations

from django.db import models

from wallet.models.ledger import LEDGER_MONEY


class InvoiceSequence(models.Model):
    """The last invoice number given out in a year. Numbers are taken under this row's lock
    in the transaction that issues the invoice: a rolled-back issue gives its number back, so
    the sequence has no gaps."""

    year = models.PositiveIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class Invoice(models.Model):
    order = models.OneToOneField("billing.Order", on_delete=models.PROTECT, related_name="invoice")
    year = models.PositiveIntegerField()
    sequence = models.PositiveIntegerField()
    number = models.CharField(max_length=32, unique=True)
    issued_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    total_excl_vat = models.DecimalField(**LEDGER_MONEY)
    total_vat = models.DecimalField(**LEDGER_MONEY)
    total_incl_vat = models.DecimalField(**LEDGER_MONEY)
    # Frozen at issue: what the PDF shows even if settings or the driver's details change.
    seller = models.JSONField()
    buyer = models.JSONField()
    vat_breakdown = models.JSONField(help_text="[{rate, base, vat}] per VAT rate.")
    pdf = models.FileField(upload_to="invoices/%Y/", blank=True)
    rendered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-year", "-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["year", "sequence"], name="wallet_invoice_sequence")
        ]

    def __str__(self) -> str:
        return self.number
