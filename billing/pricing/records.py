"""The priced session: frozen dataclasses named as OCPI 2.2.1's CDR, and its JSON form.

``to_ocpi()`` writes JSON-ready values: every number is a *string* holding the exact Decimal
(``"5.50"``, ``"20.5"``), never a float, so nothing is lost between the engine, the API and a
client; our OCPI reader (``billing.pricing.ocpi``) accepts numeric strings for the same reason.
Amounts keep the currency's minor unit (``"5.50"``); volumes are written with at most 6
decimals (kWh to the mWh, hours to 3.6 ms), trailing zeros dropped. An ``incl_vat`` that
cannot be known (see ``billing.pricing.engine``) is left out of its Price, as OCPI leaves out
optional fields. Datetimes are UTC ISO 8601 with ``Z``.

Beyond OCPI, a charging period carries ``end_date_time`` and ``tariff_elements`` (per priced
dimension, the index of the tariff element whose component applied), and the record carries
``cost_lines``: one per price component used, with its billed volume (after ``step_size``),
unit price, VAT and amounts; billing turns them into an order's line items.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from billing.pricing.tariff import Dimension, Price

VOLUME_PLACES = Decimal("0.000001")


class CdrDimensionType(StrEnum):
    """The OCPI CdrDimensionType values this engine writes."""

    ENERGY = "ENERGY"
    TIME = "TIME"
    PARKING_TIME = "PARKING_TIME"


@dataclass(frozen=True)
class CdrDimension:
    type: CdrDimensionType
    volume: Decimal  # kWh for ENERGY, hours for TIME and PARKING_TIME, exact


@dataclass(frozen=True)
class ChargingPeriod:
    """A stretch of the session with one active price component per dimension (or none)
    and one charging state. ``tariff_elements`` maps each dimension that had an active
    component to its element's index in ``Tariff.elements``."""

    start_date_time: dt.datetime
    end_date_time: dt.datetime
    charging: bool
    dimensions: tuple[CdrDimension, ...]
    tariff_elements: dict[Dimension, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CostLine:
    """What one price component billed over the whole session. ``volume`` is in the
    component's unit (kWh, hours, or 1 for FLAT) after ``step_size``; ``cost`` is rounded to
    the currency's minor unit, ``cost.incl_vat`` None when ``vat`` is unknown and the amount
    is not zero."""

    dimension: Dimension
    tariff_element: int
    volume: Decimal
    price: Decimal
    vat: Decimal | None
    cost: Price


@dataclass(frozen=True)
class PricedSession:
    """A session priced by a tariff, OCPI CDR naming. ``total_time`` is the whole session
    (charging and parking, as OCPI defines it), ``total_parking_time`` its non-charging part.
    Each total is rounded from the exact sum of its parts (see the engine's rounding rule);
    ``total_cost`` is then clamped by the tariff's ``min_price``/``max_price``."""

    currency: str
    start_date_time: dt.datetime
    end_date_time: dt.datetime
    charging_periods: tuple[ChargingPeriod, ...]
    cost_lines: tuple[CostLine, ...]
    total_energy: Decimal
    total_time: Decimal
    total_parking_time: Decimal
    total_fixed_cost: Price
    total_energy_cost: Price
    total_time_cost: Price
    total_parking_cost: Price
    total_cost: Price

    def to_ocpi(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "start_date_time": _datetime(self.start_date_time),
            "end_date_time": _datetime(self.end_date_time),
            "charging_periods": [_period(period) for period in self.charging_periods],
            "total_cost": _price(self.total_cost),
            "total_fixed_cost": _price(self.total_fixed_cost),
            "total_energy": _volume(self.total_energy),
            "total_energy_cost": _price(self.total_energy_cost),
            "total_time": _volume(self.total_time),
            "total_time_cost": _price(self.total_time_cost),
            "total_parking_time": _volume(self.total_parking_time),
            "total_parking_cost": _price(self.total_parking_cost),
            "cost_lines": [_line(line) for line in self.cost_lines],
        }


def _datetime(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _volume(value: Decimal) -> str:
    text = format(value.quantize(VOLUME_PLACES, ROUND_HALF_UP).normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _price(price: Price) -> dict[str, str]:
    written = {"excl_vat": str(price.excl_vat)}
    if price.incl_vat is not None:
        written["incl_vat"] = str(price.incl_vat)
    return written


def _period(period: ChargingPeriod) -> dict[str, Any]:
    return {
        "start_date_time": _datetime(period.start_date_time),
        "end_date_time": _datetime(period.end_date_time),
        "dimensions": [
            {"type": str(dimension.type), "volume": _volume(dimension.volume)}
            for dimension in period.dimensions
        ],
        "tariff_elements": {str(key): index for key, index in period.tariff_elements.items()},
    }


def _line(line: CostLine) -> dict[str, Any]:
    return {
        "type": str(line.dimension),
        "tariff_element": line.tariff_element,
        "volume": _volume(line.volume),
        "price": format(line.price.normalize(), "f"),
        "vat": None if line.vat is None else format(line.vat.normalize(), "f"),
        "cost": _price(line.cost),
    }
