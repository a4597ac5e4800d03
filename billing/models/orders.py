"""What billing keeps per charging session.

- ``SessionPricing``: the tariff frozen onto a session at its start (OCPI JSON, currency,
  time zone, why that tariff), so later edits, re-assignments or a site's new time zone never
  change what the session costs. Written once (``billing.services.session_pricing_snapshot``).
- ``Order``: one per session (unique on the transaction), written when the session is billed;
  its line items (``OrderLine``) are the priced record's cost lines after billing's policies.
  Lines are never changed: samples that arrive after billing re-price the order through
  ``adjustment`` lines, so what a driver was shown stays explainable.
- ``BillingFailure``: a session whose billing failed, retried with backoff by a beat task.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from billing.models.sites import Site
from billing.models.tariffs import TariffVersion
from csms.models import ChargePoint, Transaction

MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 4}


class SessionPricing(models.Model):
    class Taken(models.TextChoices):
        START = "start", "At the start of the session"
        BILLING = "billing", "At billing (no snapshot at the start)"

    transaction = models.OneToOneField(
        Transaction, primary_key=True, on_delete=models.CASCADE, related_name="pricing"
    )
    tariff_version = models.ForeignKey(
        TariffVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # DjangoJSONEncoder: the OCPI writer gives Decimals, stored as exact strings (which the
    # OCPI reader accepts), never floats.
    tariff = models.JSONField(
        encoder=DjangoJSONEncoder,
        null=True,
        blank=True,
        help_text="The tariff as OCPI 2.2.1 JSON, as it was at the start; empty when no "
        "tariff applied (the session is free).",
    )
    currency = models.CharField(max_length=3, blank=True)
    timezone = models.CharField(max_length=64, help_text="IANA zone of the station's site.")
    reason = models.TextField(help_text="Why this tariff (billing.selectors.tariff_applicable).")
    taken = models.CharField(max_length=8, choices=Taken.choices, default=Taken.START)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "session pricing"

    def __str__(self) -> str:
        return f"pricing of #{self.transaction_id}"


class Order(models.Model):
    class State(models.TextChoices):
        # Billing sets only PENDING and FREE; the wallet moves an order on from there.
        PENDING = "pending"
        PAID = "paid"
        UNPAID = "unpaid"
        FREE = "free"
        REFUNDED = "refunded"

    class FreeReason(models.TextChoices):
        NONE = "", "Not free"
        SHORT_SESSION = "short_session", "Below the minimum session"
        NO_TARIFF = "no_tariff", "No tariff applied"
        ZERO_TOTAL = "zero_total", "The tariff priced it at zero"

    transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="order")
    driver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
        help_text="The user owning the session's id tag; empty for a tag nobody owns.",
    )
    id_tag = models.CharField(max_length=20, blank=True)
    charge_point = models.ForeignKey(ChargePoint, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(
        Site,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
        help_text="The station's site when the order was written (revenue per site).",
    )
    connector_id = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField()
    energy_kwh = models.DecimalField(max_digits=16, decimal_places=6)
    duration_seconds = models.PositiveIntegerField()
    tariff_version = models.ForeignKey(
        TariffVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    currency = models.CharField(max_length=3)
    total_excl_vat = models.DecimalField(**MONEY)
    total_incl_vat = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        help_text="Empty when a component of the tariff gave no VAT rate (OCPI: absent is "
        "not 0, so the amount incl. VAT is unknown).",
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    free_reason = models.CharField(
        max_length=16, choices=FreeReason.choices, blank=True, default=FreeReason.NONE
    )
    priced = models.JSONField(
        encoder=DjangoJSONEncoder, help_text="The priced record (OCPI CDR naming) last billed."
    )
    priced_through_sample = models.BigIntegerField(
        default=0, help_text="Newest meter sample id the priced record includes."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-stopped_at", "-id"]
        indexes = [
            models.Index(fields=["stopped_at"], name="order_stopped"),
            models.Index(fields=["site", "stopped_at"], name="order_site_stopped"),
            models.Index(fields=["driver", "stopped_at"], name="order_driver_stopped"),
        ]

    def __str__(self) -> str:
        return f"order {self.pk} (#{self.transaction_id})"


class OrderLine(models.Model):
    class Kind(models.TextChoices):
        NORMAL = "normal"
        ADJUSTMENT = "adjustment"

    class Dimension(models.TextChoices):
        ENERGY = "ENERGY"
        TIME = "TIME"
        PARKING_TIME = "PARKING_TIME"
        FLAT = "FLAT"
        # The priced total minus the lines' own rounded amounts: the rounding of the parts
        # and the tariff's min_price/max_price (see billing.pricing.engine's rounding rule).
        ROUNDING = "ROUNDING"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.NORMAL)
    dimension = models.CharField(max_length=12, choices=Dimension.choices)
    description = models.CharField(max_length=255, blank=True)
    volume = models.DecimalField(
        max_digits=18, decimal_places=6, help_text="kWh, hours, or 1 for a flat fee."
    )
    unit_price = models.DecimalField(
        max_digits=13, decimal_places=6, null=True, blank=True, help_text="Excl. VAT."
    )
    vat_rate = models.DecimalField(
        max_digits=9, decimal_places=6, null=True, blank=True, help_text="Percent."
    )
    amount_excl_vat = models.DecimalField(**MONEY)
    amount_incl_vat = models.DecimalField(**MONEY, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "position"]
        constraints = [
            models.UniqueConstraint(fields=["order", "position"], name="billing_order_line_order")
        ]

    def __str__(self) -> str:
        return f"{self.dimension} {self.amount_excl_vat}"


class BillingFailure(models.Model):
    """A session billing could not bill (an order not written, or a re-price not applied);
    retried with backoff (``billing.services.billing_failures_retry``) until it succeeds,
    then marked resolved. Kept: the history of what went wrong."""

    class Kind(models.TextChoices):
        ORDER = "order", "Writing the order"
        REPRICE = "reprice", "Re-pricing after late samples"

    transaction = models.ForeignKey(
        Transaction, on_delete=models.CASCADE, related_name="billing_failures"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    attempts = models.PositiveIntegerField(default=1)
    error = models.TextField()
    next_attempt_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            # One open failure per session and kind: a failing retry updates it.
            models.UniqueConstraint(
                fields=["transaction", "kind"],
                condition=models.Q(resolved_at__isnull=True),
                name="billing_one_open_failure",
            )
        ]
        indexes = [models.Index(fields=["resolved_at", "next_attempt_at"], name="failure_due")]

    def __str__(self) -> str:
        return f"{self.kind} of #{self.transaction_id}: {self.attempts} attempt(s)"
