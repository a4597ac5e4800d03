"""Invoices issued at the same moment by several workers (settlements of different orders,
refunds of one order with their credit notes) get distinct consecutive numbers, and one that
rolls back leaves no gap. Needs PostgreSQL's row locking: SQLite serialises whole
transactions, so the race cannot happen there."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import connections, transaction

from billing.models import Order
from tests.billing.orders.support import make_tariff
from tests.factories import make_user
from tests.wallet.factories import fund, make_driver
from tests.wallet.orders_support import app_order, eager_celery
from tests.wallet.test_invoices import paid_order
from wallet.models import Invoice, InvoiceSequence
from wallet.services.invoices import invoice_issue
from wallet.services.refunds import refund_order

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
        reason="needs PostgreSQL (row locks, concurrent transactions)",
    ),
]

WORKERS = 6


def test_concurrent_issues_get_consecutive_numbers_without_gaps(settings: Any, tmp_path: Any):
    settings.MEDIA_ROOT = tmp_path
    make_tariff(energy="0.30", vat="20")
    orders = [paid_order() for _ in range(WORKERS)]
    barrier = threading.Barrier(WORKERS)
    failing = orders[2].pk  # this settlement fails after taking its number

    def settle(order_id: int) -> str | None:
        try:
            barrier.wait(10)
            with transaction.atomic():
                order = Order.objects.select_for_update().get(pk=order_id)
                invoice = invoice_issue(order=order)
                time.sleep(0.05)  # hold the sequence lock a little: the others queue on it
                if order_id == failing:
                    raise RuntimeError("settlement failed")
                return invoice.number
        except RuntimeError:
            return None
        finally:
            connections.close_all()

    with ThreadPoolExecutor(WORKERS) as pool:
        numbers = [n for n in pool.map(settle, [o.pk for o in orders]) if n]

    invoices = Invoice.objects.order_by("sequence")
    assert len(numbers) == WORKERS - 1 == len(set(numbers))
    assert [i.sequence for i in invoices] == list(range(1, WORKERS))
    assert sorted(numbers) == [i.number for i in invoices]
    assert not Invoice.objects.filter(order_id=failing).exists()
    assert InvoiceSequence.objects.get(year=invoices[0].year).last_number == WORKERS - 1


def test_concurrent_refunds_of_an_invoiced_order_get_consecutive_credit_note_numbers(
    settings: Any, tmp_path: Any
):
    settings.MEDIA_ROOT = tmp_path
    make_tariff(energy="0.30", vat="20")
    driver = make_driver()
    fund(driver, "20.00")
    with eager_celery():
        order, _ = app_order(driver, hold="10.00")  # 3.60, invoice number 1
    operator = make_user(username="refunder")
    barrier = threading.Barrier(WORKERS)

    def refund(i: int) -> None:
        try:
            barrier.wait(10)
            refund_order(
                order=order,
                amount=Decimal("0.50"),
                reason=f"goodwill {i}",
                created_by=operator,
                idempotency_key=f"concurrent-{i}",
            )
        finally:
            connections.close_all()

    with eager_celery(), ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(refund, range(WORKERS)))

    documents = list(Invoice.objects.filter(order=order).order_by("sequence"))
    assert [d.sequence for d in documents] == list(range(1, WORKERS + 2))
    assert [d.kind for d in documents] == ["invoice"] + ["credit_note"] * WORKERS
    assert sum(d.total_incl_vat for d in documents) == Decimal("0.60")
