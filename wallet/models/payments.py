"""Top-ups through a payment provider, the provider events we processed, and refunds."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from wallet.models.ledger import LEDGER_MONEY, Wallet


class TopUp(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="top_ups")
    amount = models.DecimalField(**LEDGER_MONEY)
    currency = models.CharField(max_length=3)
    provider = models.CharField(max_length=20)
    # The provider's id of the payment (Stripe PaymentIntent id, sandbox payment id).
    provider_reference = models.CharField(max_length=255, blank=True, db_index=True)
    # The app's Idempotency-Key header: a retried POST returns the same top-up.
    idempotency_key = models.CharField(max_length=255)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    failure_reason = models.CharField(max_length=255, blank=True)
    refunded_amount = models.DecimalField(**LEDGER_MONEY, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["wallet", "idempotency_key"], name="wallet_top_up_idempotency"
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_reference"],
                condition=~Q(provider_reference=""),
                name="wallet_top_up_provider_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"top-up {self.pk} {self.amount} {self.currency} ({self.state})"


class ProviderEvent(models.Model):
    """A verified provider event (webhook), stored once per (provider, event id): a replay or
    a retried delivery finds it and does nothing again."""

    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="wallet_provider_event")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.type} {self.event_id}"


class Refund(models.Model):
    class State(models.TextChoices):
        # Posted in the ledger; a card refund also waits for (or failed at) the provider.
        POSTED = "posted"
        PROVIDER_PENDING = "provider_pending"
        PROVIDER_FAILED = "provider_failed"
        SUCCEEDED = "succeeded"

    order = models.ForeignKey(
        "billing.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    top_up = models.ForeignKey(
        "wallet.TopUp", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**LEDGER_MONEY)
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=255)
    state = models.CharField(max_length=16, choices=State.choices, default=State.POSTED)
    provider_reference = models.CharField(max_length=255, blank=True)
    provider_error = models.CharField(max_length=255, blank=True)
    # The operator's Idempotency-Key (API) or a form token (admin): a retried refund posts once.
    idempotency_key = models.CharField(max_length=255, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(order__isnull=False, top_up__isnull=True)
                    | Q(order__isnull=True, top_up__isnull=False)
                ),
                name="wallet_refund_of_order_or_top_up",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="wallet_refund_positive"),
        ]

    def __str__(self) -> str:
        what = f"order {self.order_id}" if self.order_id else f"top-up {self.top_up_id}"
        return f"refund {self.amount} {self.currency} of {what}"
