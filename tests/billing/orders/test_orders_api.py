"""Orders API, CSV exports and revenue: filters parsed strictly, permissions per persona."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from billing.models import Order, Site
from billing.selectors.orders import revenue_per_day
from billing.services.orders import order_create
from tests.billing.orders.support import START, make_tariff, stopped_session
from tests.factories import make_charge_point, make_id_tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders(db, driver):
    make_tariff(energy="0.30", vat="20")
    harbour = Site.objects.create(name="Harbour", country="NL", timezone="Europe/Amsterdam")
    here = make_charge_point(identity="CP-HARBOUR", site=harbour)
    there = make_charge_point(identity="CP-ELSEWHERE")
    tag = make_id_tag(id_tag="DANA", user=driver)
    made = [
        order_create(transaction_id=stopped_session(charge_point=here, id_tag_ref=tag).pk),
        order_create(
            transaction_id=stopped_session(
                charge_point=here, started_at=START + dt.timedelta(days=1), energy_wh=20_000
            ).pk
        ),
        order_create(
            transaction_id=stopped_session(
                charge_point=there, minutes=1, energy_wh=100, samples=False
            ).pk
        ),
    ]
    return {"site": harbour, "orders": made}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_it_lists_orders_with_filters(operator_api, orders):
    first, second, free = orders["orders"]
    assert set(ids(operator_api.get("/api/v1/orders/"))) == {first.pk, second.pk, free.pk}
    assert ids(operator_api.get("/api/v1/orders/?charge_point=CP-ELSEWHERE")) == [free.pk]
    assert set(ids(operator_api.get(f"/api/v1/orders/?site={orders['site'].pk}"))) == {
        first.pk,
        second.pk,
    }
    assert ids(operator_api.get("/api/v1/orders/?driver=dana-driver")) == [first.pk]
    assert ids(operator_api.get("/api/v1/orders/?state=free")) == [free.pk]
    day2 = (START + dt.timedelta(days=1)).date().isoformat()
    assert ids(operator_api.get(f"/api/v1/orders/?stopped_after={day2}")) == [second.pk]
    assert set(ids(operator_api.get(f"/api/v1/orders/?stopped_before={day2}"))) == {
        first.pk,
        free.pk,
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("state=gone", "state"),
        ("site=harbour", "site"),
        ("stopped_after=yesterday", "stopped_after"),
        ("stopped_after=2025-03-05&stopped_before=2025-03-04", "stopped_before"),
    ],
)
def test_it_answers_400_naming_a_bad_filter(operator_api, orders, query, field):
    response = operator_api.get(f"/api/v1/orders/?{query}")
    assert response.status_code == 400 and field in response.json()


def test_it_shows_an_order_with_its_lines(support_api, orders):
    first = orders["orders"][0]
    body = support_api.get(f"/api/v1/orders/{first.pk}/").json()
    assert body["driver"] == "dana-driver" and body["charge_point"] == "CP-HARBOUR"
    assert body["total_excl_vat"] == "3.0000" and body["total_incl_vat"] == "3.6000"
    assert body["lines"] == [
        {
            "position": 0,
            "kind": "normal",
            "dimension": "ENERGY",
            "description": "Energy",
            "volume": "10.000000",
            "unit_price": "0.300000",
            "vat_rate": "20.000000",
            "amount_excl_vat": "3.0000",
            "amount_incl_vat": "3.6000",
            "created_at": body["lines"][0]["created_at"],
        }
    ]
    assert body["priced"]["total_energy"] == "10"
    assert support_api.get("/api/v1/orders/999999/").status_code == 404


@pytest.mark.parametrize(
    ("persona", "orders_status", "revenue_status"),
    [
        ("operator_api", 200, 200),
        ("support_api", 200, 403),
        ("driver_api", 403, 403),
        ("anonymous_api", 401, 401),
    ],
)
def test_it_lets_each_persona_read_what_its_role_allows(
    request, orders, persona, orders_status, revenue_status
):
    client = request.getfixturevalue(persona)
    first = orders["orders"][0]
    assert client.get("/api/v1/orders/").status_code == orders_status
    assert client.get(f"/api/v1/orders/{first.pk}/").status_code == orders_status
    assert client.get("/api/v1/orders/export.csv").status_code == orders_status
    assert client.get("/api/v1/sessions/export.csv").status_code == orders_status
    assert client.get("/api/v1/revenue/").status_code == revenue_status


def test_it_refuses_writes_to_orders(operator_api, orders):
    first = orders["orders"][0]
    assert operator_api.delete(f"/api/v1/orders/{first.pk}/").status_code == 405
    assert operator_api.post("/api/v1/orders/", {}).status_code == 405


def read_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_it_exports_orders_of_a_date_range_as_csv(operator_api, orders):
    first, _, free = orders["orders"]
    rows = read_csv(operator_api.get("/api/v1/orders/export.csv?from=2025-03-03&to=2025-03-04"))
    assert [int(row["order"]) for row in rows] == [free.pk, first.pk]  # by session end
    row = next(r for r in rows if int(r["order"]) == first.pk)
    assert row["charge_point"] == "CP-HARBOUR" and row["site"] == "Harbour"
    assert row["driver"] == "dana-driver" and row["total_excl_vat"] == "3.0000"
    assert row["stopped_at"] == "2025-03-03T10:00:00Z"
    everything = read_csv(operator_api.get("/api/v1/orders/export.csv"))
    assert len(everything) == 3
    bad = operator_api.get("/api/v1/orders/export.csv?from=2025-03-05&to=2025-03-04")
    assert bad.status_code == 400 and "to" in bad.json()


def test_it_exports_sessions_with_their_orders_as_csv(operator_api, orders):
    running = stopped_session(started_at=START + dt.timedelta(days=3))
    running.stopped_at = None
    running.save()
    rows = read_csv(operator_api.get("/api/v1/sessions/export.csv?from=2025-03-01"))
    assert len(rows) == 4
    by_tx = {int(row["transaction"]): row for row in rows}
    assert by_tx[running.pk]["order"] == "" and by_tx[running.pk]["stopped_at"] == ""
    first = orders["orders"][0]
    assert by_tx[first.transaction_id]["order"] == str(first.pk)
    assert by_tx[first.transaction_id]["energy_wh"] == "10000"


def test_it_sums_revenue_per_day_and_site_in_one_query(
    operator_api, orders, django_assert_num_queries
):
    with django_assert_num_queries(1):
        rows = revenue_per_day(since=START, until=START + dt.timedelta(days=7))
    harbour = [row for row in rows if row["site"] == orders["site"].pk]
    assert [(row["day"].isoformat(), row["total_excl_vat"]) for row in harbour] == [
        ("2025-03-03", Decimal("3.0000")),
        ("2025-03-04", Decimal("6.0000")),
    ]
    elsewhere = [row for row in rows if row["site"] is None]
    assert elsewhere[0]["orders"] == 1 and elsewhere[0]["free_orders"] == 1

    body = operator_api.get(f"/api/v1/revenue/?site={orders['site'].pk}&from=2025-03-04").json()
    assert body == [
        {
            "day": "2025-03-04",
            "site": orders["site"].pk,
            "site_name": "Harbour",
            "currency": "EUR",
            "orders": 1,
            "free_orders": 0,
            "energy_kwh": "20.000000",
            "total_excl_vat": "6.0000",
            "total_incl_vat": "7.2000",
        }
    ]
    assert Order.objects.count() == 3
