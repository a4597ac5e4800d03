"""Which tariff applies: connector > station > site > default, each within its window; the
API that says which and why; the assignments API per persona."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.pricing.ocpi import tariff_from_ocpi
from billing.selectors import tariff_applicable
from billing.services import tariff_assignment_create, tariff_version_create
from tests.billing.factories import make_site, make_tariff, ocpi_tariff
from tests.factories import make_charge_point

pytestmark = pytest.mark.django_db

NOW = dt.datetime.now(dt.UTC)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def station():
    return make_charge_point(identity="CP1", site=make_site(name="Depot"))


def test_it_follows_connector_then_station_then_site_then_default(station):
    default = make_tariff(name="Default", is_default=True)
    site_tariff = make_tariff(name="Site")
    station_tariff = make_tariff(name="Station")
    connector_tariff = make_tariff(name="Connector 2")

    version, reason = tariff_applicable(station, 2)
    assert version.tariff == default and reason == "default tariff"

    tariff_assignment_create(tariff=site_tariff, site=station.site)
    version, reason = tariff_applicable(station, 2)
    assert version.tariff == site_tariff and reason.startswith("site 'Depot': assignment #")

    tariff_assignment_create(tariff=station_tariff, charge_point=station)
    version, reason = tariff_applicable(station, 2)
    assert version.tariff == station_tariff and reason.startswith("station CP1: assignment #")

    assignment = tariff_assignment_create(
        tariff=connector_tariff, charge_point=station, connector_id=2
    )
    version, reason = tariff_applicable(station, 2)
    assert version.tariff == connector_tariff
    assert reason == f"connector 2 of CP1: assignment #{assignment.pk}"
    # Connector 1 has no assignment of its own: the station's.
    assert tariff_applicable(station, 1)[0].tariff == station_tariff
    assert tariff_applicable(station)[0].tariff == station_tariff


def test_it_answers_none_with_the_reason_when_nothing_applies(station):
    version, reason = tariff_applicable(station, 1)
    assert version is None
    assert "no assignment to it or its site 'Depot'" in reason
    assert "no default tariff" in reason


def test_an_assignment_counts_only_inside_its_window(station):
    make_tariff(name="Default", is_default=True)
    promo = make_tariff(name="Promo")
    tariff_assignment_create(
        tariff=promo, charge_point=station, valid_from=NOW + HOUR, valid_until=NOW + 3 * HOUR
    )
    assert tariff_applicable(station, 1, NOW)[0].tariff.name == "Default"
    assert tariff_applicable(station, 1, NOW + 2 * HOUR)[0].tariff.name == "Promo"
    # valid_until is exclusive.
    assert tariff_applicable(station, 1, NOW + 3 * HOUR)[0].tariff.name == "Default"


def test_the_later_window_wins_within_a_level_whichever_came_first(station):
    promo = make_tariff(name="Weekend promo")
    permanent = make_tariff(name="Permanent")
    tariff_assignment_create(
        tariff=promo, charge_point=station, valid_from=NOW - HOUR, valid_until=NOW + HOUR
    )
    tariff_assignment_create(tariff=permanent, charge_point=station)
    assert tariff_applicable(station, 1, NOW)[0].tariff == promo
    assert tariff_applicable(station, 1, NOW + 2 * HOUR)[0].tariff == permanent


def test_a_tariff_with_no_version_in_force_is_passed_over(station):
    make_tariff(name="Default", is_default=True)
    ended = make_tariff(name="Ended")
    tariff_version_create(
        tariff=ended,
        pricing=tariff_from_ocpi(ocpi_tariff(end_date_time=(NOW - HOUR).isoformat())),
    )
    tariff_assignment_create(tariff=ended, charge_point=station)
    version, reason = tariff_applicable(station, 1)
    assert version.tariff.name == "Default"
    assert "skipped" in reason and "'Ended'" in reason


def test_it_gives_the_version_in_force_with_its_rows_loaded(station, django_assert_num_queries):
    tariff = make_tariff(is_default=True, energy="0.30")
    tariff_version_create(tariff=tariff, pricing=tariff_from_ocpi(ocpi_tariff(energy="0.40")))
    version, _ = tariff_applicable(station, 1)
    assert version.number == 2
    with django_assert_num_queries(0):
        assert version.as_pricing().elements[0].price_components[0].price == Decimal("0.4")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "exactly one"),
        ({"site": True, "charge_point": True}, "exactly one"),
        ({"site": True, "connector_id": 1}, "exactly one"),
        ({"charge_point": True, "connector_id": 0}, "start at 1"),
        (
            {"charge_point": True, "valid_from": NOW, "valid_until": NOW - HOUR},
            "later than valid_from",
        ),
    ],
)
def test_it_refuses_assignments_without_exactly_one_scope(station, fields, message):
    if fields.pop("site", None):
        fields["site"] = station.site
    if fields.pop("charge_point", None):
        fields["charge_point"] = station
    with pytest.raises(ValidationError) as caught:
        tariff_assignment_create(tariff=make_tariff(), **fields)
    assert message in str(caught.value)


# --- API ------------------------------------------------------------------------------------


def test_the_station_tariff_api_says_which_and_why(operator_api, station):
    tariff = make_tariff(name="Night", energy="0.20")
    assignment = tariff_assignment_create(tariff=tariff, charge_point=station, connector_id=2)
    station.site.timezone = "Europe/Amsterdam"
    station.site.save()

    response = operator_api.get("/api/v1/charge-points/CP1/tariff/?connector=2")
    assert response.status_code == 200, response.data
    data = response.json()
    assert data["reason"] == f"connector 2 of CP1: assignment #{assignment.pk}"
    assert (data["tariff"], data["tariff_name"], data["version"]) == (tariff.pk, "Night", 1)
    assert data["assignment"] == assignment.pk and data["timezone"] == "Europe/Amsterdam"
    assert data["ocpi"]["elements"][0]["price_components"][0]["price"] == 0.2


def test_the_station_tariff_api_is_404_with_the_reason(operator_api, station):
    response = operator_api.get("/api/v1/charge-points/CP1/tariff/")
    assert response.status_code == 404
    assert "No tariff applies to CP1" in response.data["detail"]
    assert operator_api.get("/api/v1/charge-points/NOPE/tariff/").status_code == 404


def test_the_station_tariff_api_reads_at(operator_api, station):
    make_tariff(name="Default", is_default=True)
    promo = make_tariff(name="Promo")
    tariff_assignment_create(
        tariff=promo, charge_point=station, valid_from=NOW + HOUR, valid_until=NOW + 2 * HOUR
    )
    at = (NOW + 90 * dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert operator_api.get(f"/api/v1/charge-points/CP1/tariff/?at={at}").data["tariff_name"] == (
        "Promo"
    )
    assert operator_api.get("/api/v1/charge-points/CP1/tariff/").data["reason"] == "default tariff"
    assert operator_api.get("/api/v1/charge-points/CP1/tariff/?at=soon").status_code == 400
    assert operator_api.get("/api/v1/charge-points/CP1/tariff/?connector=-1").status_code == 400
    assert operator_api.get("/api/v1/charge-points/CP1/tariff/?connector=a").status_code == 400


def test_an_operator_manages_assignments(operator_api, station):
    tariff = make_tariff(name="Depot tariff")
    created = operator_api.post(
        "/api/v1/tariff-assignments/",
        {"tariff": tariff.pk, "site": station.site.pk, "valid_from": "2025-01-01T00:00:00Z"},
        format="json",
    )
    assert created.status_code == 201, created.data
    assert created.data["scope"] == "site" and created.data["tariff_name"] == "Depot tariff"
    pk = created.data["id"]

    to_station = operator_api.post(
        "/api/v1/tariff-assignments/",
        {"tariff": tariff.pk, "charge_point": "CP1", "connector_id": 1},
        format="json",
    )
    assert to_station.status_code == 201 and to_station.data["scope"] == "connector"

    listed = operator_api.get("/api/v1/tariff-assignments/?charge_point=CP1").json()
    assert [a["charge_point"] for a in listed["results"]] == ["CP1"]
    assert (
        len(operator_api.get(f"/api/v1/tariff-assignments/?tariff={tariff.pk}").json()["results"])
        == 2
    )

    changed = operator_api.patch(
        f"/api/v1/tariff-assignments/{pk}/",
        {"valid_until": "2026-01-01T00:00:00Z"},
        format="json",
    )
    assert changed.status_code == 200 and changed.data["valid_until"].startswith("2026-01-01")
    assert operator_api.delete(f"/api/v1/tariff-assignments/{pk}/").status_code == 204
    assert operator_api.get(f"/api/v1/tariff-assignments/{pk}/").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"site": "SITE", "charge_point": "CP1"},
        {},
        {"charge_point": "CP1", "connector_id": 0},
        {"charge_point": "CP1", "valid_from": "2025-02-01T00:00:00Z", "valid_until": "2025-01-01"},
        {"charge_point": "NOPE"},
    ],
)
def test_a_bad_assignment_is_a_400(operator_api, station, body):
    body = {"tariff": make_tariff().pk, **body}
    if body.get("site") == "SITE":
        body["site"] = station.site.pk
    response = operator_api.post("/api/v1/tariff-assignments/", body, format="json")
    assert response.status_code == 400, response.data


def test_support_reads_assignments_and_station_tariffs_but_cannot_assign(support_api, station):
    tariff = make_tariff(is_default=True)
    assert support_api.get("/api/v1/tariff-assignments/").status_code == 200
    assert support_api.get("/api/v1/charge-points/CP1/tariff/").status_code == 200
    response = support_api.post(
        "/api/v1/tariff-assignments/", {"tariff": tariff.pk, "charge_point": "CP1"}, format="json"
    )
    assert response.status_code == 403


def test_drivers_and_anonymous_see_no_assignments(driver_api, anonymous_api, station):
    assert driver_api.get("/api/v1/tariff-assignments/").status_code == 403
    assert driver_api.get("/api/v1/charge-points/CP1/tariff/").status_code == 403
    assert anonymous_api.get("/api/v1/charge-points/CP1/tariff/").status_code == 401
