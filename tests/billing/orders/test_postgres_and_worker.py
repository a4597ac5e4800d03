"""Billing against the real services: a concurrent double run on PostgreSQL still writes one
order (and one set of adjustment lines), and a real Celery worker over Redis bills a session
queued by the StopTransaction's commit."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import settings
from django.db import connections, transaction

from billing.models import Order, OrderLine
from billing.services import orders as order_services
from csms.services.transactions import transaction_stop
from tests.billing.orders.support import START, add_samples, make_tariff, stopped_session
from tests.servers import start_celery_worker, stop

needs_postgres = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    reason="needs PostgreSQL (concurrent transactions, row locks)",
)
pytestmark = [pytest.mark.django_db(transaction=True)]


def twice_at_once(work: Any) -> list[Any]:
    """``work()`` in two threads, each with its own connection, released together."""
    gate = threading.Barrier(2, timeout=10)

    def run() -> Any:
        try:
            gate.wait()
            return work()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(run) for _ in range(2)]
        return [f.result(timeout=30) for f in futures]


@needs_postgres
def test_it_writes_one_order_when_two_runs_race(monkeypatch):
    make_tariff(energy="0.30", flat="1.00")
    tx = stopped_session()
    priced = threading.Barrier(2, timeout=10)
    real_bill = order_services.session_bill

    def bill_then_wait(**kwargs: Any) -> Any:
        billed = real_bill(**kwargs)
        priced.wait()  # both have checked for an order and priced: both will insert
        return billed

    monkeypatch.setattr(order_services, "session_bill", bill_then_wait)

    first, second = twice_at_once(lambda: order_services.order_create(transaction_id=tx.pk).pk)

    assert first == second
    assert Order.objects.filter(transaction=tx).count() == 1
    assert OrderLine.objects.filter(order_id=first).count() == 2


@needs_postgres
def test_it_adds_one_set_of_adjustments_when_two_reprices_race():
    make_tariff(energy="0.30", time="1.00")
    tx = stopped_session(samples=False)
    order_services.order_create(transaction_id=tx.pk)
    add_samples(tx, [(30, 11_000), (45, 11_000)])

    twice_at_once(lambda: order_services.order_reprice(transaction_id=tx.pk))

    order = Order.objects.get(transaction=tx)
    assert order.lines.filter(kind="adjustment").count() == 1
    assert sum(line.amount_excl_vat for line in order.lines.all()) == order.total_excl_vat


@pytest.fixture
def worker():
    process = start_celery_worker()
    yield process
    stop(process)


@needs_postgres
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
def test_a_real_worker_bills_the_session_queued_by_the_stop(worker):
    from csms.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        make_tariff(energy="0.30", vat="20")
        tx = stopped_session(samples=False)
        tx.stopped_at = tx.meter_stop = tx.energy_wh = None
        tx.save()
        with transaction.atomic():
            transaction_stop(
                charge_point=tx.charge_point,
                transaction_id=tx.pk,
                meter_stop=11_000,
                timestamp=START + dt.timedelta(hours=1),
                reason="EVDisconnected",
            )
        for _ in range(300):  # includes the worker's start-up
            order = Order.objects.filter(transaction=tx).first()
            if order is not None:
                break
            time.sleep(0.1)
    finally:
        app.conf.task_always_eager = eager
    assert order is not None, "the worker wrote no order"
    assert str(order.total_excl_vat) == "3.0000" and order.state == Order.State.PENDING
    assert worker.poll() is None
