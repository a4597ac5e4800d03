"""The tariff frozen at the start, and the cost so far of a session, computed on read."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.models import Order, SessionPricing, Site, TariffAssignment
from billing.services.orders import order_create, session_pricing_snapshot
from csms.services.transactions import transaction_start
from tests.billing.orders.support import START, add_samples, make_tariff, publish, stopped_session
from tests.factories import make_charge_point

pytestmark = pytest.mark.django_db


def test_it_freezes_the_tariff_at_start_and_a_later_edit_does_not_change_the_price(
    django_capture_on_commit_callbacks, eager_celery
):
    tariff = make_tariff(energy="0.30", vat="20")
    station = make_charge_point(identity="CP-SNAP")
    with django_capture_on_commit_callbacks(execute=True):
        tx, _ = transaction_start(
            charge_point=station, connector_id=1, id_tag="T", meter_start=0, timestamp=START
        )
    snapshot = SessionPricing.objects.get(transaction=tx)
    assert snapshot.taken == SessionPricing.Taken.START
    assert snapshot.tariff_version == tariff.current_version

    publish(tariff, energy="0.90", vat="20")  # mid-session
    add_samples(tx, [(30, 5000)])
    tx.stopped_at, tx.meter_stop, tx.energy_wh = START + dt.timedelta(hours=1), 10_000, 10_000
    tx.save()

    order = order_create(transaction_id=tx.pk)
    assert order is not None and order.total_excl_vat == Decimal("3.00")
    # A session starting after the edit gets the new price.
    later = stopped_session(charge_point=station, started_at=START + dt.timedelta(days=1))
    assert order_create(transaction_id=later.pk).total_excl_vat == Decimal("9.00")


def test_it_takes_the_queries_it_must_at_start_and_none_in_the_write(django_assert_num_queries):
    station = make_charge_point(identity="CP-Q")
    make_tariff()
    # The receiver only registers an on-commit callback: the start costs what it did.
    with django_assert_num_queries(6):
        transaction_start(
            charge_point=station, connector_id=1, id_tag="T", meter_start=0, timestamp=START
        )


def test_it_records_the_site_timezone_and_why_that_tariff():
    site = Site.objects.create(name="Harbour", country="NL", timezone="Europe/Amsterdam")
    station = make_charge_point(identity="CP-SITE", site=site)
    special = make_tariff("Harbour night", is_default=False, energy="0.20")
    TariffAssignment.objects.create(tariff=special, site=site)
    tx = stopped_session(charge_point=station)

    snapshot = session_pricing_snapshot(transaction_id=tx.pk)

    assert snapshot.timezone == "Europe/Amsterdam"
    assert snapshot.tariff_version == special.current_version
    assert "site" in snapshot.reason.lower()
    assert snapshot.tariff["currency"] == "EUR"
    assert session_pricing_snapshot(transaction_id=tx.pk) == snapshot  # idempotent


def test_the_api_shows_the_cost_so_far_of_a_running_session(operator_api):
    make_tariff(energy="0.30", time="1.20", vat="20")
    tx = stopped_session(minutes=60, energy_wh=10_000)
    tx.stopped_at = tx.meter_stop = tx.energy_wh = None
    tx.save()

    body = operator_api.get(f"/api/v1/transactions/{tx.pk}/").json()

    # Up to its last sample (45 min, 7.5 kWh): 2.25 + 0.90.
    assert body["cost_so_far"] == {"excl_vat": "3.15", "incl_vat": "3.78", "currency": "EUR"}
    assert "cost_so_far" not in operator_api.get("/api/v1/transactions/").json()["results"][0]


def test_the_api_shows_null_when_no_tariff_applies(operator_api):
    tx = stopped_session()
    assert operator_api.get(f"/api/v1/transactions/{tx.pk}/").json()["cost_so_far"] is None


def test_the_api_schema_declares_the_cost_so_far(operator_api):
    schema = operator_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    detail = schema["components"]["schemas"]["TransactionDetail"]["properties"]
    assert "cost_so_far" in detail and "meter_stop_implausible" in detail


def test_the_admin_transaction_page_shows_the_cost_so_far(client, operator):
    make_tariff(energy="0.30", vat="20")
    tx = stopped_session(minutes=60, energy_wh=10_000)
    client.force_login(operator)

    page = client.get(f"/admin/csms/transaction/{tx.pk}/change/").content.decode()

    assert "cost so far" in page.lower()
    assert "3.00 EUR excl. VAT, 3.60 incl. VAT" in page


def test_the_admin_order_page_lists_its_lines(client, operator):
    make_tariff(energy="0.30", flat="1.00")
    order = order_create(transaction_id=stopped_session().pk)
    assert isinstance(order, Order)
    client.force_login(operator)

    page = client.get(f"/admin/billing/order/{order.pk}/change/").content.decode()
    listing = client.get("/admin/billing/order/")

    assert "Session fee" in page and "Energy" in page
    assert listing.status_code == 200
