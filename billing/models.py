"""Tariffs. The pricing engine and billing jobs arrive with the billing issue; the model is here
now so stations can reference a tariff from day one."""

from __future__ import annotations

from decimal import Decimal

from django.db import models


class Tariff(models.Model):
    name = models.CharField(max_length=100, unique=True)
    currency = models.CharField(max_length=3, default="EUR")
    price_per_kwh = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    price_per_hour = models.DecimalField(
        max_digits=10, decimal_places=4, default=Decimal("0"), help_text="Time-based fee."
    )
    session_fee = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
