"""The tariff in force at each connector of a page of stations (TariffResolver: billing's
precedence in a fixed number of queries) and a tariff version's price in words, for the app's
station lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import F, Q
from django.utils import timezone

from billing.models import Tariff, TariffAssignment, TariffVersion
from csms.models import (
    ChargePoint,
)
from wallet.money import quantize


def _valid_at(at: dt.datetime) -> Q:
    return (Q(valid_from__isnull=True) | Q(valid_from__lte=at)) & (
        Q(valid_until__isnull=True) | Q(valid_until__gt=at)
    )


@dataclass
class TariffResolver:
    """``billing.selectors.tariff_applicable`` for every connector of a page of stations, in
    five queries instead of two or more per connector. Same precedence: an assignment to the
    connector, then the station, then its site (at each level the window that began last,
    then the newest), then the default tariff; a tariff with no version in force is passed
    over. ``version_for(charge_point, connector_id)``."""

    at: dt.datetime
    assignments: list[TariffAssignment] = field(default_factory=list)
    versions: dict[int, TariffVersion | None] = field(default_factory=dict)
    default_tariff_id: int | None = None

    @classmethod
    def for_stations(
        cls, charge_points: Sequence[ChargePoint], at: dt.datetime | None = None
    ) -> TariffResolver:
        resolver = cls(at=at or timezone.now())
        cp_ids = [cp.pk for cp in charge_points]
        site_ids = {cp.site_id for cp in charge_points if cp.site_id is not None}
        resolver.assignments = list(
            TariffAssignment.objects.filter(Q(charge_point_id__in=cp_ids) | Q(site_id__in=site_ids))
            .filter(_valid_at(resolver.at))
            .order_by(F("valid_from").desc(nulls_last=True), "-id")
        )
        resolver.default_tariff_id = (
            Tariff.objects.filter(is_default=True).values_list("pk", flat=True).first()
        )
        tariff_ids = {a.tariff_id for a in resolver.assignments}
        if resolver.default_tariff_id is not None:
            tariff_ids.add(resolver.default_tariff_id)
        newest: dict[int, TariffVersion] = {}
        candidates = (
            TariffVersion.objects.filter(tariff_id__in=tariff_ids)
            .filter(Q(start_date_time__isnull=True) | Q(start_date_time__lte=resolver.at))
            .select_related("tariff")
            .prefetch_related("elements__components")
            .order_by("tariff_id", "-number")
        )
        for version in candidates:
            newest.setdefault(version.tariff_id, version)
        for tariff_id in tariff_ids:
            found = newest.get(tariff_id)
            ended = bool(found and found.end_date_time and found.end_date_time <= resolver.at)
            # An ended tariff applies no more: an older version does not revive.
            resolver.versions[tariff_id] = None if ended else found
        return resolver

    def version_for(self, charge_point: ChargePoint, connector_id: int) -> TariffVersion | None:
        levels: list[list[TariffAssignment]] = [[], [], []]
        for a in self.assignments:
            if a.charge_point_id == charge_point.pk and a.connector_id == connector_id:
                levels[0].append(a)
            elif a.charge_point_id == charge_point.pk and a.connector_id is None:
                levels[1].append(a)
            elif a.site_id is not None and a.site_id == charge_point.site_id:
                levels[2].append(a)
        for level in levels:
            for assignment in level:
                version = self.versions.get(assignment.tariff_id)
                if version is not None:
                    return version
        if self.default_tariff_id is not None:
            return self.versions.get(self.default_tariff_id)
        return None


# --- The price in words -----------------------------------------------------------------------

_UNITS = {"ENERGY": "kWh", "TIME": "h", "PARKING_TIME": "h parked", "FLAT": "session"}


def _money(amount: Decimal, currency: str) -> str:
    return str(quantize(amount, currency)) if amount >= Decimal("0.01") else str(amount.normalize())


def _minutes(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def _conditions(element: Any) -> list[str]:
    """An element's restrictions in words (the common ones; the rest as 'other conditions')."""
    words = []
    if element.min_duration:
        words.append(f"after {_minutes(element.min_duration)}")
    if element.max_duration:
        words.append(f"for the first {_minutes(element.max_duration)}")
    if element.min_kwh is not None:
        words.append(f"after {element.min_kwh.normalize()} kWh")
    if element.max_kwh is not None:
        words.append(f"up to {element.max_kwh.normalize()} kWh")
    if element.start_time or element.end_time:
        start = element.start_time.strftime("%H:%M") if element.start_time else "00:00"
        end = element.end_time.strftime("%H:%M") if element.end_time else "24:00"
        words.append(f"{start}-{end}")
    if element.day_of_week:
        words.append(", ".join(day[:3].title() for day in element.day_of_week))
    if element.min_power is not None:
        words.append(f"above {element.min_power.normalize()} kW")
    if element.max_power is not None:
        words.append(f"up to {element.max_power.normalize()} kW")
    if element.start_date or element.end_date or element.min_current or element.max_current:
        words.append("other conditions apply")
    if element.reservation:
        words.append("when reserved")
    return words


def price_summary(version: TariffVersion | None) -> dict[str, Any] | None:
    """The tariff in force as a driver reads it: its display text (OCPI ``tariff_alt_text``,
    English first) and its main components, each with the price incl. VAT where the tariff
    gives a VAT rate (OCPI: no rate means unknown, not zero). None: no tariff applies (the
    session is not priced)."""
    if version is None:
        return None
    currency = version.tariff.currency
    components: list[dict[str, Any]] = []
    for element in version.elements.all():
        conditions = _conditions(element)
        for component in element.components.all():
            excl = component.price
            incl = None if component.vat is None else excl * (1 + component.vat / 100)
            unit = _UNITS.get(component.type, component.type)
            shown = incl if incl is not None else excl
            per = " per session" if component.type == "FLAT" else f"/{unit}"
            text = f"{_money(shown, currency)} {currency}{per}"
            text += " incl. VAT" if incl is not None else " excl. VAT"
            if conditions:
                text += f" ({', '.join(conditions)})"
            components.append(
                {
                    "type": component.type,
                    "price_excl_vat": str(excl.normalize()),
                    "price_incl_vat": None if incl is None else str(quantize(incl, currency)),
                    "vat_rate": None if component.vat is None else str(component.vat.normalize()),
                    "unit": unit,
                    "conditions": conditions,
                    "text": text,
                }
            )
    texts = version.tariff_alt_text or []
    english = [t["text"] for t in texts if str(t.get("language", "")).lower().startswith("en")]
    display = english[0] if english else (texts[0]["text"] if texts else "")
    summary = ", ".join(str(c["text"]) for c in components) or "Free"
    return {
        "tariff": version.tariff.name,
        "currency": currency,
        "display_text": display,
        "summary": summary,
        "components": components,
    }


# --- Whether a driver can start at a connector now ------------------------------------------
