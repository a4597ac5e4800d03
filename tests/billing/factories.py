"""Billing factories: plain functions with sensible defaults."""

from __future__ import annotations

import itertools
from typing import Any

from billing.models import Site, Tariff
from billing.pricing.ocpi import tariff_from_ocpi
from billing.services import site_create, tariff_create

_seq = itertools.count(1)


def ocpi_tariff(*, energy: str = "0.30", currency: str = "EUR", **extra: Any) -> dict[str, Any]:
    """An OCPI Tariff: one unrestricted ENERGY element, plus whatever ``extra`` says."""
    return {
        "currency": currency,
        "elements": [{"price_components": [{"type": "ENERGY", "price": energy, "step_size": 1}]}],
        **extra,
    }


def make_site(*, name: str | None = None, **fields: Any) -> Site:
    return site_create(name=name or f"Site {next(_seq)}", **fields)


def make_tariff(
    *, name: str | None = None, energy: str = "0.30", is_default: bool = False, **extra: Any
) -> Tariff:
    return tariff_create(
        name=name or f"Tariff {next(_seq)}",
        pricing=tariff_from_ocpi(ocpi_tariff(energy=energy, **extra)),
        is_default=is_default,
    )
