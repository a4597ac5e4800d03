"""``manage.py demo_tariff``: give a new platform a default tariff to price sessions with
(``make demo`` runs it), unless one is already the default. It never changes an existing
tariff: run twice, or against a platform an operator has priced, it does nothing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from billing.pricing.ocpi import tariff_from_ocpi
from billing.selectors import tariff_default
from billing.services import tariff_create

DEMO_TARIFF = {
    "currency": "EUR",
    "tariff_alt_text": [
        {"language": "en", "text": "0.35 EUR/kWh, 1.00 EUR start fee, 6.00 EUR/h when parked."}
    ],
    "elements": [
        {"price_components": [{"type": "FLAT", "price": "1.00", "vat": 21, "step_size": 1}]},
        {"price_components": [{"type": "ENERGY", "price": "0.35", "vat": 21, "step_size": 1}]},
        {
            "price_components": [
                {"type": "PARKING_TIME", "price": "6.00", "vat": 21, "step_size": 60}
            ]
        },
    ],
}


class Command(BaseCommand):
    help = "Create a default demo tariff unless some tariff is already the default."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            existing = tariff_default()
            if existing is not None:
                self.stdout.write(f"Default tariff already set: {existing.name}")
                return
            tariff = tariff_create(
                name="Demo", pricing=tariff_from_ocpi(DEMO_TARIFF), is_default=True
            )
        self.stdout.write(f"Created the default tariff {tariff.name!r} (#{tariff.pk}).")
