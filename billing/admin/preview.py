"""The admin's "Preview prices" page of a tariff: an operator describes a session in plain
terms (when it starts, how long it charges, how much energy, how long it stays parked) and
sees what a version of the tariff would charge, period by period, before assigning it. The
same engine as billing, the same rules as ``POST /api/v1/tariffs/preview/``."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone as django_timezone

from billing.models import Tariff, TariffVersion
from billing.pricing.engine import MeterSample, PricingInputError, price_session
from billing.pricing.records import PricedSession


def _number(**kwargs: Any) -> forms.DecimalField:
    return forms.DecimalField(
        max_digits=12, decimal_places=3, min_value=Decimal(0), max_value=Decimal(10_000), **kwargs
    )


def _zones() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class TariffPreviewForm(forms.Form):
    version = forms.TypedChoiceField(coerce=int, help_text="Default: the version in force now.")
    timezone = forms.ChoiceField(help_text="The site's zone: time-of-day rules are read in it.")
    start = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Local time in that zone.",
    )
    charging_minutes = forms.IntegerField(min_value=0, max_value=7 * 24 * 60, initial=90)
    energy_kwh = _number(initial=Decimal("20"))
    parking_minutes = forms.IntegerField(
        min_value=0, max_value=7 * 24 * 60, initial=30, help_text="Connected, not charging."
    )
    power_kw = _number(
        required=False,
        help_text="Only for power restrictions; default: the average (energy over time).",
    )
    current_a = _number(
        required=False, help_text="Only for current restrictions (sum over the phases)."
    )

    def __init__(self, *args: Any, tariff: Tariff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        versions = sorted(tariff.versions.all(), key=lambda v: -v.number)
        version_field = self.fields["version"]
        assert isinstance(version_field, forms.ChoiceField)
        version_field.choices = [(v.number, f"v{v.number}") for v in versions]
        in_force = tariff.version_in_force()
        self.fields["version"].initial = (in_force or versions[0]).number if versions else None
        zone_field = self.fields["timezone"]
        assert isinstance(zone_field, forms.ChoiceField)
        zone_field.choices = _zones()
        self.fields["timezone"].initial = settings.TIME_ZONE
        now = django_timezone.localtime(timezone=zoneinfo.ZoneInfo(settings.TIME_ZONE))
        self.fields["start"].initial = now.replace(second=0, microsecond=0, tzinfo=None)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("charging_minutes") == 0 and data.get("energy_kwh"):
            self.add_error("energy_kwh", "Energy needs charging time.")
        if data.get("charging_minutes") == 0 and data.get("parking_minutes") == 0:
            self.add_error("parking_minutes", "A session needs some time.")
        return data

    def samples(self) -> list[MeterSample]:
        """The described session as a meter timeline: charging at a steady rate, then
        parked with the register still."""
        data = self.cleaned_data
        zone = zoneinfo.ZoneInfo(data["timezone"])
        start = data["start"].replace(tzinfo=None).replace(tzinfo=zone).astimezone(dt.UTC)
        charged = start + dt.timedelta(minutes=data["charging_minutes"])
        end = charged + dt.timedelta(minutes=data["parking_minutes"])
        energy_wh = data["energy_kwh"] * 1000
        power = data["power_kw"] * 1000 if data.get("power_kw") is not None else None
        current = data.get("current_a")
        samples = [MeterSample(start, Decimal(0), power, current)]
        if charged > start:
            samples.append(MeterSample(charged, energy_wh, Decimal(0), Decimal(0)))
        if end > charged:
            samples.append(MeterSample(end, energy_wh, Decimal(0), Decimal(0)))
        return samples


def preview_price(form: TariffPreviewForm, version: TariffVersion) -> PricedSession | None:
    """The priced session the valid ``form`` describes, or None with the engine's complaint
    added to the form."""
    try:
        return price_session(
            tariff=version.as_pricing(),
            samples=form.samples(),
            timezone=form.cleaned_data["timezone"],
        )
    except PricingInputError as exc:
        form.add_error(None, str(exc))
        return None
