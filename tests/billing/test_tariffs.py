"""Tariffs: versions are never edited in place, one default at most, OCPI JSON in and out
exactly, and the API per persona with 400s that name the field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from billing.models import PriceComponent, Tariff, TariffElement, TariffVersion, VersionImmutable
from billing.pricing.ocpi import tariff_from_ocpi, tariff_to_ocpi
from billing.pricing.tariff import Dimension
from billing.services import (
    TariffInUse,
    tariff_assignment_create,
    tariff_delete,
    tariff_update,
    tariff_version_create,
)
from tests.billing.factories import make_tariff, ocpi_tariff
from tests.factories import make_charge_point

pytestmark = pytest.mark.django_db

# OCPI 2.2.1's tariff example "Simple Tariff example 0.25 euro per kWh ... parking" extended
# with every restriction kind, so a round trip covers every column.
FULL = {
    "country_code": "NL",
    "party_id": "ENE",
    "id": "12",
    "currency": "EUR",
    "type": "REGULAR",
    "tariff_alt_text": [{"language": "en", "text": "0.25/kWh, 2.00/h parking after 2 hours"}],
    "tariff_alt_url": "https://company.com/tariffs/12",
    "min_price": {"excl_vat": "0.50", "incl_vat": "0.60"},
    "max_price": {"excl_vat": "50"},
    "elements": [
        {
            "price_components": [
                {"type": "ENERGY", "price": "0.25", "vat": "21", "step_size": 1},
                {"type": "FLAT", "price": "0.50", "step_size": 1},
            ]
        },
        {
            "price_components": [{"type": "PARKING_TIME", "price": "2.00", "step_size": 300}],
            "restrictions": {
                "start_time": "22:00",
                "end_time": "06:00",
                "start_date": "2025-01-01",
                "end_date": "2026-01-01",
                "min_kwh": "0.5",
                "max_kwh": "100",
                "min_current": "6",
                "max_current": "32",
                "min_power": "1.5",
                "max_power": "22",
                "min_duration": 7200,
                "max_duration": 86400,
                "day_of_week": ["MONDAY", "SATURDAY"],
                "reservation": "RESERVATION",
            },
        },
        {
            "price_components": [
                {"type": "TIME", "price": "1.20", "step_size": 60},
                {"type": "TIME", "price": "9.99", "step_size": 1},
            ]
        },
    ],
    "energy_mix": {"is_green_energy": True},
    "start_date_time": "2025-01-01T00:00:00Z",
    "end_date_time": "2030-01-01T00:00:00Z",
}


def _published(tariff: Tariff, number: int) -> TariffVersion:
    return (
        TariffVersion.objects.prefetch_related("elements__components")
        .select_related("tariff")
        .get(tariff=tariff, number=number)
    )


def test_it_round_trips_an_ocpi_tariff_through_the_tables_exactly():
    pricing = tariff_from_ocpi(FULL)
    tariff = make_tariff(name="Full")
    version = tariff_version_create(tariff=tariff, pricing=pricing)

    stored = _published(tariff, version.number).as_pricing()

    # Identity fields are the tariff's (set at creation from its first JSON), last_updated the
    # version's creation: everything else is what was imported, component for component.
    assert stored.elements == pricing.elements
    assert (stored.min_price, stored.max_price) == (pricing.min_price, pricing.max_price)
    assert stored.tariff_alt_text == pricing.tariff_alt_text
    assert (stored.start_date_time, stored.end_date_time) == (
        pricing.start_date_time,
        pricing.end_date_time,
    )
    assert stored.energy_mix == pricing.energy_mix and stored.type == pricing.type
    exported = tariff_to_ocpi(stored)
    assert exported["elements"][0]["price_components"][0] == {
        "type": "ENERGY",
        "price": Decimal("0.25"),
        "vat": Decimal("21"),
        "step_size": 1,
    }
    assert str(exported["elements"][1]["restrictions"]["min_kwh"]) == "0.5"  # no column padding
    assert tariff_from_ocpi(exported).elements == pricing.elements


def test_a_change_makes_a_new_version_and_leaves_the_old_one_as_it_was():
    tariff = make_tariff(energy="0.30")
    first = _published(tariff, 1).as_pricing()

    tariff_update(tariff=tariff, pricing=tariff_from_ocpi(ocpi_tariff(energy="0.45")))

    assert list(tariff.versions.order_by("number").values_list("number", flat=True)) == [1, 2]
    assert _published(tariff, 1).as_pricing() == first
    assert _published(tariff, 2).as_pricing().elements[0].price_components[0].price == Decimal(
        "0.45"
    )
    assert tariff.current_version is not None and tariff.current_version.number == 2


def test_renaming_a_tariff_makes_no_version():
    tariff = make_tariff(name="Old")
    tariff_update(tariff=tariff, name="New")
    assert tariff.versions.count() == 1
    assert Tariff.objects.get(pk=tariff.pk).name == "New"


@pytest.mark.parametrize("model", [TariffVersion, TariffElement, PriceComponent])
def test_published_rows_refuse_to_be_saved_again(model):
    make_tariff()
    row = model.objects.first()
    with pytest.raises(VersionImmutable):
        row.save()


def test_a_version_cannot_change_the_currency():
    tariff = make_tariff(currency="EUR")
    with pytest.raises(ValidationError) as caught:
        tariff_version_create(tariff=tariff, pricing=tariff_from_ocpi(ocpi_tariff(currency="GBP")))
    assert "currency" in caught.value.message_dict


def test_making_a_tariff_default_replaces_the_previous_default():
    first = make_tariff(is_default=True)
    second = make_tariff(is_default=True)
    first.refresh_from_db()
    assert (first.is_default, second.is_default) == (False, True)
    tariff_update(tariff=first, is_default=True)
    assert list(Tariff.objects.filter(is_default=True)) == [first]


def test_the_database_allows_one_default_tariff_only():
    make_tariff(is_default=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Tariff.objects.create(name="Second default", is_default=True)


def test_an_assigned_tariff_is_not_deleted():
    tariff = make_tariff()
    tariff_assignment_create(tariff=tariff, charge_point=make_charge_point())
    with pytest.raises(TariffInUse):
        tariff_delete(tariff=tariff)


def test_version_in_force_waits_for_a_future_start_and_ends_at_the_end():
    tariff = make_tariff(energy="0.30")
    now = dt.datetime.now(dt.UTC)
    later = now + dt.timedelta(days=30)
    tariff_version_create(
        tariff=tariff,
        pricing=tariff_from_ocpi(ocpi_tariff(energy="0.40", start_date_time=later.isoformat())),
    )
    assert tariff.version_in_force().number == 1  # v2 is published, not yet in force
    assert tariff.version_in_force(later + dt.timedelta(seconds=1)).number == 2

    tariff_version_create(
        tariff=tariff,
        pricing=tariff_from_ocpi(
            ocpi_tariff(energy="0.40", end_date_time=(now + dt.timedelta(days=1)).isoformat())
        ),
    )
    # The newest started version has ended: the tariff has ended, v1 does not come back.
    assert tariff.version_in_force(now + dt.timedelta(days=2)) is None


# --- API ------------------------------------------------------------------------------------


def test_an_operator_creates_a_tariff_from_ocpi_json(operator_api):
    response = operator_api.post(
        "/api/v1/tariffs/", {"name": "Full", "is_default": True, "ocpi": FULL}, format="json"
    )
    assert response.status_code == 201, response.data
    data = response.data
    assert (data["currency"], data["is_default"], data["current_version"]) == ("EUR", True, 1)
    assert (data["country_code"], data["party_id"], data["ocpi_id"]) == ("NL", "ENE", "12")
    assert [v["number"] for v in data["versions"]] == [1]
    assert data["versions"][0]["created_by"] == "olivia-operator"
    rendered = response.json()["ocpi"]
    assert rendered["elements"][1]["restrictions"]["day_of_week"] == ["MONDAY", "SATURDAY"]
    assert tariff_from_ocpi(rendered).elements == tariff_from_ocpi(FULL).elements


@pytest.mark.parametrize(
    ("ocpi", "path"),
    [
        ({**FULL, "currency": "euro"}, "currency"),
        (
            {"currency": "EUR", "elements": [{"price_components": [{"type": "ENERGY"}]}]},
            "elements[0].price_components[0].price",
        ),
        (
            {
                "currency": "EUR",
                "elements": [
                    {"price_components": [{"type": "ENERGY", "price": 1}]},
                    {
                        "price_components": [
                            {"type": "ENERGY", "price": 1},
                            {"type": "TIME", "price": 1, "step_size": "x"},
                        ]
                    },
                ],
            },
            "elements[1].price_components[1].step_size",
        ),
        ("not an object", "(document)"),
    ],
)
def test_bad_ocpi_json_is_a_400_naming_the_field(operator_api, ocpi, path):
    response = operator_api.post("/api/v1/tariffs/", {"name": "Bad", "ocpi": ocpi}, format="json")
    assert response.status_code == 400
    assert path in response.data["ocpi"]
    assert not Tariff.objects.exists()


def test_patch_with_ocpi_publishes_a_new_version_and_keeps_the_old(operator_api):
    tariff = make_tariff(energy="0.30")
    response = operator_api.patch(
        f"/api/v1/tariffs/{tariff.pk}/",
        {"name": "Renamed", "ocpi": ocpi_tariff(energy="0.50")},
        format="json",
    )
    assert response.status_code == 200, response.data
    assert response.data["name"] == "Renamed" and response.data["current_version"] == 2
    old = operator_api.get(f"/api/v1/tariffs/{tariff.pk}/versions/1/").json()
    new = operator_api.get(f"/api/v1/tariffs/{tariff.pk}/versions/2/").json()
    assert old["ocpi"]["elements"][0]["price_components"][0]["price"] == 0.3
    assert new["ocpi"]["elements"][0]["price_components"][0]["price"] == 0.5
    listed = operator_api.get(f"/api/v1/tariffs/{tariff.pk}/versions/").json()
    assert [v["number"] for v in listed["results"]] == [2, 1]


def test_posting_a_version_publishes_it(operator_api):
    tariff = make_tariff()
    response = operator_api.post(
        f"/api/v1/tariffs/{tariff.pk}/versions/", {"ocpi": ocpi_tariff(energy="1")}, format="json"
    )
    assert response.status_code == 201 and response.data["number"] == 2
    bad = operator_api.post(
        f"/api/v1/tariffs/{tariff.pk}/versions/",
        {"ocpi": ocpi_tariff(currency="USD")},
        format="json",
    )
    assert bad.status_code == 400 and "currency" in bad.data


def test_the_ocpi_export_is_the_plain_tariff_object(operator_api):
    tariff = make_tariff(energy="0.30")
    tariff_version_create(tariff=tariff, pricing=tariff_from_ocpi(ocpi_tariff(energy="0.40")))
    newest = operator_api.get(f"/api/v1/tariffs/{tariff.pk}/ocpi/").json()
    first = operator_api.get(f"/api/v1/tariffs/{tariff.pk}/ocpi/?version=1").json()
    assert newest["elements"][0]["price_components"][0]["price"] == 0.4
    assert first["elements"][0]["price_components"][0]["price"] == 0.3
    assert "last_updated" in newest
    assert tariff_from_ocpi(newest).currency == "EUR"
    assert operator_api.get(f"/api/v1/tariffs/{tariff.pk}/ocpi/?version=9").status_code == 404
    assert operator_api.get(f"/api/v1/tariffs/{tariff.pk}/ocpi/?version=x").status_code == 400


def test_unknown_tariffs_and_versions_are_404(operator_api):
    tariff = make_tariff()
    assert operator_api.get("/api/v1/tariffs/999/").status_code == 404
    assert operator_api.get(f"/api/v1/tariffs/{tariff.pk}/versions/5/").status_code == 404


def test_the_preview_path_is_left_free(operator_api):
    # billing's pricing preview owns POST /api/v1/tariffs/preview/; no pattern here takes it.
    from django.urls import Resolver404, resolve

    try:
        match = resolve("/api/v1/tariffs/preview/")
    except Resolver404:
        return
    assert match.url_name not in {"tariff-detail", "tariff-list"}


def test_deleting_an_assigned_tariff_is_a_409(operator_api):
    tariff = make_tariff()
    tariff_assignment_create(tariff=tariff, charge_point=make_charge_point())
    response = operator_api.delete(f"/api/v1/tariffs/{tariff.pk}/")
    assert response.status_code == 409 and "assignment" in response.data["detail"]
    free = make_tariff()
    assert operator_api.delete(f"/api/v1/tariffs/{free.pk}/").status_code == 204


def test_default_is_moved_through_the_api(operator_api):
    first = make_tariff(is_default=True)
    second = make_tariff()
    response = operator_api.patch(
        f"/api/v1/tariffs/{second.pk}/", {"is_default": True}, format="json"
    )
    assert response.status_code == 200
    first.refresh_from_db()
    assert not first.is_default
    assert operator_api.get("/api/v1/tariffs/?is_default=true").json()["results"][0]["id"] == (
        second.pk
    )


def test_support_reads_tariffs_but_cannot_write(support_api):
    tariff = make_tariff()
    assert support_api.get("/api/v1/tariffs/").status_code == 200
    assert support_api.get(f"/api/v1/tariffs/{tariff.pk}/").status_code == 200
    assert support_api.get(f"/api/v1/tariffs/{tariff.pk}/ocpi/").status_code == 200
    assert support_api.get(f"/api/v1/tariffs/{tariff.pk}/versions/1/").status_code == 200
    body = {"name": "X", "ocpi": ocpi_tariff()}
    assert support_api.post("/api/v1/tariffs/", body, format="json").status_code == 403
    assert support_api.patch(f"/api/v1/tariffs/{tariff.pk}/", {"name": "Y"}).status_code == 403
    assert (
        support_api.post(
            f"/api/v1/tariffs/{tariff.pk}/versions/", {"ocpi": ocpi_tariff()}, format="json"
        ).status_code
        == 403
    )
    assert support_api.delete(f"/api/v1/tariffs/{tariff.pk}/").status_code == 403


def test_drivers_and_anonymous_get_no_tariffs(driver_api, anonymous_api):
    tariff = make_tariff()
    assert driver_api.get("/api/v1/tariffs/").status_code == 403
    assert driver_api.get(f"/api/v1/tariffs/{tariff.pk}/ocpi/").status_code == 403
    assert anonymous_api.get("/api/v1/tariffs/").status_code == 401


def test_a_duplicate_name_is_a_400(operator_api):
    make_tariff(name="Standard")
    response = operator_api.post(
        "/api/v1/tariffs/", {"name": "Standard", "ocpi": ocpi_tariff()}, format="json"
    )
    assert response.status_code == 400 and "name" in response.data


def test_components_of_one_dimension_keep_their_order():
    tariff = make_tariff()
    version = tariff_version_create(tariff=tariff, pricing=tariff_from_ocpi(FULL))
    third = _published(tariff, version.number).as_pricing().elements[2]
    assert [(c.type, c.price) for c in third.price_components] == [
        (Dimension.TIME, Decimal("1.2")),
        (Dimension.TIME, Decimal("9.99")),
    ]
