"""The driver's orders in the app (history and receipts, invoice PDF) and the operators'
invoices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.files.storage import default_storage

from billing.models import Order
from tests.billing.orders.support import make_tariff
from tests.factories import make_charge_point
from tests.wallet.factories import fund
from tests.wallet.orders_support import app_order, rfid_order, sited_charge_point
from wallet.models import Invoice, Refund, Wallet

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def paid(app_driver: Any) -> Order:
    make_tariff(energy="0.30", vat="20")
    fund(app_driver, "20.00")
    order, _ = app_order(app_driver, hold="10.00", charge_point=sited_charge_point())
    return order


def url(order: Order, suffix: str = "") -> str:
    return f"/api/v1/app/orders/{order.pk}/{suffix}"


# --- List and detail --------------------------------------------------------------------------


def test_it_shows_a_paid_order_with_session_lines_totals_charges_and_invoice(driver_app, paid):
    response = driver_app.get(url(paid))

    assert response.status_code == 200, response.data
    data = response.json()
    invoice = Invoice.objects.get(order=paid)
    assert data["station"]["name"] == "Garage North 1"
    assert data["station"]["identity"] == paid.charge_point.identity
    assert data["site"] == {
        "name": "Garage Nord Straße",
        "address": "Damrak 1",
        "postal_code": "1012 LG",
        "city": "Amsterdam",
        "country": "NLD",
        "timezone": "Europe/Amsterdam",
    }
    assert data["connector_id"] == 1
    assert data["started_at"] == "2025-03-03T09:00:00Z"
    assert data["stopped_at"] == "2025-03-03T10:00:00Z"
    assert (data["duration_seconds"], data["energy_kwh"]) == (3600, "10")
    assert data["lines"] == [
        {
            "position": 0,
            "kind": "normal",
            "dimension": "ENERGY",
            "description": "Energy",
            "volume": "10",
            "unit_price": "0.30",
            "vat_rate": "20",
            "amount_excl_vat": "3.00",
            "amount_incl_vat": "3.60",
        }
    ]
    assert (data["total_excl_vat"], data["total_vat"], data["total_incl_vat"]) == (
        "3.00",
        "0.60",
        "3.60",
    )
    assert data["vat_known"] is True
    assert (data["currency"], data["state"], data["charged"]) == ("EUR", "paid", "3.60")
    assert [(c["kind"], c["amount"]) for c in data["charges"]] == [("capture", "3.60")]
    assert data["refunds"] == []
    assert data["invoice"]["number"] == invoice.number
    assert data["invoice"]["download_url"] == f"http://testserver{url(paid, 'invoice.pdf')}"


def test_it_shows_an_operators_refund_of_the_order(driver_app, paid, operator):
    Refund.objects.create(
        order=paid,
        wallet=Wallet.objects.get(user=paid.driver),
        amount=Decimal("1.00"),
        currency="EUR",
        reason="Connector was faulty",
        idempotency_key="refund-1",
        created_by=operator,
    )
    refunds = driver_app.get(url(paid)).json()["refunds"]
    assert [(r["amount"], r["reason"], r["state"]) for r in refunds] == [
        ("1.00", "Connector was faulty", "posted")
    ]


def test_an_unpaid_order_has_no_invoice(driver_app, app_driver):
    make_tariff(energy="0.30", vat="20")
    fund(app_driver, "2.00")
    order, _ = app_order(app_driver, hold="2.00")

    data = driver_app.get(url(order)).json()

    assert (data["state"], data["invoice"], data["charged"]) == ("unpaid", None, "3.60")
    assert driver_app.get(url(order, "invoice.pdf")).status_code == 404


def test_it_lists_the_drivers_orders_newest_first_in_pages(driver_app, app_driver, other_driver):
    make_tariff(energy="0.30", vat="20")
    fund(app_driver, "50.00")
    fund(other_driver, "50.00")
    mine = [rfid_order(app_driver) for _ in range(3)]
    rfid_order(other_driver)

    first = driver_app.get("/api/v1/app/orders/", {"page_size": 2}).json()
    second = driver_app.get(first["next"]).json()

    ids = [o["id"] for o in first["results"] + second["results"]]
    # Same stop time (the builders' sessions): newest id first.
    assert ids == [o.pk for o in reversed(mine)]
    assert second["next"] is None


def test_a_page_of_twenty_orders_costs_a_fixed_number_of_queries(
    driver_app, app_driver, django_assert_max_num_queries
):
    make_tariff(energy="0.30", vat="20")
    fund(app_driver, "200.00")
    for _ in range(20):
        rfid_order(app_driver)
    Refund.objects.create(
        order=Order.objects.first(),
        wallet=Wallet.objects.get(user=app_driver),
        amount=Decimal("1.00"),
        currency="EUR",
        reason="goodwill",
        idempotency_key="r-1",
    )

    # user, wallet, the page, lines, refunds, charges (and a savepoint or two).
    with django_assert_max_num_queries(8):
        response = driver_app.get("/api/v1/app/orders/")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 20


def test_another_drivers_order_is_not_found(other_driver_app, paid):
    assert other_driver_app.get(url(paid)).status_code == 404
    assert other_driver_app.get(url(paid, "invoice.pdf")).status_code == 404
    assert other_driver_app.get("/api/v1/app/orders/").json()["results"] == []


def test_operators_and_anonymous_callers_are_refused(operator_app, anonymous_app, paid):
    for path in ("/api/v1/app/orders/", url(paid), url(paid, "invoice.pdf")):
        assert operator_app.get(path).status_code == 403
        assert anonymous_app.get(path).status_code == 401


# --- The driver's PDF -------------------------------------------------------------------------


def test_the_driver_downloads_the_invoice_pdf(driver_app, paid):
    invoice = Invoice.objects.get(order=paid)

    response = driver_app.get(url(paid, "invoice.pdf"), HTTP_ACCEPT="application/pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert response.content.startswith(b"%PDF-")


def test_an_invoice_not_rendered_yet_is_rendered_on_demand(driver_app, paid):
    invoice = Invoice.objects.get(order=paid)
    default_storage.delete(invoice.pdf.name)
    Invoice.objects.filter(pk=invoice.pk).update(pdf="", rendered_at=None)

    response = driver_app.get(url(paid, "invoice.pdf"))

    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    invoice.refresh_from_db()
    assert invoice.rendered_at is not None and default_storage.exists(invoice.pdf.name)


def test_a_missing_order_is_a_json_404_even_when_asking_for_a_pdf(driver_app, paid):
    response = driver_app.get(
        "/api/v1/app/orders/999999/invoice.pdf", HTTP_ACCEPT="application/pdf"
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "No order 999999."}


# --- Operators' invoices ----------------------------------------------------------------------


def test_operators_list_invoices_and_filter_them(operator_api, paid):
    invoice = Invoice.objects.get(order=paid)

    rows = operator_api.get("/api/v1/invoices/").json()["results"]
    by_year = operator_api.get("/api/v1/invoices/", {"year": invoice.year}).json()["results"]
    other_year = operator_api.get("/api/v1/invoices/", {"year": 1999}).json()["results"]
    by_number = operator_api.get("/api/v1/invoices/", {"number": "000001"}).json()["results"]

    assert [r["number"] for r in rows] == [invoice.number]
    assert rows[0]["order"] == paid.pk and rows[0]["total_incl_vat"] == "3.6000"
    assert rows[0]["download_url"] == f"http://testserver/api/v1/invoices/{invoice.number}.pdf"
    assert len(by_year) == 1 and other_year == [] and len(by_number) == 1
    assert operator_api.get("/api/v1/invoices/", {"year": "soon"}).status_code == 400


def test_operators_download_an_invoice_pdf_by_number(operator_api, paid):
    invoice = Invoice.objects.get(order=paid)

    response = operator_api.get(f"/api/v1/invoices/{invoice.number}.pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert operator_api.get("/api/v1/invoices/INV-1999-000001.pdf").status_code == 404


def test_support_staff_drivers_and_anonymous_callers_get_no_invoices(
    support_api, driver_api, anonymous_api, paid
):
    number = Invoice.objects.get(order=paid).number
    for path in ("/api/v1/invoices/", f"/api/v1/invoices/{number}.pdf"):
        assert support_api.get(path).status_code == 403
        assert driver_api.get(path).status_code == 403
        assert anonymous_api.get(path).status_code == 401


def test_an_order_at_a_station_without_a_site_has_no_site(driver_app, app_driver):
    make_tariff(energy="0.30", vat="20")
    fund(app_driver, "20.00")
    order, _ = app_order(app_driver, charge_point=make_charge_point())
    assert driver_app.get(url(order)).json()["site"] is None


def test_an_order_without_a_vat_rate_charges_the_amount_excl_vat(driver_app, app_driver):
    make_tariff(energy="0.30", vat=None)
    fund(app_driver, "20.00")
    order, _ = app_order(app_driver)

    data = driver_app.get(url(order)).json()

    assert data["vat_known"] is False
    assert (data["total_excl_vat"], data["total_vat"], data["total_incl_vat"]) == (
        "3.00",
        "0.00",
        "3.00",
    )
    assert data["lines"][0]["vat_rate"] is None and data["charged"] == "3.00"
