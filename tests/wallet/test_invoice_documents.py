"""Invoicing documents after the invoice: an issued invoice is never changed; money given back
(an operator's refund, a re-price lower) gets a credit note, money charged on top (a re-price
higher) a supplementary invoice, each correcting the order's first invoice and numbered in the
same gapless series. An order's documents always add up to what its driver net paid."""

from __future__ import annotations

import importlib
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import Order
from tests.billing.orders.support import add_samples, make_tariff
from tests.wallet.factories import fund
from tests.wallet.orders_support import app_order, committed, ledger_verified, reprice
from tests.wallet.test_invoices import pdf_strings
from wallet.models import Invoice, JournalEntry, Wallet
from wallet.services.invoices import vat_breakdown_scaled
from wallet.services.ledger import ledger_receivable_settle, wallet_accounts, wallet_lock
from wallet.services.refunds import refund_order
from wallet.services.settlement import order_settle, receivables_settle_orders

pytestmark = pytest.mark.django_db

Z = Decimal("0")


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def dana(app_driver: Any) -> Any:
    """The driver of ``driver_app`` (Dana Driver)."""
    return app_driver


def refund(order: Order, operator: Any, amount: str | None = None, *, key: str = "", **kw: Any):
    with committed():
        return refund_order(
            order=order,
            amount=None if amount is None else Decimal(amount),
            reason=kw.get("reason", "Station fault"),
            created_by=operator,
            idempotency_key=key or str(uuid.uuid4()),
        )


def documents(order: Order) -> list[Invoice]:
    return list(Invoice.objects.filter(order=order).order_by("year", "sequence"))


def net_paid(order: Order) -> Decimal:
    """What the driver net paid for the order: captures less every refund (re-price or an
    operator's), from the ledger."""
    entries = JournalEntry.objects.filter(order=order)
    captured = sum((e.amount for e in entries if e.kind == "capture"), Z)
    refunded = sum((e.amount for e in entries if e.kind == "refund"), Z)
    return captured - refunded


def documented(order: Order) -> Decimal:
    return sum((d.total_incl_vat for d in documents(order)), Z)


def breakdown_adds_up(document: Invoice) -> bool:
    rows = document.vat_breakdown
    base = sum((Decimal(r["base"]) for r in rows), Z)
    vat = sum((Decimal(r["vat"]) for r in rows), Z)
    return (base, vat) == (document.total_excl_vat, document.total_vat)


def sequences_are_gapless() -> bool:
    for year in set(Invoice.objects.values_list("year", flat=True)):
        numbers = sorted(Invoice.objects.filter(year=year).values_list("sequence", flat=True))
        if numbers != list(range(1, len(numbers) + 1)):
            return False
    return True


@pytest.fixture
def invoiced(dana: Any) -> Order:
    """A paid order of 3.60 (3.00 + 0.60 VAT at 20 %) with its invoice."""
    make_tariff(energy="0.30", vat="20")
    fund(dana, "20.00")
    order, _ = app_order(dana, hold="10.00")
    assert order.state == Order.State.PAID and len(documents(order)) == 1
    return order


# --- Refunds ----------------------------------------------------------------------------------


def test_a_refund_of_an_invoiced_order_issues_a_credit_note_with_the_next_number(
    invoiced, operator
):
    invoice = documents(invoiced)[0]

    refund(invoiced, operator, reason="Station fault")

    first, note = documents(invoiced)
    assert first == invoice and first.total_incl_vat == Decimal("3.60")  # never changed
    assert note.kind == Invoice.Kind.CREDIT_NOTE
    assert note.corrects == invoice and note.reason == "Station fault"
    assert (note.year, note.sequence) == (invoice.year, invoice.sequence + 1)
    assert note.number == f"INV-{note.year}-{note.sequence:06d}"
    assert (note.total_excl_vat, note.total_vat, note.total_incl_vat) == (
        Decimal("-3.00"),
        Decimal("-0.60"),
        Decimal("-3.60"),
    )
    assert note.vat_breakdown == [{"rate": "20", "base": "-3.00", "vat": "-0.60"}]
    assert note.buyer == invoice.buyer and note.seller == invoice.seller
    assert note.idempotency_key.startswith("refund:")
    assert note.rendered_at is not None  # rendered after commit
    assert documented(invoiced) == net_paid(invoiced) == Z


def test_two_partial_refunds_issue_two_credit_notes_whose_breakdowns_add_up(invoiced, operator):
    refund(invoiced, operator, "1.00", reason="Slow charging")
    refund(invoiced, operator, "1.00", reason="Goodwill")

    _, first_note, second_note = documents(invoiced)
    assert [d.kind for d in (first_note, second_note)] == ["credit_note", "credit_note"]
    assert [d.reason for d in (first_note, second_note)] == ["Slow charging", "Goodwill"]
    for note in (first_note, second_note):
        assert note.total_incl_vat == Decimal("-1.00")
        assert note.total_vat == Decimal("-0.17")  # 0.60 * 1.00 / 3.60, rounded
        assert breakdown_adds_up(note)
    assert documented(invoiced) == net_paid(invoiced) == Decimal("1.60")
    assert sequences_are_gapless()


def test_the_last_partial_refund_takes_the_exact_vat_remainder(invoiced, operator):
    refund(invoiced, operator, "1.00")
    refund(invoiced, operator)  # the rest: 2.60

    notes = documents(invoiced)[1:]
    assert [n.total_incl_vat for n in notes] == [Decimal("-1.00"), Decimal("-2.60")]
    assert sum((n.total_vat for n in notes), Z) == Decimal("-0.60")
    assert documented(invoiced) == net_paid(invoiced) == Z


def test_a_retried_refund_issues_no_second_credit_note(invoiced, operator):
    first = refund(invoiced, operator, "1.00", key="refund-once")
    again = refund(invoiced, operator, "1.00", key="refund-once")

    assert again.refund == first.refund and not again.created
    assert [d.kind for d in documents(invoiced)] == ["invoice", "credit_note"]
    assert documented(invoiced) == net_paid(invoiced)


def test_a_refund_of_an_unpaid_order_is_credited_with_its_invoice_once_paid(dana, operator):
    make_tariff(energy="0.30", vat="20")
    fund(dana, "2.00")
    order, _ = app_order(dana, hold="2.00")  # 3.60: 1.60 owed
    assert order.state == Order.State.UNPAID

    refund(order, operator, "1.00", reason="Goodwill")  # pays 1.00 of what is owed
    assert documents(order) == []  # nothing invoiced yet: nothing to correct
    fund(dana, "5.00")
    with transaction.atomic():
        wallet = wallet_lock(wallet_id=Wallet.objects.get(user=dana).pk)
        ledger_receivable_settle(
            wallet=wallet, accounts=wallet_accounts(wallet=wallet), idempotency_key="settle-1"
        )
        assert receivables_settle_orders(wallet=wallet) == 1

    invoice, note = documents(order)
    assert (invoice.kind, invoice.total_incl_vat) == ("invoice", Decimal("3.60"))
    assert (note.kind, note.corrects, note.reason) == ("credit_note", invoice, "Goodwill")
    assert note.total_incl_vat == Decimal("-1.00") and breakdown_adds_up(note)
    assert documented(order) == net_paid(order) == Decimal("2.60")


def test_a_full_refund_of_a_never_paid_order_issues_no_document(dana, operator):
    make_tariff(energy="0.30", vat="20")
    fund(dana, "2.00")
    order, _ = app_order(dana, hold="2.00")

    refund(order, operator)

    assert documents(order) == [] and net_paid(order) == Z


# --- Re-prices --------------------------------------------------------------------------------


def test_a_reprice_higher_after_the_invoice_issues_a_supplementary_invoice(dana):
    make_tariff(energy="0.30", parking="2.00", vat="20")
    fund(dana, "20.00")
    order, _ = app_order(dana, hold="10.00", samples=False)
    invoice = documents(order)[0]
    assert invoice.total_incl_vat == Decimal("3.60")

    add_samples(order.transaction, [(30, 11_000), (45, 11_000)])
    order = reprice(order.transaction)  # + 0.5 h parking: 1.00 + 0.20 VAT
    reprice(order.transaction)  # nothing new
    order_settle(order_id=order.pk)  # a retried settlement issues nothing more

    first, extra = documents(order)
    assert first == invoice and first.total_incl_vat == Decimal("3.60")
    assert (extra.kind, extra.corrects) == (Invoice.Kind.INVOICE, invoice)
    assert (extra.total_excl_vat, extra.total_vat, extra.total_incl_vat) == (
        Decimal("1.00"),
        Decimal("0.20"),
        Decimal("1.20"),
    )
    assert extra.vat_breakdown == [{"rate": "20", "base": "1.00", "vat": "0.20"}]
    assert extra.idempotency_key == f"order:{order.pk}:reprice:{order.priced_through_sample}"
    assert "re-priced higher" in extra.reason
    assert documented(order) == net_paid(order) == Decimal("4.80")
    assert ledger_verified()


def test_a_reprice_lower_after_the_invoice_issues_a_credit_note(dana):
    make_tariff(energy="0.30", time="1.00", vat="20", max_price=None)
    fund(dana, "20.00")
    order, _ = app_order(dana, hold="10.00", samples=False)  # 4.80
    add_samples(order.transaction, [(30, 11_000), (45, 11_000)])

    order = reprice(order.transaction)  # 4.20
    order_settle(order_id=order.pk)

    invoice, note = documents(order)
    assert invoice.total_incl_vat == Decimal("4.80")
    assert (note.kind, note.corrects) == (Invoice.Kind.CREDIT_NOTE, invoice)
    assert (note.total_excl_vat, note.total_vat, note.total_incl_vat) == (
        Decimal("-0.50"),
        Decimal("-0.10"),
        Decimal("-0.60"),
    )
    assert breakdown_adds_up(note) and "re-priced lower" in note.reason
    assert documented(order) == net_paid(order) == Decimal("4.20")


def test_a_reprice_before_payment_issues_no_correction_the_invoice_has_the_final_total(dana):
    make_tariff(energy="0.30", parking="2.00", vat="20")
    fund(dana, "2.00")
    order, _ = app_order(dana, hold="2.00", samples=False)  # 3.60: unpaid
    add_samples(order.transaction, [(30, 11_000), (45, 11_000)])
    order = reprice(order.transaction)  # 4.80: the 1.20 more is owed too
    assert order.state == Order.State.UNPAID and documents(order) == []

    fund(dana, "10.00")
    with transaction.atomic():
        wallet = wallet_lock(wallet_id=Wallet.objects.get(user=dana).pk)
        ledger_receivable_settle(
            wallet=wallet, accounts=wallet_accounts(wallet=wallet), idempotency_key="settle-1"
        )
        receivables_settle_orders(wallet=wallet)

    (invoice,) = documents(order)
    assert (invoice.kind, invoice.corrects, invoice.total_incl_vat) == (
        "invoice",
        None,
        Decimal("4.80"),
    )
    assert documented(order) == net_paid(order) == Decimal("4.80")


def test_a_reprice_and_refunds_keep_the_documents_equal_to_what_was_paid(dana, operator):
    make_tariff(energy="0.30", parking="2.00", vat="20")
    fund(dana, "20.00")
    order, _ = app_order(dana, hold="10.00", samples=False)
    refund(order, operator, "0.50")
    add_samples(order.transaction, [(30, 11_000), (45, 11_000)])
    order = reprice(order.transaction)
    refund(order, operator)

    kinds = [(d.kind, d.total_incl_vat) for d in documents(order)]
    assert kinds == [
        ("invoice", Decimal("3.60")),
        ("credit_note", Decimal("-0.50")),
        ("invoice", Decimal("1.20")),
        ("credit_note", Decimal("-4.30")),
    ]
    assert all(breakdown_adds_up(d) for d in documents(order))
    assert documented(order) == net_paid(order) == Z
    assert sequences_are_gapless()


# --- Numbers and constraints ------------------------------------------------------------------


def test_numbers_stay_gapless_across_invoices_and_credit_notes_of_several_orders(dana, operator):
    make_tariff(energy="0.30", vat="20")
    fund(dana, "50.00")
    first, _ = app_order(dana, hold="10.00")
    refund(first, operator, "1.00")
    second, _ = app_order(dana, hold="10.00")
    refund(first, operator, "1.00")
    refund(second, operator)

    issued = list(Invoice.objects.order_by("sequence").values_list("order_id", "kind"))
    assert issued == [
        (first.pk, "invoice"),
        (first.pk, "credit_note"),
        (second.pk, "invoice"),
        (first.pk, "credit_note"),
        (second.pk, "credit_note"),
    ]
    assert sequences_are_gapless()


def test_a_refund_that_fails_gives_its_credit_note_number_back(invoiced, operator, monkeypatch):
    from wallet.services import refunds

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("the receivable settlement failed after the credit note")

    monkeypatch.setattr(refunds, "ledger_receivable_settle", broken)
    with pytest.raises(RuntimeError):
        refund(invoiced, operator, "1.00")
    monkeypatch.undo()

    assert [d.kind for d in documents(invoiced)] == ["invoice"]
    refund(invoiced, operator, "1.00")
    assert sequences_are_gapless() and Invoice.objects.count() == 2


def test_an_order_has_one_first_invoice(invoiced):
    invoice = documents(invoiced)[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.create(
            **{
                f.attname: getattr(invoice, f.attname)
                for f in Invoice._meta.concrete_fields
                if f.name not in ("id",)
            }
            | {"number": "X-1", "sequence": 999, "idempotency_key": "twin"}
        )


def test_a_credit_note_must_correct_an_invoice_and_be_negative(invoiced):
    invoice = documents(invoiced)[0]
    fields = {
        f.attname: getattr(invoice, f.attname)
        for f in Invoice._meta.concrete_fields
        if f.name not in ("id",)
    } | {"kind": "credit_note", "number": "X-2", "sequence": 998, "idempotency_key": "cn"}
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.create(**fields | {"corrects_id": invoice.pk})  # positive
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.create(**fields | {"total_incl_vat": Decimal("-1")})  # corrects nothing


def test_the_migration_keys_existing_invoices_by_their_order(invoiced):
    from django.apps import apps

    migration = importlib.import_module("wallet.migrations.0004_invoice_documents")
    Invoice.objects.filter(order=invoiced).update(idempotency_key="")

    migration.key_existing_invoices(apps, None)

    assert documents(invoiced)[0].idempotency_key == f"order:{invoiced.pk}"


# --- VAT breakdown ----------------------------------------------------------------------------


def test_a_correction_breakdown_scales_each_rate_and_rounds_on_the_largest_row():
    rows = [
        {"rate": "9", "base": "1.00", "vat": "0.09"},
        {"rate": "21", "base": "2.00", "vat": "0.42"},
    ]  # 3.51 in all

    scaled = vat_breakdown_scaled(
        rows=rows, total=Decimal("-1.00"), vat=Decimal("-0.15"), currency="EUR"
    )

    # 0.85 excl.: 0.2833 -> 0.28 and 0.5667 -> 0.57; VAT 0.15: 0.0265 -> 0.03, 0.1235 -> 0.12
    assert scaled == [
        {"rate": "9", "base": "-0.28", "vat": "-0.03"},
        {"rate": "21", "base": "-0.57", "vat": "-0.12"},
    ]
    assert sum(Decimal(r["base"]) + Decimal(r["vat"]) for r in scaled) == Decimal("-1.00")


def test_a_correction_breakdown_without_vat_has_no_minus_zero():
    scaled = vat_breakdown_scaled(
        rows=[{"rate": "", "base": "3.00", "vat": "0.00"}],
        total=Decimal("-1.00"),
        vat=Z,
        currency="EUR",
    )
    assert scaled == [{"rate": "", "base": "-1.00", "vat": "0.00"}]


# --- PDF --------------------------------------------------------------------------------------


def test_a_credit_notes_pdf_says_credit_note_and_what_it_corrects(invoiced, operator):
    invoice = documents(invoiced)[0]
    refund(invoiced, operator, "1.20", reason="Connector fault")
    note = documents(invoiced)[1]

    with note.pdf.open("rb") as f:
        text = pdf_strings(f.read())

    assert "CREDIT NOTE" in text and "INVOICE" not in text
    assert note.number in text
    assert f"Corrects invoice {invoice.number}" in text
    assert "Connector fault" in text
    assert "-1.20 EUR" in text and "-0.20 EUR" in text
    assert f"of {timezone.localtime(invoice.issued_at):%Y-%m-%d}" in text


def test_a_supplementary_invoices_pdf_says_invoice_and_what_it_corrects(dana):
    make_tariff(energy="0.30", parking="2.00", vat="20")
    fund(dana, "20.00")
    order, _ = app_order(dana, hold="10.00", samples=False)
    add_samples(order.transaction, [(30, 11_000), (45, 11_000)])
    order = reprice(order.transaction)
    invoice, extra = documents(order)

    with extra.pdf.open("rb") as f:
        text = pdf_strings(f.read())

    assert "INVOICE" in text and "CREDIT NOTE" not in text
    assert f"Corrects invoice {invoice.number}" in text and "1.20 EUR" in text


# --- The app and the operators' API -----------------------------------------------------------


def _order_url(order: Order, suffix: str = "") -> str:
    return f"/api/v1/app/orders/{order.pk}/{suffix}"


def test_the_app_shows_the_first_invoice_and_all_documents_of_an_order(
    driver_app, invoiced, operator
):
    refund(invoiced, operator, "1.00", reason="Goodwill")
    invoice, note = documents(invoiced)

    data = driver_app.get(_order_url(invoiced)).json()

    assert data["invoice"]["number"] == invoice.number
    assert data["invoice"]["download_url"].endswith(_order_url(invoiced, "invoice.pdf"))
    assert data["documents"] == [
        {
            "number": invoice.number,
            "kind": "invoice",
            "corrects": None,
            "reason": "",
            "issued_at": data["documents"][0]["issued_at"],
            "total_incl_vat": "3.60",
            "download_url": "http://testserver"
            + _order_url(invoiced, f"documents/{invoice.number}.pdf"),
        },
        {
            "number": note.number,
            "kind": "credit_note",
            "corrects": invoice.number,
            "reason": "Goodwill",
            "issued_at": data["documents"][1]["issued_at"],
            "total_incl_vat": "-1.00",
            "download_url": "http://testserver"
            + _order_url(invoiced, f"documents/{note.number}.pdf"),
        },
    ]
    listed = driver_app.get("/api/v1/app/orders/").json()["results"][0]
    assert [d["number"] for d in listed["documents"]] == [invoice.number, note.number]


def test_the_driver_downloads_a_credit_note_and_still_gets_the_invoice_at_invoice_pdf(
    driver_app, invoiced, operator
):
    refund(invoiced, operator, "1.00")
    invoice, note = documents(invoiced)

    response = driver_app.get(_order_url(invoiced, f"documents/{note.number}.pdf"))
    first = driver_app.get(_order_url(invoiced, "invoice.pdf"))

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{note.number}.pdf"'
    assert "CREDIT NOTE" in pdf_strings(response.content)
    assert first["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'


def test_a_document_of_another_order_or_driver_is_not_found(
    driver_app, other_driver_app, invoiced, operator, dana
):
    refund(invoiced, operator, "1.00")
    note = documents(invoiced)[1]
    other_order, _ = app_order(dana, hold="10.00")
    path = _order_url(invoiced, f"documents/{note.number}.pdf")

    assert other_driver_app.get(path).status_code == 404
    assert driver_app.get(_order_url(other_order, f"documents/{note.number}.pdf")).status_code == (
        404
    )
    missing = driver_app.get(_order_url(invoiced, "documents/INV-1999-000001.pdf"))
    assert missing.status_code == 404 and "INV-1999-000001" in missing.json()["detail"]


def test_operators_and_anonymous_callers_get_no_app_documents(
    operator_app, anonymous_app, invoiced
):
    path = _order_url(invoiced, f"documents/{documents(invoiced)[0].number}.pdf")
    assert operator_app.get(path).status_code == 403
    assert anonymous_app.get(path).status_code == 401


def test_operators_list_credit_notes_and_download_any_document(operator_api, invoiced, operator):
    refund(invoiced, operator, "1.00", reason="Goodwill")
    invoice, note = documents(invoiced)

    rows = operator_api.get("/api/v1/invoices/").json()["results"]
    notes = operator_api.get("/api/v1/invoices/", {"kind": "credit_note"}).json()["results"]
    response = operator_api.get(f"/api/v1/invoices/{note.number}.pdf")

    assert [(r["number"], r["kind"], r["corrects"]) for r in rows] == [
        (note.number, "credit_note", invoice.number),
        (invoice.number, "invoice", None),
    ]
    assert [r["number"] for r in notes] == [note.number]
    assert notes[0]["reason"] == "Goodwill" and notes[0]["total_incl_vat"] == "-1.0000"
    assert response.status_code == 200 and "CREDIT NOTE" in pdf_strings(response.content)
    assert operator_api.get("/api/v1/invoices/", {"kind": "receipt"}).status_code == 400


def test_support_staff_get_no_credit_notes(support_api, invoiced, operator):
    refund(invoiced, operator, "1.00")
    note = documents(invoiced)[1]
    assert support_api.get(f"/api/v1/invoices/{note.number}.pdf").status_code == 403
