"""POST /api/v1/tariffs/preview/: a tariff as OCPI JSON and a made-up meter timeline give the
priced session; nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest

URL = "/api/v1/tariffs/preview/"

TARIFF: dict[str, Any] = {
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "FLAT", "price": 0.5, "vat": 20, "step_size": 1}]},
        {"price_components": [{"type": "ENERGY", "price": 0.25, "vat": 10, "step_size": 1}]},
        {"price_components": [{"type": "PARKING_TIME", "price": 2, "vat": 20, "step_size": 900}]},
    ],
}
METER_VALUES = [
    {"timestamp": "2024-07-01T08:00:00Z", "energy_wh": 0, "power_w": 11000, "current_a": 48},
    {"timestamp": "2024-07-01T10:00:00Z", "energy_wh": "20000", "power_w": 0},
    {"timestamp": "2024-07-01T10:40:00Z", "energy_wh": 20000},
]


def body(**changes: Any) -> dict[str, Any]:
    return {
        "tariff": TARIFF,
        "timezone": "Europe/Amsterdam",
        "meter_values": METER_VALUES,
        **changes,
    }


def test_it_answers_the_priced_session_in_ocpi_cdr_naming(operator_api):
    response = operator_api.post(URL, body(), format="json")

    assert response.status_code == 200, response.json()
    data = response.json()
    # OCPI's "0.25 euro per kWh + parking fee + start fee" example: 7.00 / 7.90.
    assert data["total_cost"] == {"excl_vat": "7.00", "incl_vat": "7.90"}
    assert data["total_energy"] == "20"
    assert data["total_parking_time"] == "0.666667"
    assert data["total_parking_cost"] == {"excl_vat": "1.50", "incl_vat": "1.80"}
    assert data["currency"] == "EUR"
    assert [p["start_date_time"] for p in data["charging_periods"]] == [
        "2024-07-01T08:00:00Z",
        "2024-07-01T10:00:00Z",
    ]


def test_it_lets_support_preview(support_api):
    assert support_api.post(URL, body(), format="json").status_code == 200


@pytest.mark.parametrize(("persona", "status"), [("driver_api", 403), ("anonymous_api", 401)])
def test_it_refuses_drivers_and_anonymous_callers(request, persona, status):
    client = request.getfixturevalue(persona)

    assert client.post(URL, body(), format="json").status_code == status


def test_it_names_the_bad_tariff_field(operator_api):
    tariff = {
        **TARIFF,
        "elements": [
            TARIFF["elements"][0],
            {"price_components": [{"type": "ENERGY", "price": 1, "step_size": -5}]},
        ],
    }

    response = operator_api.post(URL, body(tariff=tariff), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["tariff.elements[1].price_components[0].step_size"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tariff": None}, "tariff"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": 3}, "timezone"),
        ({"meter_values": []}, "meter_values"),
        (
            {"meter_values": [{"timestamp": "yesterday", "energy_wh": 0}]},
            "meter_values[0].timestamp",
        ),
        (
            {"meter_values": [METER_VALUES[0], {"timestamp": "2024-07-01T09:00:00Z"}]},
            "meter_values[1].energy_wh",
        ),
        (
            {"meter_values": [{"timestamp": "2024-07-01T09:00:00Z", "energy_wh": True}]},
            "meter_values[0].energy_wh",
        ),
        (
            {"meter_values": [{"timestamp": "2024-07-01T09:00:00Z", "energy_wh": -1}]},
            "meter_values[0].energy_wh",
        ),
        (
            {
                "meter_values": [
                    {"timestamp": "2024-07-01T09:00:00Z", "energy_wh": 1, "power_w": "fast"}
                ]
            },
            "meter_values[0].power_w",
        ),
        ({"meter_values": ["x"]}, "meter_values[0]"),
    ],
)
def test_it_names_the_bad_field_of_the_body(operator_api, changes, field):
    response = operator_api.post(URL, body(**changes), format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_it_says_why_a_timeline_cannot_be_priced(operator_api):
    backwards = [METER_VALUES[1], METER_VALUES[0]]

    response = operator_api.post(URL, body(meter_values=backwards), format="json")

    assert response.status_code == 400
    [message] = response.json()["meter_values"]
    assert "meter_values[1]" in message and "must be in order" in message


def test_it_reads_a_timestamp_without_a_zone_as_utc(operator_api):
    naive = [{**value, "timestamp": value["timestamp"].rstrip("Z")} for value in METER_VALUES]

    response = operator_api.post(URL, body(meter_values=naive), format="json")

    assert response.json()["start_date_time"] == "2024-07-01T08:00:00Z"


def test_it_is_in_the_api_schema(operator_api):
    schema = operator_api.get("/api/schema/", {"format": "json"}).json()

    assert "post" in schema["paths"][URL]


# --- A stored tariff -----------------------------------------------------------------------


@pytest.mark.django_db
def test_it_prices_with_a_stored_tariffs_version_in_force(operator_api):
    from billing.pricing.ocpi import tariff_from_ocpi
    from billing.services import tariff_create, tariff_version_create

    stored = tariff_create(name="Depot", pricing=tariff_from_ocpi(TARIFF))
    cheaper = {**TARIFF, "elements": [TARIFF["elements"][1]]}
    tariff_version_create(tariff=stored, pricing=tariff_from_ocpi(cheaper))
    request = {"tariff_id": stored.pk, "timezone": "Europe/Amsterdam", "meter_values": METER_VALUES}

    now = operator_api.post(URL, request, format="json")
    first = operator_api.post(URL, {**request, "version": 1}, format="json")

    assert now.status_code == 200, now.json()
    assert now.json()["total_cost"] == {"excl_vat": "5.00", "incl_vat": "5.50"}
    assert first.json()["total_cost"] == {"excl_vat": "7.00", "incl_vat": "7.90"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tariff_id": 999_999}, "tariff_id"),
        ({"tariff_id": "one"}, "tariff_id"),
        ({"tariff_id": 1, "tariff": TARIFF}, "tariff"),
        ({"tariff_id": None}, "tariff_id"),
    ],
)
def test_it_names_a_bad_stored_tariff_reference(operator_api, changes, field):
    request = {"timezone": "UTC", "meter_values": METER_VALUES, **changes}

    response = operator_api.post(URL, request, format="json")

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.django_db
def test_it_names_a_version_the_tariff_does_not_have(operator_api):
    from billing.pricing.ocpi import tariff_from_ocpi
    from billing.services import tariff_create

    stored = tariff_create(name="Depot", pricing=tariff_from_ocpi(TARIFF))
    request = {"tariff_id": stored.pk, "version": 7, "meter_values": METER_VALUES}

    response = operator_api.post(URL, request, format="json")

    assert response.status_code == 400
    assert "no version 7" in response.json()["version"][0]


@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-02-30T10:00:00Z",  # well-formed, no such day: parse_datetime raises
        "2024-07-01T10:00:00+99:00",  # an offset of 99 hours
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ],
)
def test_it_answers_400_for_a_timestamp_it_cannot_use(operator_api, timestamp):
    meter_values = [{"timestamp": timestamp, "energy_wh": 0}]

    response = operator_api.post(URL, body(meter_values=meter_values), format="json")

    assert response.status_code == 400
    assert list(response.json()) in (["meter_values[0].timestamp"], ["meter_values"])


@pytest.mark.parametrize("key", ["start_date_time", "end_date_time", "last_updated"])
def test_it_answers_400_for_a_tariff_date_time_out_of_range(operator_api, key):
    tariff = {**TARIFF, key: "0001-01-01T00:00:00+01:00"}

    response = operator_api.post(URL, body(tariff=tariff), format="json")

    assert response.status_code == 400
    assert list(response.json()) == [f"tariff.{key}"]
