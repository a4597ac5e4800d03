"""A tariff to and from OCPI 2.2.1 Tariff JSON (module Tariffs, object Tariff).

Reading is strict where a mistake would change a price and lenient where a roaming partner's
JSON carries what we do not use: unknown keys are ignored, every known key is checked, and
the first problem raises :class:`TariffFormatError` naming the JSON path
(``elements[0].price_components[1].step_size``) so an API client gets a 400 that says what
to fix.

Decisions where OCPI leaves room:
- Numbers may be JSON numbers or numeric strings (our own export writes ``Decimal``, which
  some encoders turn into strings); booleans, NaN and infinities are refused. A float is read
  through its shortest repr (``0.1`` is 0.1, not 0.1000000000000000055...).
- ``step_size`` defaults to 1 when absent (OCPI requires it; 1 means "no rounding", the only
  harmless default).
- ``currency``, and at least one element with at least one price component, are required;
  the OCPI identification fields (``country_code``, ``party_id``, ``id``, ``last_updated``)
  are optional: a tariff typed in here has none until it is published to a partner.
- Date-times without an offset are UTC, as OCPI's DateTime is.
- Bounds not in OCPI but guarding the engine and the database: prices and amounts in
  [0, 1,000,000) with at most 6 decimals, VAT in [0, 100], at most 100 elements of at most 10
  components, a min above its max refused, ``start_date`` before ``end_date``.
  ``start_time`` after ``end_time`` is allowed: it wraps midnight (OCPI).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from billing.pricing.tariff import (
    DayOfWeek,
    Dimension,
    DisplayText,
    Price,
    PriceComponent,
    ReservationRestriction,
    Restrictions,
    Tariff,
    TariffElement,
    TariffType,
)

MAX_ELEMENTS = 100
MAX_COMPONENTS = 10
MAX_AMOUNT = Decimal("1000000")
MAX_DECIMALS = 6
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_E = TypeVar("_E")


class TariffFormatError(ValueError):
    """``field`` is the JSON path of the first bad value ("" for the document itself)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def _path(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if base else key


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TariffFormatError(where, "must be a JSON object")
    return value


def _list(value: Any, where: str, *, most: int) -> list[Any]:
    if not isinstance(value, list):
        raise TariffFormatError(where, "must be a JSON array")
    if len(value) > most:
        raise TariffFormatError(where, f"at most {most} entries")
    return value


def _string(value: Any, where: str, *, most: int) -> str:
    if not isinstance(value, str):
        raise TariffFormatError(where, "must be a string")
    if len(value) > most:
        raise TariffFormatError(where, f"at most {most} characters")
    return value


def _decimal(value: Any, where: str, *, most: Decimal = MAX_AMOUNT) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise TariffFormatError(where, "must be a number")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise TariffFormatError(where, "must be a number") from None
    if not number.is_finite():
        raise TariffFormatError(where, "must be a finite number")
    if number < 0 or number >= most:
        raise TariffFormatError(where, f"must be at least 0 and below {most}")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMALS:
        raise TariffFormatError(where, f"at most {MAX_DECIMALS} decimals")
    return number


def _integer(value: Any, where: str, *, least: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TariffFormatError(where, "must be an integer")
    if value < least or value > 10**9:
        raise TariffFormatError(where, f"must be between {least} and 1000000000")
    return value


def _enum(value: Any, where: str, kind: Callable[[str], _E], names: list[str]) -> _E:
    if not isinstance(value, str) or value not in names:
        raise TariffFormatError(where, f"must be one of {', '.join(names)}")
    return kind(value)


def _time(value: Any, where: str) -> dt.time:
    text = _string(value, where, most=5)
    if not _TIME.fullmatch(text):
        raise TariffFormatError(where, "must be a time of day as HH:MM (00:00 to 23:59)")
    return dt.time(int(text[:2]), int(text[3:]))


def _date(value: Any, where: str) -> dt.date:
    text = _string(value, where, most=10)
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise TariffFormatError(where, "must be a date as YYYY-MM-DD") from None


def _datetime(value: Any, where: str) -> dt.datetime:
    text = _string(value, where, most=40)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise TariffFormatError(where, "must be an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise TariffFormatError(where, "is out of range") from None


def _price(value: Any, where: str) -> Price:
    data = _object(value, where)
    if "excl_vat" not in data:
        raise TariffFormatError(_path(where, "excl_vat"), "is required")
    excl = _decimal(data["excl_vat"], _path(where, "excl_vat"))
    incl = None
    if data.get("incl_vat") is not None:
        incl = _decimal(data["incl_vat"], _path(where, "incl_vat"))
    return Price(excl_vat=excl, incl_vat=incl)


def _component(value: Any, where: str) -> PriceComponent:
    data = _object(value, where)
    for key in ("type", "price"):
        if key not in data:
            raise TariffFormatError(_path(where, key), "is required")
    kind = _enum(data["type"], _path(where, "type"), Dimension, [d.value for d in Dimension])
    vat = None
    if data.get("vat") is not None:
        vat = _decimal(data["vat"], _path(where, "vat"), most=Decimal("100.000001"))
    step = 1
    if data.get("step_size") is not None:
        step = _integer(data["step_size"], _path(where, "step_size"), least=1)
    return PriceComponent(
        type=kind, price=_decimal(data["price"], _path(where, "price")), vat=vat, step_size=step
    )


def _pair_ordered(low: Any, high: Any, where: str, low_name: str) -> None:
    if low is not None and high is not None and low > high:
        raise TariffFormatError(where, f"must not be below {low_name}")


def _restrictions(value: Any, where: str) -> Restrictions:
    data = _object(value, where)
    fields: dict[str, Any] = {}
    for key in ("start_time", "end_time"):
        if data.get(key) is not None:
            fields[key] = _time(data[key], _path(where, key))
    for key in ("start_date", "end_date"):
        if data.get(key) is not None:
            fields[key] = _date(data[key], _path(where, key))
    for key in ("min_kwh", "max_kwh", "min_current", "max_current", "min_power", "max_power"):
        if data.get(key) is not None:
            fields[key] = _decimal(data[key], _path(where, key))
    for key in ("min_duration", "max_duration"):
        if data.get(key) is not None:
            fields[key] = _integer(data[key], _path(where, key))
    for quantity in ("kwh", "current", "power", "duration"):
        _pair_ordered(
            fields.get(f"min_{quantity}"),
            fields.get(f"max_{quantity}"),
            _path(where, f"max_{quantity}"),
            f"min_{quantity}",
        )
    if "start_date" in fields and "end_date" in fields:
        if fields["start_date"] >= fields["end_date"]:
            # end_date is exclusive: such an element could never apply.
            raise TariffFormatError(_path(where, "end_date"), "must be after start_date")
    if data.get("day_of_week") is not None:
        days = _list(data["day_of_week"], _path(where, "day_of_week"), most=7)
        names = [d.value for d in DayOfWeek]
        fields["day_of_week"] = frozenset(
            _enum(day, _path(_path(where, "day_of_week"), i), DayOfWeek, names)
            for i, day in enumerate(days)
        )
    if data.get("reservation") is not None:
        fields["reservation"] = _enum(
            data["reservation"],
            _path(where, "reservation"),
            ReservationRestriction,
            [r.value for r in ReservationRestriction],
        )
    return Restrictions(**fields)


def _element(value: Any, where: str) -> TariffElement:
    data = _object(value, where)
    at = _path(where, "price_components")
    if data.get("price_components") is None:
        raise TariffFormatError(at, "is required")
    components = _list(data["price_components"], at, most=MAX_COMPONENTS)
    if not components:
        raise TariffFormatError(at, "needs at least one price component")
    restrictions = None
    if data.get("restrictions") is not None:
        restrictions = _restrictions(data["restrictions"], _path(where, "restrictions"))
    return TariffElement(
        price_components=tuple(_component(c, _path(at, i)) for i, c in enumerate(components)),
        restrictions=restrictions,
    )


def tariff_from_ocpi(data: Any) -> Tariff:
    """The tariff an OCPI 2.2.1 Tariff object describes; raises TariffFormatError naming the
    first bad field. ``data`` is the parsed JSON (``json.loads`` output)."""
    document = _object(data, "")
    if document.get("currency") is None:
        raise TariffFormatError("currency", "is required")
    currency = _string(document["currency"], "currency", most=3)
    if not _CURRENCY.fullmatch(currency):
        raise TariffFormatError("currency", "must be an ISO 4217 code such as EUR")
    if document.get("elements") is None:
        raise TariffFormatError("elements", "is required")
    raw_elements = _list(document["elements"], "elements", most=MAX_ELEMENTS)
    if not raw_elements:
        raise TariffFormatError("elements", "needs at least one element")
    elements = tuple(_element(e, _path("elements", i)) for i, e in enumerate(raw_elements))

    fields: dict[str, Any] = {}
    for key, most in (("country_code", 2), ("party_id", 3), ("id", 36), ("tariff_alt_url", 255)):
        if document.get(key) is not None:
            fields[key] = _string(document[key], key, most=most)
    if document.get("type") is not None:
        fields["type"] = _enum(document["type"], "type", TariffType, [t.value for t in TariffType])
    for key in ("min_price", "max_price"):
        if document.get(key) is not None:
            fields[key] = _price(document[key], key)
    low, high = fields.get("min_price"), fields.get("max_price")
    if low is not None and high is not None:
        _pair_ordered(low.excl_vat, high.excl_vat, "max_price.excl_vat", "min_price.excl_vat")
        _pair_ordered(low.incl_vat, high.incl_vat, "max_price.incl_vat", "min_price.incl_vat")
    for key in ("start_date_time", "end_date_time", "last_updated"):
        if document.get(key) is not None:
            fields[key] = _datetime(document[key], key)
    start, end = fields.get("start_date_time"), fields.get("end_date_time")
    if start is not None and end is not None and start >= end:
        raise TariffFormatError("end_date_time", "must be after start_date_time")
    if document.get("tariff_alt_text") is not None:
        texts = []
        for i, item in enumerate(_list(document["tariff_alt_text"], "tariff_alt_text", most=20)):
            where = _path("tariff_alt_text", i)
            text = _object(item, where)
            texts.append(
                DisplayText(
                    language=_string(text.get("language"), _path(where, "language"), most=2),
                    text=_string(text.get("text"), _path(where, "text"), most=512),
                )
            )
        fields["tariff_alt_text"] = tuple(texts)
    if document.get("energy_mix") is not None:
        fields["energy_mix"] = dict(_object(document["energy_mix"], "energy_mix"))
    return Tariff(currency=currency, elements=elements, **fields)


def _datetime_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _price_json(price: Price) -> dict[str, Any]:
    out: dict[str, Any] = {"excl_vat": price.excl_vat}
    if price.incl_vat is not None:
        out["incl_vat"] = price.incl_vat
    return out


def _restrictions_json(restrictions: Restrictions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("start_time", "end_time"):
        value = getattr(restrictions, key)
        if value is not None:
            out[key] = value.strftime("%H:%M")
    for key in ("start_date", "end_date"):
        value = getattr(restrictions, key)
        if value is not None:
            out[key] = value.isoformat()
    for key in (
        "min_kwh",
        "max_kwh",
        "min_current",
        "max_current",
        "min_power",
        "max_power",
        "min_duration",
        "max_duration",
    ):
        value = getattr(restrictions, key)
        if value is not None:
            out[key] = value
    if restrictions.day_of_week:
        # Week order, so an export is stable and reads naturally.
        out["day_of_week"] = [d.value for d in DayOfWeek if d in restrictions.day_of_week]
    if restrictions.reservation is not None:
        out["reservation"] = restrictions.reservation.value
    return out


def tariff_to_ocpi(tariff: Tariff) -> dict[str, Any]:
    """``tariff`` as an OCPI 2.2.1 Tariff object. Numbers stay ``Decimal`` (exact; DRF and
    ``json.dumps(default=str)`` write them); keys we have no value for are left out, so
    ``tariff_from_ocpi(tariff_to_ocpi(t)) == t``."""
    out: dict[str, Any] = {}
    for key in ("country_code", "party_id", "id"):
        if getattr(tariff, key):
            out[key] = getattr(tariff, key)
    out["currency"] = tariff.currency
    if tariff.type is not None:
        out["type"] = tariff.type.value
    if tariff.tariff_alt_text:
        out["tariff_alt_text"] = [
            {"language": t.language, "text": t.text} for t in tariff.tariff_alt_text
        ]
    if tariff.tariff_alt_url:
        out["tariff_alt_url"] = tariff.tariff_alt_url
    for key in ("min_price", "max_price"):
        price = getattr(tariff, key)
        if price is not None:
            out[key] = _price_json(price)
    elements = []
    for element in tariff.elements:
        item: dict[str, Any] = {
            "price_components": [
                {
                    "type": c.type.value,
                    "price": c.price,
                    **({"vat": c.vat} if c.vat is not None else {}),
                    "step_size": c.step_size,
                }
                for c in element.price_components
            ]
        }
        if element.restrictions is not None:
            item["restrictions"] = _restrictions_json(element.restrictions)
        elements.append(item)
    out["elements"] = elements
    if tariff.energy_mix is not None:
        out["energy_mix"] = tariff.energy_mix
    for key in ("start_date_time", "end_date_time", "last_updated"):
        moment = getattr(tariff, key)
        if moment is not None:
            out[key] = _datetime_text(moment)
    return out
