"""Invoices: numbers without gaps per year (a rolled-back issue gives its number back), and
the PDF rendered once into storage with the seller, buyer, session, lines, VAT breakdown and
totals."""

from __future__ import annotations

import base64
import datetime as dt
import re
import zlib
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from billing.models import Order
from billing.services.orders import order_create
from tests.billing.orders.support import make_tariff, stopped_session
from tests.factories import make_id_tag
from tests.wallet.factories import fund, make_driver
from tests.wallet.orders_support import app_order, sited_charge_point
from wallet.invoices_pdf import pdf_text
from wallet.models import Invoice
from wallet.services.invoices import invoice_issue, invoice_render

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


def paid_order(driver: Any | None = None) -> Order:
    """An order billing wrote (no settlement ran: its on-commit event is not executed here),
    marked paid as settlement would."""
    driver = driver or make_driver()
    tag = make_id_tag(user=driver)
    order = order_create(transaction_id=stopped_session(id_tag=tag.id_tag, id_tag_ref=tag).pk)
    assert order is not None
    order.state = Order.State.PAID
    order.save()
    return order


def issue(order: Order) -> Invoice:
    with transaction.atomic():
        return invoice_issue(order=order)


def at(year: int) -> Any:
    return mock.patch(
        "wallet.services.invoices.timezone.now",
        return_value=dt.datetime(year, 6, 1, 12, tzinfo=dt.UTC),
    )


def pdf_strings(content: bytes) -> str:
    """The text a PDF shows (the strings of its text operators), decoded as Helvetica's
    WinAnsi encoding."""
    out = []
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", content, re.S):
        # reportlab's page streams: /Filter [/ASCII85Decode /FlateDecode]
        data = zlib.decompress(base64.a85decode(raw.strip().removesuffix(b"~>")))
        for literal in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", data, re.S):
            text = re.sub(
                rb"\\([0-7]{1,3}|.)",
                lambda m: bytes([int(m.group(1), 8)]) if m.group(1).isdigit() else m.group(1),
                literal,
            )
            out.append(text.decode("cp1252"))
    return " ".join(out)


# --- Numbers --------------------------------------------------------------------------------


def test_it_numbers_invoices_sequentially_within_a_year():
    make_tariff(energy="0.30", vat="20")
    with at(2025):
        numbers = [issue(paid_order()).number for _ in range(3)]
    assert numbers == ["INV-2025-000001", "INV-2025-000002", "INV-2025-000003"]


def test_it_gives_an_order_one_invoice_however_often_it_is_issued():
    make_tariff(energy="0.30", vat="20")
    order = paid_order()
    first = issue(order)
    assert issue(order) == first and Invoice.objects.count() == 1


def test_a_rolled_back_issue_gives_its_number_back():
    make_tariff(energy="0.30", vat="20")
    with at(2025):
        issue(paid_order())
        lost = paid_order()
        with pytest.raises(RuntimeError), transaction.atomic():
            assert invoice_issue(order=lost).number == "INV-2025-000002"
            raise RuntimeError("the settlement failed after the invoice was numbered")
        assert not Invoice.objects.filter(order=lost).exists()
        assert issue(paid_order()).number == "INV-2025-000002"


def test_a_new_year_starts_at_one():
    make_tariff(energy="0.30", vat="20")
    with at(2025):
        issue(paid_order())
        issue(paid_order())
    with at(2026):
        invoice = issue(paid_order())
    assert (invoice.year, invoice.sequence, invoice.number) == (2026, 1, "INV-2026-000001")


def test_it_freezes_totals_and_the_vat_breakdown_at_the_minor_unit():
    make_tariff(energy="0.3333", vat="21")  # 10 kWh: 3.333 -> 3.33, VAT 0.70
    invoice = issue(paid_order(make_driver(first_name="Zoë", last_name="Müller")))
    assert (invoice.total_excl_vat, invoice.total_vat, invoice.total_incl_vat) == (
        Decimal("3.33"),
        Decimal("0.70"),
        Decimal("4.03"),
    )
    assert invoice.vat_breakdown == [{"rate": "21", "base": "3.33", "vat": "0.70"}]
    assert invoice.buyer["name"] == "Zoë Müller"
    assert invoice.seller["vat_id"] == "NL000000000B01"


# --- The PDF --------------------------------------------------------------------------------


def test_it_renders_the_pdf_into_storage_once():
    make_tariff(energy="0.30", vat="20")
    invoice = issue(paid_order())  # in a test, nothing runs on commit: not rendered yet
    assert invoice.rendered_at is None and not invoice.pdf

    rendered = invoice_render(invoice_id=invoice.pk)
    again = invoice_render(invoice_id=invoice.pk)

    assert rendered.rendered_at is not None
    assert rendered.pdf.name == f"invoices/{timezone.now():%Y}/{invoice.number}.pdf"
    assert default_storage.open(rendered.pdf.name).read().startswith(b"%PDF-")
    assert (again.pdf.name, again.rendered_at) == (rendered.pdf.name, rendered.rendered_at)


def test_it_renders_again_when_the_file_was_lost():
    make_tariff(energy="0.30", vat="20")
    invoice = invoice_render(invoice_id=issue(paid_order()).pk)
    default_storage.delete(invoice.pdf.name)

    again = invoice_render(invoice_id=invoice.pk)

    assert default_storage.exists(again.pdf.name)


def test_the_pdf_shows_seller_buyer_session_lines_vat_breakdown_and_totals():
    make_tariff(energy="0.30", time="1.20", vat="20")
    zoe = make_driver(email="zoe@example.com", first_name="Zoë", last_name="Müller")
    fund(zoe, "20.00")
    order, _ = app_order(zoe, charge_point=sited_charge_point())  # settled, invoiced, rendered
    invoice = Invoice.objects.get(order=order)

    text = pdf_strings(invoice.pdf.open("rb").read())

    for expected in [
        "Open CSMS Charging B.V.",
        "Example Street 1, 1000 AA Amsterdam",
        "VAT ID NL000000000B01",
        "billing@example.com",
        "Zoë Müller",
        "zoe@example.com",
        invoice.number,
        f"{timezone.localtime(invoice.issued_at):%Y-%m-%d}",
        f"{order.pk} (session {order.transaction_id})",
        "Garage North 1 (",  # station name and identity
        "Garage Nord Straße",
        "Damrak 1, 1012 LG Amsterdam, NLD",
        "2025-03-03 10:00 CET",  # started 09:00 UTC, in the site's zone
        "2025-03-03 11:00 CET",
        "1:00:00",
        "10.000 kWh",
        "Energy",
        "Charging time",
        "20%",
        "Total excl. VAT",
        "4.20 EUR",
        "0.84 EUR",
        "5.04 EUR",
        "Paid from wallet",
    ]:
        assert expected in text, expected


def test_it_prints_latin_names_as_they_are_and_folds_other_scripts():
    assert pdf_text("Zoë Müller, Søren Åberg, €") == "Zoë Müller, Søren Åberg, €"
    assert pdf_text("Łukasz Dvořák") == "Lukasz Dvorák"
    assert pdf_text("Дмитрий 王") == "??????? ?"
    assert pdf_text("A & <B>") == "A &amp; &lt;B&gt;"


def test_billings_rounding_line_goes_to_the_rated_vat_row_not_a_row_without_rate():
    # Energy 7.85 + time 1.90 + fee 0.50 incl. VAT 9.50 + 2.30 + 0.61 = 12.41, priced as a
    # whole 12.40: billing's ROUNDING line (no rate) carries the -0.01.
    make_tariff(energy="0.35", time="1.20", flat="0.50", vat="21")
    driver = make_driver()
    tag = make_id_tag(user=driver)
    tx = stopped_session(minutes=95, energy_wh=22_431, id_tag=tag.id_tag, id_tag_ref=tag)
    order = order_create(transaction_id=tx.pk)
    assert order is not None and order.lines.filter(dimension="ROUNDING").exists()
    order.state = Order.State.PAID
    order.save()

    invoice = issue(order)

    assert invoice.vat_breakdown == [{"rate": "21", "base": "10.25", "vat": "2.15"}]
    assert invoice.total_incl_vat == Decimal("12.40")
