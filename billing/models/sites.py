"""Sites: where stations are. A site's IANA time zone is the clock time-of-day tariff rules
are read in (``billing.selectors.site_timezone_for``)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from billing.models.countries import ISO_3166_ALPHA_3

_HH_MM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_HOURS_KEYS = {"twentyfourseven", "regular_hours", "exceptional_openings", "exceptional_closings"}


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    """An IANA zone name this machine's tz database knows (``Europe/Amsterdam``, ``UTC``)."""
    if value not in _known_zones():
        raise ValidationError(
            f"{value!r} is not an IANA time zone name; use one such as Europe/Amsterdam."
        )


def validate_country(value: str) -> None:
    if value not in ISO_3166_ALPHA_3:
        raise ValidationError(
            f"{value!r} is not an ISO 3166-1 alpha-3 country code (e.g. NLD, DEU, FRA)."
        )


def default_timezone() -> str:
    """A new site's zone unless given: the server's (settings.TIME_ZONE)."""
    return str(settings.TIME_ZONE)


def _period_datetime(value: Any, where: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{where}: must be an ISO 8601 date-time.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def validate_opening_hours(value: Any) -> None:
    """OCPI 2.2.1 ``Hours``: ``{"twentyfourseven": true}``, or ``{"twentyfourseven": false,
    "regular_hours": [{"weekday": 1..7 (Monday..Sunday), "period_begin": "HH:MM",
    "period_end": "HH:MM"}], "exceptional_openings": [{"period_begin": <date-time>,
    "period_end": <date-time>}], "exceptional_closings": [...]}``. A period ends after it
    begins, as in OCPI; hours past midnight are two periods (22:00-23:59 and 00:00-02:00)."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValidationError("opening_hours: must be a JSON object (OCPI Hours) or null.")
    unknown = set(value) - _HOURS_KEYS
    if unknown:
        raise ValidationError(f"opening_hours: unknown key(s) {', '.join(sorted(unknown))}.")
    always = value.get("twentyfourseven")
    if not isinstance(always, bool):
        raise ValidationError("opening_hours.twentyfourseven: is required, true or false.")
    regular = value.get("regular_hours", [])
    if not isinstance(regular, list):
        raise ValidationError("opening_hours.regular_hours: must be a list.")
    if always and regular:
        raise ValidationError(
            "opening_hours.regular_hours: must be empty when twentyfourseven is true."
        )
    for i, period in enumerate(regular):
        where = f"opening_hours.regular_hours[{i}]"
        if not isinstance(period, dict):
            raise ValidationError(f"{where}: must be an object.")
        weekday = period.get("weekday")
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 1 <= weekday <= 7:
            raise ValidationError(f"{where}.weekday: must be 1 (Monday) to 7 (Sunday).")
        times = []
        for key in ("period_begin", "period_end"):
            text = period.get(key)
            if not isinstance(text, str) or not _HH_MM.fullmatch(text):
                raise ValidationError(f"{where}.{key}: must be a time as HH:MM (00:00-23:59).")
            times.append(text)
        if times[1] <= times[0]:
            raise ValidationError(f"{where}.period_end: must be later than period_begin.")
    for key in ("exceptional_openings", "exceptional_closings"):
        periods = value.get(key, [])
        if not isinstance(periods, list):
            raise ValidationError(f"opening_hours.{key}: must be a list.")
        for i, period in enumerate(periods):
            where = f"opening_hours.{key}[{i}]"
            if not isinstance(period, dict) or not {"period_begin", "period_end"} <= set(period):
                raise ValidationError(f"{where}: needs period_begin and period_end.")
            begin = _period_datetime(period["period_begin"], f"{where}.period_begin")
            end = _period_datetime(period["period_end"], f"{where}.period_end")
            if end <= begin:
                raise ValidationError(f"{where}.period_end: must be later than period_begin.")


class Site(models.Model):
    """A location with stations (``ChargePoint.site``; a station is at one site at most)."""

    name = models.CharField(max_length=200, unique=True)
    address = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(
        max_length=3,
        blank=True,
        validators=[validate_country],
        help_text="ISO 3166-1 alpha-3, as OCPI Locations: NLD, DEU, BEL...",
    )
    latitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(-90)), MaxValueValidator(Decimal(90))],
    )
    longitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(-180)), MaxValueValidator(Decimal(180))],
    )
    timezone = models.CharField(
        max_length=64,
        default=default_timezone,
        validators=[validate_timezone],
        help_text="IANA zone (Europe/Amsterdam): tariff time-of-day rules are read in it.",
    )
    opening_hours = models.JSONField(
        null=True,
        blank=True,
        validators=[validate_opening_hours],
        help_text='OCPI Hours, e.g. {"twentyfourseven": false, "regular_hours": [{"weekday": 1, '
        '"period_begin": "08:00", "period_end": "18:00"}]}; empty: not known.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(latitude__isnull=False, longitude__isnull=False),
                name="billing_site_coordinates_together",
                violation_error_message="Give both latitude and longitude, or neither.",
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
                name="billing_site_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
                name="billing_site_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)
