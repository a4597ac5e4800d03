"""A broker that is down is never felt by a station: billing's tasks are published from a
thread of their own, not from the gateway's database thread that runs on_commit callbacks
before it answers the stations of its batch."""

from __future__ import annotations

import threading

import pytest
from django.db import transaction

from billing import signals
from billing.tasks import order_create_for_transaction
from tests.billing.orders.support import stopped_session

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager():
    conf = order_create_for_transaction.app.conf
    before = conf.task_always_eager

    def set_to(value: bool) -> None:
        conf.task_always_eager = value

    yield set_to
    conf.task_always_eager = before


def test_with_a_broker_it_publishes_off_the_committing_thread(eager, monkeypatch):
    eager(False)
    published = threading.Event()
    threads: list[str] = []

    def apply_async(args, **kwargs):
        threads.append(threading.current_thread().name)
        published.set()
        raise ConnectionError("broker down")  # logged by the publisher, nothing else

    monkeypatch.setattr(order_create_for_transaction, "apply_async", apply_async)
    tx = stopped_session()

    with transaction.atomic():
        signals.on_transaction_stopped(sender=None, transaction=tx)

    assert published.wait(5)
    assert threads == ["task-publisher"]
    assert threading.current_thread().name not in threads


def test_without_a_broker_the_task_runs_in_place(eager, monkeypatch):
    eager(True)
    threads: list[str] = []
    monkeypatch.setattr(
        order_create_for_transaction,
        "apply_async",
        lambda args, **kwargs: threads.append(threading.current_thread().name),
    )
    tx = stopped_session()

    with transaction.atomic():
        signals.on_transaction_stopped(sender=None, transaction=tx)

    assert threads == [threading.current_thread().name]
