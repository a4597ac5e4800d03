"""Writes of billing (sites, tariffs and their versions, assignments): keyword-only functions
named ``<entity>_<action>``, each one concern, none committing on its own (callers own the
transaction). Side effects outside the database run after commit
(``transaction.on_commit``, ``task.delay_on_commit``).

Tariff versions are written here and nowhere else, once: ``tariff_version_create`` adds a
version with its elements and components; nothing updates one afterwards (the models refuse
it), so a session priced by a version keeps its prices.

billing may import csms (models, services, selectors, csms.api.common); csms never imports
billing: it learns of csms events through csms.signals.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Max

from billing.models import (
    PriceComponent,
    Site,
    Tariff,
    TariffAssignment,
    TariffElement,
    TariffVersion,
)
from billing.pricing.tariff import DayOfWeek, Restrictions
from billing.pricing.tariff import Tariff as PricingTariff
from csms.models import ChargePoint

# --- Sites ----------------------------------------------------------------------------------

SITE_FIELDS = frozenset(
    {
        "name",
        "address",
        "city",
        "postal_code",
        "country",
        "latitude",
        "longitude",
        "timezone",
        "opening_hours",
    }
)


def _check_fields(fields: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({name: "This field cannot be set." for name in sorted(unknown)})


def site_create(*, name: str, **fields: Any) -> Site:
    """A new site; ``timezone`` defaults to settings.TIME_ZONE. Raises ValidationError."""
    _check_fields(fields, SITE_FIELDS)
    site = Site(name=name, **fields)
    site.full_clean()
    site.save()
    return site


def site_update(*, site: Site, **fields: Any) -> Site:
    _check_fields(fields, SITE_FIELDS)
    for name, value in fields.items():
        setattr(site, name, value)
    site.full_clean()
    site.save()
    return site


def site_delete(*, site: Site) -> None:
    """Its stations stay, with no site (SET_NULL); its tariff assignments go with it."""
    site.delete()


# --- Tariffs --------------------------------------------------------------------------------


class TariffInUse(Exception):
    """The tariff is assigned somewhere: remove its assignments first."""


TARIFF_FIELDS = frozenset({"name", "is_default", "country_code", "party_id", "ocpi_id"})


def _unset_other_defaults(tariff: Tariff) -> None:
    # Before validating and saving the new default: the partial unique index allows one at a
    # time. The caller's transaction rolls this back if the save then fails.
    Tariff.objects.filter(is_default=True).exclude(pk=tariff.pk).update(is_default=False)


def tariff_create(
    *,
    name: str,
    pricing: PricingTariff | None = None,
    currency: str | None = None,
    is_default: bool = False,
    created_by: Any = None,
    **fields: Any,
) -> Tariff:
    """A tariff with ``pricing`` as its version 1. Currency and the OCPI identity
    (country_code, party_id, id) come from ``pricing``. Without ``pricing`` (the admin's
    two steps: the tariff, then its first version) give ``currency``; a tariff with no
    version applies nowhere. ``is_default`` makes it the default in place of any other."""
    _check_fields(fields, TARIFF_FIELDS)
    if pricing is not None:
        currency = pricing.currency
        fields.setdefault("country_code", pricing.country_code)
        fields.setdefault("party_id", pricing.party_id)
        fields.setdefault("ocpi_id", pricing.id)
    tariff = Tariff(name=name, currency=currency or "EUR", is_default=is_default, **fields)
    if is_default:
        _unset_other_defaults(tariff)
    tariff.full_clean()
    tariff.save()
    if pricing is not None:
        tariff_version_create(tariff=tariff, pricing=pricing, created_by=created_by)
    return tariff


def tariff_update(
    *,
    tariff: Tariff,
    pricing: PricingTariff | None = None,
    created_by: Any = None,
    **fields: Any,
) -> Tariff:
    """Change the tariff's identity fields in place (name, is_default, OCPI ids: none of
    them prices anything) and, with ``pricing``, publish it as a new version. Prices are
    never changed in place."""
    _check_fields(fields, TARIFF_FIELDS)
    for name, value in fields.items():
        setattr(tariff, name, value)
    if fields.get("is_default"):
        _unset_other_defaults(tariff)
    tariff.full_clean()
    tariff.save()
    if pricing is not None:
        tariff_version_create(tariff=tariff, pricing=pricing, created_by=created_by)
    return tariff


def tariff_delete(*, tariff: Tariff) -> None:
    """Delete a tariff with its versions. Refused (TariffInUse) while it is assigned: that
    would change silently what those stations charge."""
    count = tariff.assignments.count()
    if count:
        raise TariffInUse(
            f"Tariff {tariff.name!r} has {count} assignment(s); remove them first "
            "(/api/v1/tariff-assignments/?tariff=" + str(tariff.pk) + ")."
        )
    tariff.delete()


def tariff_version_create(
    *, tariff: Tariff, pricing: PricingTariff, created_by: Any = None
) -> TariffVersion:
    """Publish ``pricing`` as the tariff's next version (number = last + 1), with its
    elements and components. The tariff row is locked so two concurrent edits get distinct
    numbers. ``pricing``'s currency must be the tariff's (ValidationError otherwise); its OCPI
    identity fields are the tariff's, not the version's, and are not read here."""
    if pricing.currency != tariff.currency:
        raise ValidationError(
            {
                "currency": f"This tariff is in {tariff.currency}; a version cannot change its "
                "currency. Create a new tariff for another currency."
            }
        )
    Tariff.objects.select_for_update().filter(pk=tariff.pk).first()
    last = tariff.versions.aggregate(last=Max("number"))["last"] or 0
    version = TariffVersion(
        tariff=tariff,
        number=last + 1,
        type=pricing.type.value if pricing.type else "",
        tariff_alt_text=[{"language": t.language, "text": t.text} for t in pricing.tariff_alt_text],
        tariff_alt_url=pricing.tariff_alt_url,
        min_price_excl_vat=pricing.min_price.excl_vat if pricing.min_price else None,
        min_price_incl_vat=pricing.min_price.incl_vat if pricing.min_price else None,
        max_price_excl_vat=pricing.max_price.excl_vat if pricing.max_price else None,
        max_price_incl_vat=pricing.max_price.incl_vat if pricing.max_price else None,
        start_date_time=pricing.start_date_time,
        end_date_time=pricing.end_date_time,
        energy_mix=pricing.energy_mix,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    version.full_clean()
    version.save()
    components: list[PriceComponent] = []
    for position, element in enumerate(pricing.elements):
        restrictions = element.restrictions or Restrictions()
        row = TariffElement(
            version=version,
            position=position,
            start_time=restrictions.start_time,
            end_time=restrictions.end_time,
            start_date=restrictions.start_date,
            end_date=restrictions.end_date,
            min_kwh=restrictions.min_kwh,
            max_kwh=restrictions.max_kwh,
            min_current=restrictions.min_current,
            max_current=restrictions.max_current,
            min_power=restrictions.min_power,
            max_power=restrictions.max_power,
            min_duration=restrictions.min_duration,
            max_duration=restrictions.max_duration,
            day_of_week=[day.value for day in DayOfWeek if day in restrictions.day_of_week],
            reservation=restrictions.reservation.value if restrictions.reservation else "",
        )
        row.save()
        components += [
            PriceComponent(
                element=row,
                position=i,
                type=component.type.value,
                price=component.price,
                vat=component.vat,
                step_size=component.step_size,
            )
            for i, component in enumerate(element.price_components)
        ]
    PriceComponent.objects.bulk_create(components)
    tariff.save(update_fields=["updated_at"])
    return version


# --- Assignments ----------------------------------------------------------------------------

ASSIGNMENT_FIELDS = frozenset(
    {"tariff", "site", "charge_point", "connector_id", "valid_from", "valid_until"}
)


def tariff_assignment_create(
    *,
    tariff: Tariff,
    site: Site | None = None,
    charge_point: ChargePoint | None = None,
    connector_id: int | None = None,
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
) -> TariffAssignment:
    """Assign ``tariff`` to a site, a station, or one connector of a station (exactly one),
    optionally for [valid_from, valid_until). Raises ValidationError saying what is wrong."""
    assignment = TariffAssignment(
        tariff=tariff,
        site=site,
        charge_point=charge_point,
        connector_id=connector_id,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    assignment.full_clean()
    assignment.save()
    return assignment


def tariff_assignment_update(*, assignment: TariffAssignment, **fields: Any) -> TariffAssignment:
    _check_fields(fields, ASSIGNMENT_FIELDS)
    for name, value in fields.items():
        setattr(assignment, name, value)
    assignment.full_clean()
    assignment.save()
    return assignment


def tariff_assignment_delete(*, assignment: TariffAssignment) -> None:
    assignment.delete()
