"""Billing models, one module per sub-domain: ``sites`` (where stations are, with their time
zone), ``tariffs`` (tariffs and their immutable versions, elements and price components),
``assignments`` (which tariff applies where), ``orders`` (the tariff frozen onto a session,
orders and their lines, billing failures); ``countries`` the ISO 3166 codes sites use."""

from __future__ import annotations

from billing.models.assignments import TariffAssignment
from billing.models.orders import BillingFailure, Order, OrderLine, SessionPricing
from billing.models.sites import (
    Site,
    default_timezone,
    validate_country,
    validate_opening_hours,
    validate_timezone,
)
from billing.models.tariffs import (
    RESTRICTION_FIELDS,
    PriceComponent,
    Tariff,
    TariffElement,
    TariffVersion,
    VersionImmutable,
    tidy,
)

__all__ = [
    "RESTRICTION_FIELDS",
    "BillingFailure",
    "Order",
    "OrderLine",
    "PriceComponent",
    "SessionPricing",
    "Site",
    "Tariff",
    "TariffAssignment",
    "TariffElement",
    "TariffVersion",
    "VersionImmutable",
    "default_timezone",
    "tidy",
    "validate_country",
    "validate_opening_hours",
    "validate_timezone",
]
