"""A tariff as the pricing engine reads it: OCPI 2.2.1 Tariff module semantics, as frozen
dataclasses (no ORM, no Django). ``billing.models`` stores tariffs and builds these;
``billing.pricing.ocpi`` reads and writes them as OCPI 2.2.1 Tariff JSON.

Units are OCPI's: prices excl. VAT per kWh (ENERGY), per session (FLAT), per hour (TIME,
PARKING_TIME); ``vat`` a percentage, ``None`` when the tariff does not say (not 0: "absent is
not 0"); ``step_size`` in Wh for ENERGY and seconds for TIME/PARKING_TIME; restriction times
are local wall-clock times of the site; kWh, A, kW and seconds in the restrictions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Dimension(StrEnum):
    """OCPI TariffDimensionType."""

    ENERGY = "ENERGY"
    FLAT = "FLAT"
    PARKING_TIME = "PARKING_TIME"
    TIME = "TIME"


class DayOfWeek(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


# date.weekday() order.
WEEKDAYS: tuple[DayOfWeek, ...] = tuple(DayOfWeek)


class ReservationRestriction(StrEnum):
    RESERVATION = "RESERVATION"
    RESERVATION_EXPIRES = "RESERVATION_EXPIRES"


class TariffType(StrEnum):
    AD_HOC_PAYMENT = "AD_HOC_PAYMENT"
    PROFILE_CHEAP = "PROFILE_CHEAP"
    PROFILE_FAST = "PROFILE_FAST"
    PROFILE_GREEN = "PROFILE_GREEN"
    REGULAR = "REGULAR"


@dataclass(frozen=True)
class Price:
    """OCPI Price: ``incl_vat`` None when not given."""

    excl_vat: Decimal
    incl_vat: Decimal | None = None


@dataclass(frozen=True)
class PriceComponent:
    type: Dimension
    price: Decimal
    vat: Decimal | None = None
    step_size: int = 1


@dataclass(frozen=True)
class Restrictions:
    """OCPI TariffRestrictions. Every field None (or empty) means "no restriction"."""

    start_time: dt.time | None = None
    end_time: dt.time | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    min_kwh: Decimal | None = None
    max_kwh: Decimal | None = None
    min_current: Decimal | None = None
    max_current: Decimal | None = None
    min_power: Decimal | None = None
    max_power: Decimal | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    day_of_week: frozenset[DayOfWeek] = frozenset()
    reservation: ReservationRestriction | None = None


@dataclass(frozen=True)
class TariffElement:
    price_components: tuple[PriceComponent, ...]
    restrictions: Restrictions | None = None


@dataclass(frozen=True)
class DisplayText:
    language: str
    text: str


@dataclass(frozen=True)
class Tariff:
    """What prices a session. ``id``, ``country_code`` and ``party_id`` identify it in OCPI
    (roaming); the engine reads only currency, elements, min_price and max_price."""

    currency: str
    elements: tuple[TariffElement, ...]
    min_price: Price | None = None
    max_price: Price | None = None
    id: str = ""
    country_code: str = ""
    party_id: str = ""
    type: TariffType | None = None
    tariff_alt_text: tuple[DisplayText, ...] = ()
    tariff_alt_url: str = ""
    start_date_time: dt.datetime | None = None
    end_date_time: dt.datetime | None = None
    last_updated: dt.datetime | None = None
    # OCPI EnergyMix, kept as given (the engine never reads it).
    energy_mix: dict[str, object] | None = field(default=None, compare=False)
