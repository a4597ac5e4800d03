"""The admin's "Preview prices" page: an operator describes a session in plain terms and sees
what a tariff version charges, with its periods in the chosen local time."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from billing.pricing.ocpi import tariff_from_ocpi
from billing.services import tariff_create, tariff_version_create
from tests.billing.test_admin import client_for

pytestmark = pytest.mark.django_db

TIME_OF_USE = {
    "currency": "EUR",
    "elements": [
        {
            "price_components": [{"type": "ENERGY", "price": "0.20", "vat": 21, "step_size": 1}],
            "restrictions": {"start_time": "22:00", "end_time": "06:00"},
        },
        {"price_components": [{"type": "ENERGY", "price": "0.40", "vat": 21, "step_size": 1}]},
        {"price_components": [{"type": "PARKING_TIME", "price": "6", "vat": 21, "step_size": 60}]},
    ],
}
SESSION = {
    "timezone": "Europe/Amsterdam",
    "start": "2026-01-05T21:30",
    "charging_minutes": "60",
    "energy_kwh": "11",
    "parking_minutes": "30",
}


def preview(client: Client, tariff: Any, **query: Any) -> Any:
    return client.get(reverse("admin:billing_tariff_preview", args=[tariff.pk]), query)


def test_it_prices_a_session_across_a_time_of_use_boundary_in_local_time(operator):
    tariff = tariff_create(name="Night", pricing=tariff_from_ocpi(TIME_OF_USE))

    response = preview(client_for(operator), tariff, version=1, **SESSION)

    assert response.status_code == 200
    page = response.content.decode()
    # 21:30-22:00 at 0.40 (5.5 kWh), 22:00-22:30 at 0.20 (5.5 kWh), 30 min parked at 6/h.
    assert "Total 6.30 EUR excl. VAT, 7.62 EUR incl. VAT" in page
    assert "2026-01-05 22:00" in page  # the boundary, shown in the site's time
    assert response.context["priced"].total_energy_cost.excl_vat == Decimal("3.30")


def test_it_prices_with_the_version_asked_for(operator):
    tariff = tariff_create(name="Night", pricing=tariff_from_ocpi(TIME_OF_USE))
    flat = {"currency": "EUR", "elements": [TIME_OF_USE["elements"][1]]}
    tariff_version_create(tariff=tariff, pricing=tariff_from_ocpi(flat))
    client = client_for(operator)

    now = preview(client, tariff, version=2, **SESSION)
    before = preview(client, tariff, version=1, **SESSION)

    assert "Total 4.40 EUR excl. VAT" in now.content.decode()
    assert "Total 6.30 EUR excl. VAT" in before.content.decode()


def test_it_shows_the_empty_form_with_the_version_in_force_first(operator):
    tariff = tariff_create(name="Night", pricing=tariff_from_ocpi(TIME_OF_USE))

    response = preview(client_for(operator), tariff)

    assert response.status_code == 200
    assert response.context["priced"] is None
    assert response.context["form"].fields["version"].initial == 1


def test_it_names_what_is_wrong_with_the_description(operator):
    tariff = tariff_create(name="Night", pricing=tariff_from_ocpi(TIME_OF_USE))
    bad = {**SESSION, "charging_minutes": "0", "parking_minutes": "0", "timezone": "Mars/Base"}

    response = preview(client_for(operator), tariff, version=1, **bad)

    form = response.context["form"]
    assert response.context["priced"] is None
    assert "timezone" in form.errors
    assert "energy_kwh" in form.errors


def test_the_tariff_page_links_to_it_and_support_may_use_it(operator, support):
    tariff = tariff_create(name="Night", pricing=tariff_from_ocpi(TIME_OF_USE))
    url = reverse("admin:billing_tariff_preview", args=[tariff.pk])

    page = client_for(operator).get(reverse("admin:billing_tariff_change", args=[tariff.pk]))

    assert url in page.content.decode()
    assert preview(client_for(support), tariff, version=1, **SESSION).status_code == 200


def test_a_driver_cannot_reach_it(driver):
    tariff = tariff_create(name="Night", pricing=tariff_from_ocpi(TIME_OF_USE))

    response = preview(client_for(driver), tariff, version=1, **SESSION)

    assert response.status_code == 302  # to the admin log-in: not staff
