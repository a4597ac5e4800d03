"""Stations near a point for the app: within the radius, nearest first, with connectors'
live status, availability and the price in words; strict parameters; a fixed number of
queries per page; a station and a connector (by code) on their own."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from billing.models import TariffAssignment
from csms.models import Connector
from tests.billing.factories import make_site
from tests.billing.orders.support import make_tariff
from tests.factories import make_transaction
from tests.wallet.test_sessions_helpers import code_of, online_station
from wallet.selectors.stations import distance_km
from wallet.selectors.tariffs import TariffResolver

pytestmark = pytest.mark.django_db

URL = "/api/v1/app/stations/"
# Amsterdam Centraal, Dam square (~0.8 km), Schiphol (~14 km), Utrecht (~35 km).
CENTRAAL = ("52.378900", "4.900300")


def at(name: str, lat: str, lon: str) -> Any:
    return make_site(name=name, latitude=Decimal(lat), longitude=Decimal(lon))


@pytest.fixture
def city() -> dict[str, Any]:
    make_tariff(energy="0.35", flat="1.00", time="2.00", vat="21")
    stations = {
        "dam": online_station("CP-DAM", connectors=2, site=at("Dam", "52.373100", "4.893000")),
        "centraal": online_station("CP-CS", site=at("Centraal", *CENTRAAL)),
        "schiphol": online_station("CP-AMS", site=at("Schiphol", "52.310500", "4.768300")),
        "utrecht": online_station("CP-UTR", site=at("Utrecht", "52.090700", "5.121400")),
    }
    return stations


def test_it_lists_stations_within_the_radius_nearest_first(driver_app, city):
    body = driver_app.get(URL, {"lat": CENTRAAL[0], "lon": CENTRAAL[1]}).data

    assert [s["identity"] for s in body["results"]] == ["CP-CS", "CP-DAM"]
    assert body["count"] == 2
    centraal, dam = body["results"]
    assert Decimal(centraal["distance_km"]) == 0
    assert Decimal("0.7") < Decimal(dam["distance_km"]) < Decimal("0.9")
    assert dam["site"]["name"] == "Dam" and dam["site"]["latitude"] == "52.373100"
    assert [c["connector_id"] for c in dam["connectors"]] == [1, 2]

    wider = driver_app.get(URL, {"lat": CENTRAAL[0], "lon": CENTRAAL[1], "radius_km": "20"})
    assert [s["identity"] for s in wider.data["results"]] == ["CP-CS", "CP-DAM", "CP-AMS"]


def test_each_connector_shows_status_code_availability_and_price(driver_app, city):
    dam = city["dam"]
    Connector.objects.filter(charge_point=dam, connector_id=2).update(status="Charging")
    body = driver_app.get(URL, {"lat": CENTRAAL[0], "lon": CENTRAAL[1]}).data
    first, second = body["results"][1]["connectors"]

    assert first["code"] == code_of(dam, 1) and first["status"] == "Available"
    assert (first["online"], first["availability"]) == (True, "available")
    assert second["availability"] == "occupied"
    price = first["price"]
    assert price["currency"] == "EUR"
    texts = [c["text"] for c in price["components"]]
    assert "0.42 EUR/kWh incl. VAT" in texts
    assert "1.21 EUR per session incl. VAT" in texts
    assert "2.42 EUR/h incl. VAT" in texts
    assert price["summary"] == ", ".join(texts)
    energy = next(c for c in price["components"] if c["type"] == "ENERGY")
    assert (energy["price_excl_vat"], energy["vat_rate"]) == ("0.35", "21")


def test_it_says_why_a_connector_cannot_start(driver_app, city):
    city["centraal"].connected = False
    city["centraal"].save()
    make_transaction(charge_point=city["dam"], connector_id=2, id_tag="X")
    Connector.objects.filter(charge_point=city["dam"], connector_id=1).update(status="Faulted")

    body = driver_app.get(URL, {"lat": CENTRAAL[0], "lon": CENTRAAL[1]}).data
    centraal, dam = body["results"]

    assert centraal["online"] is False and centraal["connectors"][0]["availability"] == "offline"
    assert [c["availability"] for c in dam["connectors"]] == ["faulted", "occupied"]


def test_a_tariff_without_vat_says_excl_vat_and_no_tariff_is_null(driver_app, db):
    with transaction.atomic():
        tariff = make_tariff("Site tariff", is_default=False, energy="0.40", vat=None)
    site = at("Dam", "52.373100", "4.893000")
    TariffAssignment.objects.create(tariff=tariff, site=site)
    online_station("CP-PRICED", site=site)
    online_station("CP-FREE", site=at("Nowhere", "52.373200", "4.893000"))

    body = driver_app.get(URL, {"lat": "52.3731", "lon": "4.893"}).data
    by_id = {s["identity"]: s["connectors"][0]["price"] for s in body["results"]}

    assert by_id["CP-PRICED"]["components"][0]["text"] == "0.40 EUR/kWh excl. VAT"
    assert by_id["CP-PRICED"]["components"][0]["price_incl_vat"] is None
    assert by_id["CP-FREE"] is None


def test_the_price_resolver_agrees_with_billing(db):
    from billing.selectors import tariff_applicable

    with transaction.atomic():
        default = make_tariff("Default", energy="0.30")
        site_t = make_tariff("Site", is_default=False, energy="0.31")
        station_t = make_tariff("Station", is_default=False, energy="0.32")
        connector_t = make_tariff("Connector", is_default=False, energy="0.33")
        promo = make_tariff("Promo", is_default=False, energy="0.10")
    site = at("S", "52", "4")
    a, b, c = (online_station(f"CP-R{n}", connectors=2, site=site) for n in range(3))
    plain = online_station("CP-RX", connectors=1)
    TariffAssignment.objects.create(tariff=site_t, site=site)
    TariffAssignment.objects.create(tariff=station_t, charge_point=b)
    TariffAssignment.objects.create(tariff=connector_t, charge_point=c, connector_id=2)
    now = timezone.now()
    TariffAssignment.objects.create(
        tariff=promo, charge_point=c, valid_from=now - dt.timedelta(hours=1)
    )
    TariffAssignment.objects.create(
        tariff=promo, charge_point=a, valid_until=now - dt.timedelta(hours=1)
    )

    resolver = TariffResolver.for_stations([a, b, c, plain], at=now)

    for station in (a, b, c, plain):
        for n in (1, 2):
            expected, _ = tariff_applicable(station, n, now)
            assert resolver.version_for(station, n) == expected, (station, n)
    assert default.pk and resolver.version_for(c, 1).tariff == promo


def test_a_page_costs_a_fixed_number_of_queries(driver_app, city, django_assert_max_num_queries):
    for n in range(12):
        online_station(f"CP-MORE{n:02}", connectors=3, site=at(f"More {n}", "52.3790", "4.9004"))
    driver_app.get(URL, {"lat": CENTRAAL[0], "lon": CENTRAAL[1]})  # warm caches

    with django_assert_max_num_queries(14):
        body = driver_app.get(URL, {"lat": CENTRAAL[0], "lon": CENTRAAL[1], "limit": "10"}).data

    assert body["count"] == 14 and len(body["results"]) == 10
    assert body["next"] is not None


def test_without_a_position_it_lists_every_station_by_identity(driver_app, city):
    body = driver_app.get(URL).data

    assert [s["identity"] for s in body["results"]] == ["CP-AMS", "CP-CS", "CP-DAM", "CP-UTR"]
    assert all(s["distance_km"] is None for s in body["results"])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": "52.3"}, "lon"),
        ({"lon": "4.9"}, "lat"),
        ({"lat": "north", "lon": "4.9"}, "lat"),
        ({"lat": "91", "lon": "4.9"}, "lat"),
        ({"lat": "52", "lon": "181"}, "lon"),
        ({"lat": "52", "lon": "NaN"}, "lon"),
        ({"lat": "52", "lon": "4", "radius_km": "0"}, "radius_km"),
        ({"lat": "52", "lon": "4", "radius_km": "101"}, "radius_km"),
        ({"lat": "52", "lon": "4", "radius_km": "ten"}, "radius_km"),
    ],
)
def test_it_refuses_bad_parameters_naming_them(driver_app, params, field):
    response = driver_app.get(URL, params)

    assert response.status_code == 400 and field in response.data


def test_the_haversine_distance_is_right():
    # Amsterdam Centraal to Utrecht Centraal: 34.9 km as the crow flies.
    km = distance_km(Decimal("52.3789"), Decimal("4.9003"), Decimal("52.0894"), Decimal("5.1100"))
    assert Decimal("34") < km < Decimal("36")
    assert distance_km(Decimal(0), Decimal("179.9"), Decimal(0), Decimal("-179.9")) < 23


def test_across_the_antimeridian(driver_app, db):
    online_station("CP-FIJI", site=at("Fiji", "-17.000000", "179.990000"))

    body = driver_app.get(URL, {"lat": "-17", "lon": "-179.99"}).data

    assert [s["identity"] for s in body["results"]] == ["CP-FIJI"]


def test_a_station_and_a_connector_by_code(driver_app, city):
    dam = city["dam"]
    station = driver_app.get(f"{URL}CP-DAM/").data
    assert station["identity"] == "CP-DAM" and station["distance_km"] is None
    assert driver_app.get(f"{URL}NOPE/").status_code == 404

    connector = driver_app.get(f"/api/v1/app/connectors/{code_of(dam, 2).lower()}/").data
    assert connector["connector_id"] == 2 and connector["can_start"] is True
    assert connector["availability"] == "available"
    assert connector["station"]["identity"] == "CP-DAM"
    assert connector["price"]["components"]
    assert driver_app.get("/api/v1/app/connectors/ZZZZZZZZ/").status_code == 404


def test_a_reserved_connector_cannot_start(driver_app, city):
    from csms.models import Reservation

    Reservation.objects.create(
        charge_point=city["dam"],
        connector_id=1,
        id_tag="SOMEONE",
        expiry_date=timezone.now() + dt.timedelta(hours=1),
        state=Reservation.State.ACTIVE,
    )

    body = driver_app.get(f"/api/v1/app/connectors/{code_of(city['dam'], 1)}/").data

    assert (body["availability"], body["can_start"]) == ("reserved", False)


def test_personas(operator_app, anonymous_app, city):
    code = code_of(city["dam"])
    for client, status in ((operator_app, 403), (anonymous_app, 401)):
        assert client.get(URL).status_code == status
        assert client.get(f"{URL}CP-DAM/").status_code == status
        assert client.get(f"/api/v1/app/connectors/{code}/").status_code == status
