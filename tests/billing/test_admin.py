"""Billing admin as an operator (and support): pages render; editing a tariff's prices on the
new-version page publishes a new version and leaves the old one as it was; OCPI paste-import
and export."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from billing.models import Tariff, TariffVersion
from tests.billing.factories import make_site, make_tariff, ocpi_tariff
from tests.billing.test_tariffs import FULL
from tests.factories import make_charge_point

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator_client(operator) -> Client:
    return client_for(operator)


@pytest.fixture
def support_client(support) -> Client:
    return client_for(support)


def form_data(response: Any) -> dict[str, Any]:
    """What a browser posts back for an admin add/change form, unchanged (initial values
    included, as rendered into the inputs)."""
    data: dict[str, Any] = {}

    def add(form: Any) -> None:
        for name in form.fields:
            value = form[name].value()
            if value is None or value == [] or value == "":
                continue
            if isinstance(value, bool):
                if value:
                    data[form.add_prefix(name)] = "on"
                continue
            data[form.add_prefix(name)] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


@pytest.fixture
def world():
    site = make_site(name="Depot")
    station = make_charge_point(identity="CP1", site=site)
    tariff = make_tariff(name="Full", energy="0.30")
    from billing.services import tariff_assignment_create

    assignment = tariff_assignment_create(tariff=tariff, charge_point=station)
    version = tariff.versions.get()
    return {
        "site": site,
        "tariff": tariff,
        "version": version,
        "element": version.elements.get(),
        "component": version.elements.get().components.get(),
        "assignment": assignment,
    }


@pytest.mark.parametrize("key", ["site", "tariff", "version", "element", "component", "assignment"])
def test_operators_and_support_open_every_billing_page(operator_client, support_client, world, key):
    obj = world[key]
    opts = obj._meta
    for client in (operator_client, support_client):
        changelist = client.get(reverse(f"admin:billing_{opts.model_name}_changelist"))
        assert changelist.status_code == 200
        change = client.get(reverse(f"admin:billing_{opts.model_name}_change", args=[obj.pk]))
        assert change.status_code == 200


def test_the_site_page_lists_its_stations(operator_client, world):
    site = world["site"]
    html = operator_client.get(reverse("admin:billing_site_change", args=[site.pk])).content
    assert b"CP1" in html
    listing = operator_client.get(reverse("admin:billing_site_changelist")).content.decode()
    assert "Depot" in listing


def test_the_station_page_sets_the_site(operator_client, world):
    from csms.models import ChargePoint

    station = ChargePoint.objects.get(identity="CP1")
    page = operator_client.get(reverse("admin:csms_chargepoint_change", args=[station.pk]))
    assert "site" in page.context["adminform"].form.fields


def test_a_version_page_is_read_only(operator_client, world):
    version = world["version"]
    response = operator_client.get(reverse("admin:billing_tariffversion_change", args=[version.pk]))
    assert response.context["has_change_permission"] is False
    html = response.content.decode()
    assert "ENERGY 0.3" in html and "Edit → save as a new version" in html
    post = operator_client.post(reverse("admin:billing_tariffversion_change", args=[version.pk]))
    assert post.status_code == 403


def test_editing_prices_in_the_admin_publishes_a_new_version(operator_client, world):
    tariff, old = world["tariff"], world["version"]
    old_pricing = old.as_pricing()
    url = reverse("admin:billing_tariffversion_add") + f"?tariff={tariff.pk}"

    page = operator_client.get(url)
    assert page.status_code == 200
    data = form_data(page)
    # The form starts from the newest version: one element row with its ENERGY price.
    assert Decimal(data["elements-0-energy_price"]) == Decimal("0.3")
    data["elements-0-energy_price"] = "0.42"
    data["elements-0-energy_vat"] = "21"
    # A second element: parking at night on weekdays.
    data.update(
        {
            "elements-1-parking_price": "1.50",
            "elements-1-parking_step_size": "300",
            "elements-1-start_time": "22:00",
            "elements-1-end_time": "06:00",
            "elements-1-day_of_week_choice": ["MONDAY", "FRIDAY"],
        }
    )
    data["display_text"] = "en: 0.42/kWh, parking 1.50/h at night"
    response = operator_client.post(reverse("admin:billing_tariffversion_add"), data)
    assert response.status_code == 302, _errors(response)

    assert list(tariff.versions.order_by("number").values_list("number", flat=True)) == [1, 2]
    new = TariffVersion.objects.get(tariff=tariff, number=2).as_pricing()
    assert new.elements[0].price_components[0].price == Decimal("0.42")
    assert new.elements[0].price_components[0].vat == Decimal("21")
    parking = new.elements[1]
    assert parking.price_components[0].step_size == 300
    assert parking.restrictions.start_time.hour == 22
    assert {d.value for d in parking.restrictions.day_of_week} == {"MONDAY", "FRIDAY"}
    assert new.tariff_alt_text[0].text == "0.42/kWh, parking 1.50/h at night"
    # The old version is exactly what it was.
    assert TariffVersion.objects.get(pk=old.pk).as_pricing() == old_pricing


def _errors(response: Any) -> Any:
    if response.context is None:
        return response
    errors = [response.context["adminform"].form.errors]
    for inline in response.context["inline_admin_formsets"]:
        errors += [inline.formset.non_form_errors(), *[f.errors for f in inline.formset.forms]]
    return errors


def test_a_bad_element_is_explained_on_the_form(operator_client, world):
    tariff = world["tariff"]
    page = operator_client.get(reverse("admin:billing_tariffversion_add") + f"?tariff={tariff.pk}")
    data = form_data(page)
    data["elements-0-min_kwh"] = "10"
    data["elements-0-max_kwh"] = "5"
    response = operator_client.post(reverse("admin:billing_tariffversion_add"), data)
    assert response.status_code == 200
    assert "must not be below min_kwh" in response.content.decode()
    assert tariff.versions.count() == 1


def test_a_new_tariff_in_the_admin_goes_on_to_its_first_version(operator_client):
    response = operator_client.post(
        reverse("admin:billing_tariff_add"),
        {
            "name": "Night",
            "currency": "EUR",
            "assignments-TOTAL_FORMS": "0",
            "assignments-INITIAL_FORMS": "0",
        },
    )
    tariff = Tariff.objects.get(name="Night")
    assert response.status_code == 302
    assert response["Location"].endswith(f"tariffversion/add/?tariff={tariff.pk}")


def test_ticking_default_in_the_admin_replaces_the_default(operator_client, world):
    old_default = make_tariff(name="Old default", is_default=True)
    tariff = world["tariff"]
    page = operator_client.get(reverse("admin:billing_tariff_change", args=[tariff.pk]))
    data = form_data(page)
    data["is_default"] = "on"
    response = operator_client.post(reverse("admin:billing_tariff_change", args=[tariff.pk]), data)
    assert response.status_code == 302, _errors(response)
    old_default.refresh_from_db()
    tariff.refresh_from_db()
    assert tariff.is_default and not old_default.is_default


def test_ocpi_json_is_pasted_in_and_exported(operator_client):
    page = operator_client.get(reverse("admin:billing_tariff_import"))
    assert page.status_code == 200
    response = operator_client.post(
        reverse("admin:billing_tariff_import"), {"name": "Partner", "ocpi": json.dumps(FULL)}
    )
    assert response.status_code == 302
    tariff = Tariff.objects.get(name="Partner")
    assert (tariff.country_code, tariff.party_id, tariff.ocpi_id) == ("NL", "ENE", "12")

    again = operator_client.post(
        reverse("admin:billing_tariff_import_version", args=[tariff.pk]),
        {"ocpi": json.dumps(ocpi_tariff(energy="0.99"))},
    )
    assert again.status_code == 302 and tariff.versions.count() == 2

    exported = operator_client.get(reverse("admin:billing_tariff_export", args=[tariff.pk]))
    assert exported["Content-Disposition"].endswith('-v2.json"')
    assert json.loads(exported.content)["elements"][0]["price_components"][0]["price"] == "0.99"
    first = operator_client.get(
        reverse("admin:billing_tariff_export", args=[tariff.pk]) + "?version=1"
    )
    assert len(json.loads(first.content)["elements"]) == 3


def test_bad_pasted_json_names_the_field(operator_client):
    bad = {"currency": "EUR", "elements": [{"price_components": [{"type": "X", "price": 1}]}]}
    response = operator_client.post(
        reverse("admin:billing_tariff_import"), {"name": "Bad", "ocpi": json.dumps(bad)}
    )
    assert response.status_code == 200
    assert "elements[0].price_components[0].type" in response.content.decode()
    response = operator_client.post(
        reverse("admin:billing_tariff_import"), {"name": "Bad", "ocpi": "{not json"}
    )
    assert "Not JSON" in response.content.decode()
    assert not Tariff.objects.filter(name="Bad").exists()


def test_support_cannot_import_or_add_versions(support_client, world):
    assert support_client.get(reverse("admin:billing_tariff_import")).status_code == 403
    tariff = world["tariff"]
    assert (
        support_client.get(
            reverse("admin:billing_tariff_import_version", args=[tariff.pk])
        ).status_code
        == 403
    )
    assert support_client.get(reverse("admin:billing_tariffversion_add")).status_code == 403
    assert (
        support_client.get(reverse("admin:billing_tariff_export", args=[tariff.pk])).status_code
        == 200
    )
