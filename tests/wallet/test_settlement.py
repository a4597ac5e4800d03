"""Settlement: an order billing writes is paid from the driver's wallet, from the session's
hold first, then from the available funds; the rest of the hold is released; what neither
covers is owed; a paid order gets its invoice. Orders are built through billing's real path
(tariff, stopped session, order_create, the order_billed event, the settlement task)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from billing.models import Order
from tests.billing.orders.support import add_samples, make_tariff, stopped_session
from tests.wallet.factories import fund, make_driver
from tests.wallet.orders_support import (
    app_order,
    app_session,
    bill,
    ledger_verified,
    reprice,
    rfid_order,
)
from wallet.models import AppSession, Invoice, JournalEntry, Wallet
from wallet.selectors.ledger import wallet_balances, wallet_statement
from wallet.services.ledger import ledger_receivable_settle, wallet_accounts, wallet_lock
from wallet.services.settlement import order_settle, receivables_settle_orders

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def dana() -> Any:
    return make_driver(email="dana@example.com", first_name="Dana", last_name="Driver")


def balances(user: Any) -> tuple[Decimal, Decimal, Decimal]:
    b = wallet_balances(wallet=Wallet.objects.get(user=user))
    return b.available, b.held, b.owed


def statement(user: Any) -> list[tuple[str, Decimal, Decimal]]:
    entries = wallet_statement(wallet=Wallet.objects.get(user=user)).order_by("id")
    return [(e.kind, e.amount, e.available_change) for e in entries]


def test_it_captures_from_the_hold_releases_the_rest_and_issues_invoice_number_one(dana):
    make_tariff(energy="0.30", vat="20")  # 10 kWh: 3.00 + 0.60 VAT
    fund(dana, "20.00")

    order, session = app_order(dana, hold="10.00")

    assert order.state == Order.State.PAID
    assert balances(dana) == (Decimal("16.40"), Decimal("0"), Decimal("0"))
    assert statement(dana) == [
        ("top_up", Decimal("20.00"), Decimal("20.00")),
        ("hold", Decimal("10.00"), Decimal("-10.00")),
        ("capture", Decimal("3.60"), Decimal("0")),
        ("release", Decimal("6.40"), Decimal("6.40")),
    ]
    assert session.state == AppSession.State.FINISHED and session.held == 0
    invoice = Invoice.objects.get(order=order)
    year = timezone.localtime(invoice.issued_at).year
    assert (invoice.year, invoice.sequence, invoice.number) == (year, 1, f"INV-{year}-000001")
    assert (invoice.total_excl_vat, invoice.total_vat, invoice.total_incl_vat) == (
        Decimal("3.00"),
        Decimal("0.60"),
        Decimal("3.60"),
    )
    assert invoice.vat_breakdown == [{"rate": "20", "base": "3.00", "vat": "0.60"}]
    assert invoice.buyer == {"name": "Dana Driver", "email": "dana@example.com"}
    assert invoice.rendered_at is not None and invoice.pdf.name.endswith(".pdf")
    assert ledger_verified()


def test_it_makes_a_shortfall_a_receivable_and_leaves_the_order_unpaid(dana):
    make_tariff(energy="0.30", vat="20")
    fund(dana, "2.00")

    order, session = app_order(dana, hold="2.00")

    assert order.state == Order.State.UNPAID
    assert balances(dana) == (Decimal("0"), Decimal("0"), Decimal("1.60"))
    capture = JournalEntry.objects.get(order=order, kind="capture")
    assert capture.amount == Decimal("3.60")
    assert not Invoice.objects.exists()
    assert session.state == AppSession.State.FINISHED
    assert ledger_verified()


def test_a_paid_off_receivable_makes_the_order_paid_with_its_invoice(dana):
    make_tariff(energy="0.30", vat="20")
    fund(dana, "2.00")
    order, _ = app_order(dana, hold="2.00")
    fund(dana, "5.00")

    with transaction.atomic():
        wallet = wallet_lock(wallet_id=Wallet.objects.get(user=dana).pk)
        ledger_receivable_settle(
            wallet=wallet, accounts=wallet_accounts(wallet=wallet), idempotency_key="settle-1"
        )
        paid = receivables_settle_orders(wallet=wallet)

    order.refresh_from_db()
    assert paid == 1 and order.state == Order.State.PAID
    assert Invoice.objects.get(order=order).sequence == 1
    assert balances(dana) == (Decimal("3.40"), Decimal("0"), Decimal("0"))
    assert ledger_verified()


def _top_up_and_settle(user: Any, amount: str, key: str) -> int:
    """What a confirmed top-up does: credit, pay off what is owed, mark orders paid."""
    fund(user, amount)
    with transaction.atomic():
        wallet = wallet_lock(wallet_id=Wallet.objects.get(user=user).pk)
        ledger_receivable_settle(
            wallet=wallet, accounts=wallet_accounts(wallet=wallet), idempotency_key=key
        )
        return receivables_settle_orders(wallet=wallet)


def test_unpaid_orders_become_paid_oldest_first_only_once_all_they_owe_is_paid(dana):
    make_tariff(energy="0.30", vat="20")  # 10 kWh: 3.60 incl. VAT
    older = rfid_order(dana)  # nothing available: 3.60 owed
    fund(dana, "3.00")
    newer = rfid_order(dana)  # 3.00 paid, 0.60 owed
    assert balances(dana) == (Decimal("0"), Decimal("0"), Decimal("4.20"))

    # 1.00 paid off: the older order still owes 2.60 of its 3.60, the newer 0.60.
    assert _top_up_and_settle(dana, "1.00", "s1") == 0
    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.state, newer.state) == (Order.State.UNPAID, Order.State.UNPAID)

    assert _top_up_and_settle(dana, "2.60", "s2") == 1  # the older one, all of it
    older.refresh_from_db()
    assert older.state == Order.State.PAID and Invoice.objects.filter(order=older).exists()

    assert _top_up_and_settle(dana, "0.60", "s3") == 1
    newer.refresh_from_db()
    assert newer.state == Order.State.PAID
    assert balances(dana) == (Decimal("0"), Decimal("0"), Decimal("0"))
    assert ledger_verified()


def test_a_reprice_lower_of_an_unpaid_order_pays_off_the_debt_not_the_balance(dana):
    make_tariff(energy="0.30", time="1.00", vat="20", max_price=None)
    fund(dana, "1.00")
    order, _ = app_order(dana, hold="1.00", samples=False)  # 4.80: 1.00 held, 3.80 owed
    assert order.state == Order.State.UNPAID
    assert balances(dana) == (Decimal("0"), Decimal("0"), Decimal("3.80"))

    add_samples(order.transaction, [(30, 11_000), (45, 11_000)])
    order = reprice(order.transaction)  # 4.20: 0.60 back, which pays off 0.60 of the debt
    order_settle(order_id=order.pk)

    order.refresh_from_db()
    assert balances(dana) == (Decimal("0"), Decimal("0"), Decimal("3.20"))
    assert order.state == Order.State.UNPAID
    assert ledger_verified()


def test_a_full_refund_after_a_refund_and_a_reprice_gives_back_all_that_was_paid(dana, operator):
    from wallet.services.refunds import refund_order

    make_tariff(energy="0.30", time="1.00", vat="20", max_price=None)
    fund(dana, "20.00")
    order, _ = app_order(dana, hold="10.00", samples=False)  # 4.80 paid
    refund_order(
        order=order,
        amount=Decimal("0.40"),
        reason="late",
        created_by=operator,
        idempotency_key="r1",
    )
    add_samples(order.transaction, [(30, 11_000), (45, 11_000)])
    order = reprice(order.transaction)  # 4.20; 4.40 paid net: 0.20 back
    order_settle(order_id=order.pk)

    refund_order(order=order, reason="all of it", created_by=operator, idempotency_key="r2")

    order.refresh_from_db()
    assert order.state == Order.State.REFUNDED
    assert balances(dana) == (Decimal("20.00"), Decimal("0"), Decimal("0"))
    assert ledger_verified()


def test_a_partial_refund_of_a_newer_unpaid_order_pays_only_its_own_debt(dana, operator):
    from wallet.services.refunds import refund_order

    make_tariff(energy="0.30", vat="20")
    older = rfid_order(dana)  # 3.60 owed
    newer = rfid_order(dana, energy_wh=30_000)  # 10.80 owed
    refund_order(
        order=newer,
        amount=Decimal("9.00"),
        reason="goodwill",
        created_by=operator,
        idempotency_key="g1",
    )

    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.state, newer.state) == (Order.State.UNPAID, Order.State.UNPAID)
    assert balances(dana) == (Decimal("0"), Decimal("0"), Decimal("5.40"))
    assert not Invoice.objects.filter(order=older).exists()

    assert _top_up_and_settle(dana, "3.60", "s1") == 1  # the older one, now paid in full
    older.refresh_from_db()
    assert older.state == Order.State.PAID
    assert _top_up_and_settle(dana, "1.80", "s2") == 1
    assert ledger_verified()


def test_a_free_order_releases_the_whole_hold_and_charges_nothing(dana):
    make_tariff(energy="0.30", vat="20")
    fund(dana, "20.00")

    # Below both minimums (billing's free short session): 1 minute, 150 Wh.
    order, session = app_order(dana, hold="10.00", minutes=1, energy_wh=150, samples=False)

    assert order.state == Order.State.FREE
    assert balances(dana) == (Decimal("20.00"), Decimal("0"), Decimal("0"))
    assert [kind for kind, _, _ in statement(dana)] == ["top_up", "hold", "release"]
    assert not Invoice.objects.exists()
    assert session.state == AppSession.State.FINISHED
    assert ledger_verified()


def test_an_rfid_session_of_the_drivers_own_card_settles_from_available_funds(dana):
    make_tariff(energy="0.30", vat="20")
    fund(dana, "20.00")

    order = rfid_order(dana)

    assert order.driver == dana and order.state == Order.State.PAID
    assert balances(dana) == (Decimal("16.40"), Decimal("0"), Decimal("0"))
    assert statement(dana)[-1] == ("capture", Decimal("3.60"), Decimal("-3.60"))
    assert Invoice.objects.filter(order=order).count() == 1
    assert ledger_verified()


def test_a_retried_settlement_posts_nothing_more(dana):
    make_tariff(energy="0.30", vat="20")
    fund(dana, "20.00")
    order, _ = app_order(dana, hold="10.00")
    before = statement(dana)

    again = order_settle(order_id=order.pk)
    order_settle(order_id=order.pk)

    assert again.state == Order.State.PAID
    assert statement(dana) == before
    assert Invoice.objects.count() == 1
    assert ledger_verified()


def test_a_retried_settlement_of_an_unpaid_order_keeps_it_unpaid(dana):
    make_tariff(energy="0.30", vat="20")
    fund(dana, "2.00")
    order, _ = app_order(dana, hold="2.00")

    assert order_settle(order_id=order.pk).state == Order.State.UNPAID
    assert balances(dana) == (Decimal("0"), Decimal("0"), Decimal("1.60"))
    assert JournalEntry.objects.filter(order=order).count() == 1


def test_a_repriced_order_is_charged_the_difference_once(dana):
    # Parking costs more than the energy: late samples that show the car full after 30
    # minutes make the session dearer.
    make_tariff(energy="0.30", parking="2.00", vat="20")
    fund(dana, "20.00")
    order, _ = app_order(dana, hold="10.00", samples=False)
    assert (order.state, order.total_incl_vat) == (Order.State.PAID, Decimal("3.6000"))

    add_samples(order.transaction, [(30, 11_000), (45, 11_000)])
    order = reprice(order.transaction)
    reprice(order.transaction)  # a second re-price finds nothing new
    order_settle(order_id=order.pk)  # and a retried settlement charges nothing again

    assert order.total_incl_vat == Decimal("4.8000")  # + 0.5 h parking: 1.00 + 0.20 VAT
    captures = JournalEntry.objects.filter(order=order, kind="capture").order_by("id")
    assert [c.amount for c in captures] == [Decimal("3.60"), Decimal("1.20")]
    assert order.state == Order.State.PAID
    assert balances(dana) == (Decimal("15.20"), Decimal("0"), Decimal("0"))
    assert ledger_verified()


def test_a_repriced_lower_order_is_refunded_the_difference_once(dana):
    make_tariff(energy="0.30", time="1.00", vat="20", max_price=None)
    fund(dana, "20.00")
    order, _ = app_order(dana, hold="10.00", samples=False)
    assert order.total_incl_vat == Decimal("4.8000")  # 3.00 + 1.00 time, + 20 %

    # Late readings: full after 30 minutes; the last half hour was (free) parking.
    add_samples(order.transaction, [(30, 11_000), (45, 11_000)])
    order = reprice(order.transaction)
    order_settle(order_id=order.pk)

    assert order.total_incl_vat == Decimal("4.2000")
    refunds = JournalEntry.objects.filter(order=order, kind="refund")
    assert [(r.amount, r.available_change) for r in refunds] == [(Decimal("0.60"), Decimal("0.60"))]
    assert balances(dana) == (Decimal("15.80"), Decimal("0"), Decimal("0"))
    assert order.state == Order.State.PAID
    assert ledger_verified()


def test_a_reprice_lower_never_refunds_past_what_an_operator_already_refunded(dana, operator):
    from wallet.services.refunds import refund_order

    make_tariff(energy="0.30", time="1.00", vat="20", max_price=None)
    fund(dana, "20.00")
    order, _ = app_order(dana, hold="10.00", samples=False)  # 4.80 paid
    refund_order(
        order=order,
        amount=Decimal("4.00"),
        reason="goodwill",
        created_by=operator,
        idempotency_key="goodwill-1",
    )

    # Late readings make it 4.20; the driver has paid 0.80 net, less than that: no refund.
    add_samples(order.transaction, [(30, 11_000), (45, 11_000)])
    order = reprice(order.transaction)
    order_settle(order_id=order.pk)

    reprice_refunds = JournalEntry.objects.filter(order=order, kind="refund", refund=None)
    assert not reprice_refunds.exists()
    assert balances(dana) == (Decimal("19.20"), Decimal("0"), Decimal("0"))
    assert ledger_verified()


def test_an_order_in_another_currency_stays_pending_and_releases_the_hold(dana):
    make_tariff(energy="0.30", vat="20", currency="USD")
    fund(dana, "20.00")

    order, session = app_order(dana, hold="10.00")

    assert order.currency == "USD" and order.state == Order.State.PENDING
    assert balances(dana) == (Decimal("20.00"), Decimal("0"), Decimal("0"))
    assert not JournalEntry.objects.filter(order=order).exists()
    assert session.state == AppSession.State.FINISHED
    assert not Invoice.objects.exists()
    assert ledger_verified()


def test_an_order_of_a_tag_without_a_wallet_is_left_pending(dana):
    make_tariff(energy="0.30", vat="20")
    order = bill(stopped_session(id_tag="STRANGER"))
    assert order.driver is None and order.state == Order.State.PENDING
    assert not JournalEntry.objects.filter(order=order).exists()


def test_a_session_that_never_billed_keeps_its_hold_until_its_order(dana):
    make_tariff(energy="0.30", vat="20")
    fund(dana, "20.00")
    app_session(dana, hold="10.00")
    assert balances(dana) == (Decimal("10.00"), Decimal("10.00"), Decimal("0"))
    assert ledger_verified()
