"""Sites: validation, the API per persona, a station's site, the time zone of a station."""

from __future__ import annotations

import zoneinfo
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.selectors import site_timezone_for
from billing.services import site_update
from tests.billing.factories import make_site
from tests.factories import make_charge_point

pytestmark = pytest.mark.django_db

HOURS = {
    "twentyfourseven": False,
    "regular_hours": [{"weekday": 1, "period_begin": "08:00", "period_end": "18:00"}],
    "exceptional_closings": [
        {"period_begin": "2025-12-25T00:00:00Z", "period_end": "2025-12-26T00:00:00Z"}
    ],
}


def test_it_creates_a_site_with_the_server_zone_by_default(settings):
    settings.TIME_ZONE = "Europe/Amsterdam"
    site = make_site(name="Depot")
    assert site.timezone == "Europe/Amsterdam"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"country": "NL"}, "country", "alpha-3"),
        ({"country": "XYZ"}, "country", "alpha-3"),
        ({"latitude": Decimal("91"), "longitude": Decimal("0")}, "latitude", "90"),
        ({"latitude": Decimal("10"), "longitude": Decimal("-181")}, "longitude", "-180"),
        ({"latitude": Decimal("10")}, "__all__", "both latitude and longitude"),
        ({"opening_hours": {"regular_hours": []}}, "opening_hours", "twentyfourseven"),
        (
            {
                "opening_hours": {
                    "twentyfourseven": False,
                    "regular_hours": [{"weekday": 8, "period_begin": "08:00", "period_end": "9"}],
                }
            },
            "opening_hours",
            "regular_hours[0].weekday",
        ),
        (
            {
                "opening_hours": {
                    "twentyfourseven": False,
                    "regular_hours": [
                        {"weekday": 1, "period_begin": "18:00", "period_end": "08:00"}
                    ],
                }
            },
            "opening_hours",
            "later than period_begin",
        ),
    ],
)
def test_it_refuses_bad_site_fields_naming_them(fields, field, message):
    with pytest.raises(ValidationError) as caught:
        make_site(**fields)
    assert message in str(caught.value.message_dict[field])


def test_it_accepts_ocpi_opening_hours_and_coordinates():
    site = make_site(
        country="NLD",
        latitude=Decimal("52.370216"),
        longitude=Decimal("4.895168"),
        opening_hours=HOURS,
        timezone="Europe/Amsterdam",
    )
    site.refresh_from_db()
    assert site.opening_hours == HOURS
    assert site.zone == zoneinfo.ZoneInfo("Europe/Amsterdam")


def test_it_gives_a_station_its_site_zone_else_the_server_zone(settings):
    settings.TIME_ZONE = "UTC"
    site = make_site(timezone="America/New_York")
    at_site = make_charge_point(site=site)
    nowhere = make_charge_point()
    assert site_timezone_for(at_site).key == "America/New_York"
    assert site_timezone_for(nowhere).key == "UTC"


# --- API ------------------------------------------------------------------------------------

BODY = {
    "name": "Depot",
    "address": "Kade 1",
    "city": "Amsterdam",
    "postal_code": "1011 AA",
    "country": "NLD",
    "latitude": "52.370216",
    "longitude": "4.895168",
    "timezone": "Europe/Amsterdam",
    "opening_hours": {"twentyfourseven": True},
}


def test_an_operator_creates_changes_and_deletes_a_site(operator_api):
    created = operator_api.post("/api/v1/sites/", BODY, format="json")
    assert created.status_code == 201, created.data
    site_id = created.data["id"]
    assert created.data["timezone"] == "Europe/Amsterdam"
    assert created.data["station_count"] == 0

    changed = operator_api.patch(f"/api/v1/sites/{site_id}/", {"city": "Utrecht"}, format="json")
    assert changed.status_code == 200
    assert changed.data["city"] == "Utrecht" and changed.data["name"] == "Depot"

    assert operator_api.delete(f"/api/v1/sites/{site_id}/").status_code == 204
    assert operator_api.get(f"/api/v1/sites/{site_id}/").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"country": "NL"}, "country"),
        ({"latitude": "100.0"}, "latitude"),
        ({"opening_hours": {"twentyfourseven": "yes"}}, "opening_hours"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_site_is_a_400_naming_the_field(operator_api, change, field):
    response = operator_api.post("/api/v1/sites/", {**BODY, **change}, format="json")
    assert response.status_code == 400
    assert field in response.data


def test_a_duplicate_site_name_is_a_400(operator_api):
    make_site(name="Depot")
    response = operator_api.post("/api/v1/sites/", BODY, format="json")
    assert response.status_code == 400 and "name" in response.data


def test_support_reads_sites_but_cannot_write(support_api):
    site = make_site(name="Depot")
    assert support_api.get("/api/v1/sites/").status_code == 200
    assert support_api.get(f"/api/v1/sites/{site.pk}/").data["name"] == "Depot"
    assert support_api.post("/api/v1/sites/", BODY, format="json").status_code == 403
    assert support_api.patch(f"/api/v1/sites/{site.pk}/", {"city": "X"}).status_code == 403
    assert support_api.delete(f"/api/v1/sites/{site.pk}/").status_code == 403


def test_drivers_and_anonymous_get_nothing(driver_api, anonymous_api):
    site = make_site()
    assert driver_api.get("/api/v1/sites/").status_code == 403
    assert driver_api.get(f"/api/v1/sites/{site.pk}/").status_code == 403
    assert anonymous_api.get("/api/v1/sites/").status_code == 401


def test_the_station_api_sets_and_shows_the_site(operator_api):
    site = make_site(name="Depot")
    station = make_charge_point(identity="CP1")
    response = operator_api.patch("/api/v1/charge-points/CP1/", {"site": site.pk}, format="json")
    assert response.status_code == 200, response.data
    assert response.data["site"] == site.pk
    listed = operator_api.get(f"/api/v1/sites/{site.pk}/").data
    assert listed["charge_points"] == ["CP1"] and listed["station_count"] == 1

    assert (
        operator_api.patch("/api/v1/charge-points/CP1/", {"site": None}, format="json").data["site"]
        is None
    )
    station.refresh_from_db()
    assert station.site is None


def test_deleting_a_site_keeps_its_stations():
    site = make_site()
    station = make_charge_point(site=site)
    site.delete()
    station.refresh_from_db()
    assert station.site is None


def test_site_update_refuses_unknown_fields():
    with pytest.raises(ValidationError):
        site_update(site=make_site(), colour="red")
