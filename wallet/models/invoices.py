"""Invoices of paid orders and the documents that correct them (credit notes, supplementary
invoices): numbered without gaps per year in one series, rendered to PDF by a task."""

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
    """An invoicing document of an order, never changed once issued (only its PDF is added).

    An order's first invoice (``kind=invoice``, ``corrects`` empty) carries the order's total
    when it is paid. Money that changes afterwards is documented, not edited in: a
    **credit note** (``kind=credit_note``, negative totals) for money given back (an
    operator's refund, a re-price lower), a **supplementary invoice** (``kind=invoice``,
    positive totals) for money charged on top (a re-price higher); both ``corrects`` the
    first invoice. All kinds share one gapless yearly sequence (InvoiceSequence): one series,
    so no number is skipped whatever the kind. The sum of an order's documents is what its
    driver net paid for it (captures less refunds)."""

    class Kind(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        CREDIT_NOTE = "credit_note", "Credit note"

    order = models.ForeignKey("billing.Order", on_delete=models.PROTECT, related_name="invoices")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.INVOICE)
    corrects = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="corrections",
        help_text="The order's first invoice, which this credit note or supplementary "
        "invoice corrects; empty: this is the first invoice.",
    )
    reason = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(
        max_length=200,
        unique=True,
        help_text='What issued it, once: "order:<id>" (the first invoice), "refund:<id>" '
        '(a refund\'s credit note), "order:<id>:reprice:<sample>" (a re-price).',
    )
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
            models.UniqueConstraint(fields=["year", "sequence"], name="wallet_invoice_sequence"),
            models.UniqueConstraint(
                fields=["order"],
                condition=models.Q(kind="invoice", corrects__isnull=True),
                name="wallet_invoice_one_first_per_order",
            ),
            # A credit note corrects an invoice and gives money back; an invoice charges.
            models.CheckConstraint(
                condition=models.Q(kind="credit_note", corrects__isnull=False, total_incl_vat__lt=0)
                | models.Q(kind="invoice", total_incl_vat__gte=0),
                name="wallet_invoice_kind_sign",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_first(self) -> bool:
        """The order's first invoice (not a correction)."""
        return self.kind == self.Kind.INVOICE and self.corrects_id is None
