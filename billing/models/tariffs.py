"""Tariffs with OCPI 2.2.1 Tariff module semantics, stored so the admin can edit them without
JSON and so a price once published never changes.

- ``Tariff`` is the stable identity (name, currency, default flag, OCPI ids): what stations
  are assigned (``TariffAssignment``) and what operators rename.
- ``TariffVersion`` is one published definition of its prices; ``TariffElement`` (ordered,
  with the OCPI restrictions as columns) and ``PriceComponent`` (ordered, per element) hold
  its elements. Versions and their rows are written once, by
  ``billing.services.tariff_version_create``, and never updated: a change is a new version,
  and a session keeps the version it started with. ``save()`` refuses an update to enforce it.

Elements are rows, not JSON, so the admin edits them as inline forms; components are a child
model (not fields flattened on the element) so an OCPI tariff with any mix of components
round-trips exactly. The admin's element form shows one component per dimension, which is
all the OCPI rules use (``billing.admin``).

``TariffVersion.as_pricing()`` gives the engine's shape, ``billing.pricing.tariff.Tariff``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from billing.pricing.tariff import (
    DayOfWeek,
    Dimension,
    DisplayText,
    Price,
    ReservationRestriction,
    Restrictions,
    TariffType,
)
from billing.pricing.tariff import (
    PriceComponent as PricingComponent,
)
from billing.pricing.tariff import (
    Tariff as PricingTariff,
)
from billing.pricing.tariff import (
    TariffElement as PricingElement,
)

# billing.pricing.ocpi's bounds: amounts below 1,000,000 with at most 6 decimals.
AMOUNT: dict[str, Any] = {"max_digits": 13, "decimal_places": 6}
currency_validator = RegexValidator(r"^[A-Z]{3}$", "An ISO 4217 currency code such as EUR.")

RESTRICTION_FIELDS = (
    "start_time",
    "end_time",
    "start_date",
    "end_date",
    "min_kwh",
    "max_kwh",
    "min_current",
    "max_current",
    "min_power",
    "max_power",
    "min_duration",
    "max_duration",
)


def tidy(value: Decimal | None) -> Decimal | None:
    """A stored decimal without the column's padding (0.250000 -> 0.25, 100.000000 -> 100):
    equal in value, and what an OCPI export should show."""
    if value is None:
        return None
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


class VersionImmutable(Exception):
    """A tariff version's rows were about to be updated: publish a new version instead."""


class _WriteOnce(models.Model):
    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise VersionImmutable(
                f"{type(self).__name__} {self.pk} belongs to a published tariff version and "
                "cannot change; create a new version (billing.services.tariff_version_create)."
            )
        super().save(*args, **kwargs)


class Tariff(models.Model):
    name = models.CharField(max_length=100, unique=True)
    # Fixed at creation: every version of a tariff is in its currency.
    currency = models.CharField(max_length=3, default="EUR", validators=[currency_validator])
    is_default = models.BooleanField(
        default=False, help_text="Applies where no assignment does. At most one tariff."
    )
    # OCPI identity, for roaming; empty until published to (or received from) a partner.
    country_code = models.CharField(max_length=2, blank=True)
    party_id = models.CharField(max_length=3, blank=True)
    ocpi_id = models.CharField("OCPI id", max_length=36, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="billing_one_default_tariff",
                violation_error_message="Another tariff is already the default.",
            ),
            models.UniqueConstraint(
                fields=["country_code", "party_id", "ocpi_id"],
                condition=~Q(ocpi_id=""),
                name="billing_unique_ocpi_tariff_id",
                violation_error_message="A tariff with this OCPI country, party and id exists.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def current_version(self) -> TariffVersion | None:
        """The newest version: the tariff's present definition, the one an edit starts from.
        It may not be in force yet (a future ``start_date_time``): ``version_in_force``."""
        versions = getattr(self, "_prefetched_objects_cache", {}).get("versions")
        if versions is not None:
            return max(versions, key=lambda v: v.number, default=None)
        return self.versions.order_by("-number").first()

    def version_in_force(self, at: dt.datetime | None = None) -> TariffVersion | None:
        """The version that prices a session starting at ``at`` (default now): the newest one
        whose start_date_time has come; None when that version's end_date_time has passed
        (the tariff has ended: an older version does not revive).

        When a version was published does not count, only its window: a station's clock may
        lag ours, and a session from its offline queue arrives with an old start, and either
        would otherwise miss a tariff published just before."""
        at = at or timezone.now()
        version = (
            self.versions.filter(Q(start_date_time__isnull=True) | Q(start_date_time__lte=at))
            .prefetch_related("elements__components")
            .order_by("-number")
            .first()
        )
        if version is None or (version.end_date_time and version.end_date_time <= at):
            return None
        return version


class TariffVersion(_WriteOnce):
    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    type = models.CharField(
        max_length=20, blank=True, choices=[(t.value, t.value) for t in TariffType]
    )
    # OCPI DisplayText list: [{"language": "en", "text": "..."}], shown to drivers.
    tariff_alt_text = models.JSONField(default=list, blank=True)
    tariff_alt_url = models.CharField(max_length=255, blank=True)
    min_price_excl_vat = models.DecimalField(**AMOUNT, null=True, blank=True)
    min_price_incl_vat = models.DecimalField(**AMOUNT, null=True, blank=True)
    max_price_excl_vat = models.DecimalField(**AMOUNT, null=True, blank=True)
    max_price_incl_vat = models.DecimalField(**AMOUNT, null=True, blank=True)
    start_date_time = models.DateTimeField(null=True, blank=True)
    end_date_time = models.DateTimeField(null=True, blank=True)
    energy_mix = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["tariff", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["tariff", "number"], name="billing_version_number"),
            models.CheckConstraint(
                condition=Q(min_price_incl_vat__isnull=True) | Q(min_price_excl_vat__isnull=False),
                name="billing_version_min_price_excl_first",
            ),
            models.CheckConstraint(
                condition=Q(max_price_incl_vat__isnull=True) | Q(max_price_excl_vat__isnull=False),
                name="billing_version_max_price_excl_first",
            ),
            models.CheckConstraint(
                condition=Q(start_date_time__isnull=True)
                | Q(end_date_time__isnull=True)
                | Q(end_date_time__gt=models.F("start_date_time")),
                name="billing_version_window",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tariff} v{self.number}"

    def as_pricing(self) -> PricingTariff:
        """This version as the engine reads it (and ``billing.pricing.ocpi`` writes it).
        Reads elements and components through ``.all()``: prefetch
        ``elements__components`` (the selectors do) for a fixed number of queries."""
        tariff = self.tariff

        def price(excl: Any, incl: Any) -> Price | None:
            return (
                None
                if excl is None
                else Price(excl_vat=tidy(excl) or Decimal(0), incl_vat=tidy(incl))
            )

        return PricingTariff(
            currency=tariff.currency,
            elements=tuple(element.as_pricing() for element in self.elements.all()),
            min_price=price(self.min_price_excl_vat, self.min_price_incl_vat),
            max_price=price(self.max_price_excl_vat, self.max_price_incl_vat),
            id=tariff.ocpi_id,
            country_code=tariff.country_code,
            party_id=tariff.party_id,
            type=TariffType(self.type) if self.type else None,
            tariff_alt_text=tuple(
                DisplayText(language=text["language"], text=text["text"])
                for text in self.tariff_alt_text
            ),
            tariff_alt_url=self.tariff_alt_url,
            start_date_time=self.start_date_time,
            end_date_time=self.end_date_time,
            last_updated=self.created_at,
            energy_mix=self.energy_mix,
        )


class TariffElement(_WriteOnce):
    """One OCPI TariffElement: its restrictions as columns (empty: no restriction)."""

    version = models.ForeignKey(TariffVersion, on_delete=models.CASCADE, related_name="elements")
    position = models.PositiveSmallIntegerField(help_text="Order in the tariff: first match wins.")
    start_time = models.TimeField(null=True, blank=True, help_text="Local time of the site.")
    end_time = models.TimeField(
        null=True, blank=True, help_text="Exclusive; before start_time: wraps past midnight."
    )
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True, help_text="Exclusive.")
    min_kwh = models.DecimalField(**AMOUNT, null=True, blank=True)
    max_kwh = models.DecimalField(**AMOUNT, null=True, blank=True)
    min_current = models.DecimalField(**AMOUNT, null=True, blank=True, help_text="A")
    max_current = models.DecimalField(**AMOUNT, null=True, blank=True, help_text="A")
    min_power = models.DecimalField(**AMOUNT, null=True, blank=True, help_text="kW")
    max_power = models.DecimalField(**AMOUNT, null=True, blank=True, help_text="kW")
    min_duration = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds.")
    max_duration = models.PositiveIntegerField(null=True, blank=True, help_text="Seconds.")
    # DayOfWeek names, in week order; empty: every day.
    day_of_week = models.JSONField(default=list, blank=True)
    reservation = models.CharField(
        max_length=20, blank=True, choices=[(r.value, r.value) for r in ReservationRestriction]
    )

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="billing_element_order")
        ]

    def __str__(self) -> str:
        return f"{self.version} element {self.position + 1}"

    def restrictions(self) -> Restrictions | None:
        values = {name: getattr(self, name) for name in RESTRICTION_FIELDS}
        values = {k: tidy(v) if isinstance(v, Decimal) else v for k, v in values.items()}
        if not any(v is not None for v in values.values()) and not (
            self.day_of_week or self.reservation
        ):
            return None
        return Restrictions(
            **values,
            day_of_week=frozenset(DayOfWeek(day) for day in self.day_of_week),
            reservation=ReservationRestriction(self.reservation) if self.reservation else None,
        )

    def as_pricing(self) -> PricingElement:
        return PricingElement(
            price_components=tuple(c.as_pricing() for c in self.components.all()),
            restrictions=self.restrictions(),
        )


class PriceComponent(_WriteOnce):
    element = models.ForeignKey(TariffElement, on_delete=models.CASCADE, related_name="components")
    position = models.PositiveSmallIntegerField()
    type = models.CharField(max_length=12, choices=[(d.value, d.value) for d in Dimension])
    price = models.DecimalField(
        **AMOUNT,
        help_text="Excl. VAT: per kWh (ENERGY), per hour (TIME, PARKING_TIME), once (FLAT).",
    )
    vat = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Percent; empty means not given (not 0).",
    )
    step_size = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Wh for ENERGY, seconds for TIME and PARKING_TIME.",
    )

    class Meta:
        ordering = ["element", "position"]
        constraints = [
            models.UniqueConstraint(fields=["element", "position"], name="billing_component_order"),
            models.CheckConstraint(condition=Q(step_size__gte=1), name="billing_step_size_min"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.price}"

    def as_pricing(self) -> PricingComponent:
        return PricingComponent(
            type=Dimension(self.type),
            price=tidy(self.price) or Decimal(0),
            vat=tidy(self.vat),
            step_size=self.step_size,
        )
