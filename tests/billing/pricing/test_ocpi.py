"""OCPI 2.2.1 Tariff JSON in and out: what a roaming partner pastes is read exactly, and every
mistake names its field."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from billing.pricing.ocpi import TariffFormatError, tariff_from_ocpi, tariff_to_ocpi
from billing.pricing.tariff import DayOfWeek, Dimension, Price, TariffType

# OCPI 2.2.1, mod_tariffs, "Complex Tariff example" (abridged to the parts that differ).
COMPLEX = {
    "country_code": "DE",
    "party_id": "ALL",
    "id": "20",
    "currency": "EUR",
    "type": "REGULAR",
    "tariff_alt_url": "https://company.com/tariffs/20",
    "min_price": {"excl_vat": 0.50, "incl_vat": 0.55},
    "elements": [
        {"price_components": [{"type": "FLAT", "price": 2.50, "vat": 15.0, "step_size": 1}]},
        {
            "price_components": [{"type": "TIME", "price": 1.00, "vat": 20.0, "step_size": 900}],
            "restrictions": {"max_current": 32.00},
        },
        {
            "price_components": [{"type": "TIME", "price": 2.00, "vat": 20.0, "step_size": 600}],
            "restrictions": {
                "min_current": 32.00,
                "start_time": "09:00",
                "end_time": "18:00",
                "day_of_week": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"],
            },
        },
        {
            "price_components": [{"type": "PARKING_TIME", "price": 5.0, "step_size": 300}],
            "restrictions": {"start_time": "20:00", "end_time": "09:00"},
        },
    ],
    "tariff_alt_text": [{"language": "en", "text": "2.50 EUR start, then per hour"}],
    "last_updated": "2018-12-17T11:36:01Z",
}


def _with(path: list[Any], value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    document = json.loads(json.dumps(base or COMPLEX))
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


_DELETE = object()


def test_it_reads_a_partners_tariff_exactly() -> None:
    tariff = tariff_from_ocpi(COMPLEX)

    assert tariff.currency == "EUR"
    assert tariff.type is TariffType.REGULAR
    assert tariff.min_price == Price(Decimal("0.5"), Decimal("0.55"))
    assert tariff.max_price is None
    flat, time_low, time_peak, parking = tariff.elements
    assert flat.price_components[0].type is Dimension.FLAT
    assert flat.price_components[0].price == Decimal("2.5")
    assert flat.restrictions is None
    assert time_low.price_components[0].step_size == 900
    assert time_peak.restrictions is not None
    assert time_peak.restrictions.start_time == dt.time(9, 0)
    assert time_peak.restrictions.min_current == Decimal("32")
    assert DayOfWeek.SATURDAY not in time_peak.restrictions.day_of_week
    assert parking.price_components[0].vat is None  # absent is not 0
    assert parking.restrictions is not None
    assert parking.restrictions.start_time > parking.restrictions.end_time  # wraps midnight
    assert tariff.last_updated == dt.datetime(2018, 12, 17, 11, 36, 1, tzinfo=dt.UTC)


def test_it_reads_floats_as_their_decimal_text_not_their_binary_value() -> None:
    tariff = tariff_from_ocpi(_with(["elements", 0, "price_components", 0, "price"], 0.1))

    assert tariff.elements[0].price_components[0].price == Decimal("0.1")


def test_it_round_trips_through_its_own_export_also_as_json_text() -> None:
    tariff = tariff_from_ocpi(COMPLEX)

    assert tariff_from_ocpi(tariff_to_ocpi(tariff)) == tariff
    as_text = json.loads(json.dumps(tariff_to_ocpi(tariff), default=str))
    assert tariff_from_ocpi(as_text) == tariff


def test_it_exports_only_what_the_tariff_says() -> None:
    exported = tariff_to_ocpi(tariff_from_ocpi(COMPLEX))

    assert "max_price" not in exported
    parking = exported["elements"][3]["price_components"][0]
    assert "vat" not in parking
    assert exported["elements"][2]["restrictions"]["day_of_week"][0] == "MONDAY"
    assert exported["last_updated"] == "2018-12-17T11:36:01Z"


def test_it_ignores_keys_it_does_not_use() -> None:
    tariff = tariff_from_ocpi(_with(["x_vendor_extension"], {"anything": [1, 2]}))

    assert tariff == tariff_from_ocpi(COMPLEX)


def test_it_defaults_a_missing_step_size_to_one() -> None:
    path = ["elements", 0, "price_components", 0, "step_size"]
    tariff = tariff_from_ocpi(_with(path, _DELETE))

    assert tariff.elements[0].price_components[0].step_size == 1


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["currency"], _DELETE, "currency"),
        (["currency"], "euro", "currency"),
        (["elements"], [], "elements"),
        (["elements"], {"price_components": []}, "elements"),
        (["elements", 1, "price_components"], [], "elements[1].price_components"),
        (
            ["elements", 1, "price_components", 0, "type"],
            "KWH",
            "elements[1].price_components[0].type",
        ),
        (
            ["elements", 1, "price_components", 0, "price"],
            "1,5",
            "elements[1].price_components[0].price",
        ),
        (
            ["elements", 1, "price_components", 0, "price"],
            -1,
            "elements[1].price_components[0].price",
        ),
        (
            ["elements", 1, "price_components", 0, "price"],
            True,
            "elements[1].price_components[0].price",
        ),
        (
            ["elements", 1, "price_components", 0, "price"],
            "NaN",
            "elements[1].price_components[0].price",
        ),
        (
            ["elements", 1, "price_components", 0, "price"],
            1e999,
            "elements[1].price_components[0].price",
        ),
        (
            ["elements", 1, "price_components", 0, "price"],
            "0.0000001",
            "elements[1].price_components[0].price",
        ),
        (["elements", 1, "price_components", 0, "vat"], 120, "elements[1].price_components[0].vat"),
        (
            ["elements", 1, "price_components", 0, "step_size"],
            0,
            "elements[1].price_components[0].step_size",
        ),
        (
            ["elements", 1, "price_components", 0, "step_size"],
            1.5,
            "elements[1].price_components[0].step_size",
        ),
        (
            ["elements", 2, "restrictions", "start_time"],
            "9:00",
            "elements[2].restrictions.start_time",
        ),
        (["elements", 2, "restrictions", "end_time"], "24:00", "elements[2].restrictions.end_time"),
        (
            ["elements", 2, "restrictions", "day_of_week", 1],
            "TUE",
            "elements[2].restrictions.day_of_week[1]",
        ),
        (
            ["elements", 2, "restrictions", "max_current"],
            16,
            "elements[2].restrictions.max_current",
        ),
        (
            ["elements", 2, "restrictions", "start_date"],
            "2024-13-01",
            "elements[2].restrictions.start_date",
        ),
        (
            ["elements", 2, "restrictions", "min_duration"],
            -5,
            "elements[2].restrictions.min_duration",
        ),
        (["elements", 2, "restrictions"], "always", "elements[2].restrictions"),
        (["min_price", "excl_vat"], _DELETE, "min_price.excl_vat"),
        (["max_price"], {"excl_vat": 0.10}, "max_price.excl_vat"),
        (["last_updated"], "yesterday", "last_updated"),
        (["tariff_alt_text", 0, "text"], 5, "tariff_alt_text[0].text"),
        (["elements"], [{"price_components": [{"type": "FLAT", "price": 1}]}] * 101, "elements"),
    ],
)
def test_it_names_the_field_of_the_first_mistake(path: list[Any], value: Any, field: str) -> None:
    with pytest.raises(TariffFormatError) as caught:
        tariff_from_ocpi(_with(path, value))

    assert caught.value.field == field
    assert str(caught.value).startswith(field)


def test_it_refuses_a_document_that_is_not_an_object() -> None:
    with pytest.raises(TariffFormatError) as caught:
        tariff_from_ocpi(["EUR"])

    assert caught.value.field == ""
    assert "object" in caught.value.message


def test_it_refuses_an_element_window_that_could_never_apply() -> None:
    document = _with(["elements", 2, "restrictions", "start_date"], "2025-06-01")
    document["elements"][2]["restrictions"]["end_date"] = "2025-06-01"

    with pytest.raises(TariffFormatError) as caught:
        tariff_from_ocpi(document)

    assert caught.value.field == "elements[2].restrictions.end_date"


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_it_names_a_date_time_that_does_not_fit_in_utc(moment):
    with pytest.raises(TariffFormatError) as error:
        tariff_from_ocpi(_with(["last_updated"], moment))

    assert error.value.field == "last_updated"
