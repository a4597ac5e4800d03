"""Two gateway processes handling twins of one message at the same moment (a station that
reconnected to another process and retried). Needs PostgreSQL's row locking: SQLite serialises
whole transactions, so the race cannot happen there."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import settings
from django.db import connections, transaction

from csms.models import ChargePoint, Transaction
from csms.services.transactions import transaction_start, transaction_stop
from tests.factories import make_charge_point, make_id_tag, make_transaction

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
        reason="needs PostgreSQL (row locks, concurrent transactions)",
    ),
]

STARTED = datetime(2024, 5, 14, 10, 0, 5, tzinfo=UTC)
HOLD = 0.3  # how long the first writer keeps its transaction open


def in_two_processes(work: Any) -> list[Any]:
    """Run ``work(first: bool)`` in two threads, each its own connection and transaction; the
    first holds its transaction open for HOLD seconds after working, so the two overlap."""
    started = threading.Event()

    def run(first: bool) -> Any:
        try:
            if not first:
                assert started.wait(5)
            with transaction.atomic():
                result = work(first)
                if first:
                    started.set()
                    time.sleep(HOLD)
            return result
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(run, True), pool.submit(run, False)]
        return [f.result(timeout=30) for f in futures]


def test_twin_start_transactions_get_one_transaction_and_one_id():
    cp = make_charge_point(identity="CP1")

    def start(first: bool) -> int:
        station = ChargePoint.objects.get(pk=cp.pk)
        tx, _ = transaction_start(
            charge_point=station,
            connector_id=1,
            id_tag="TAG",
            meter_start=100,
            timestamp=STARTED,
        )
        return tx.pk

    first_id, twin_id = in_two_processes(start)

    assert first_id == twin_id
    assert Transaction.objects.count() == 1


def test_twin_stop_transactions_close_the_transaction_once():
    cp = make_charge_point(identity="CP1")
    tx = make_transaction(charge_point=cp, meter_start=100)

    def stop(first: bool) -> None:
        transaction_stop(
            charge_point=ChargePoint.objects.get(pk=cp.pk),
            transaction_id=tx.pk,
            meter_stop=500 if first else 900,
            timestamp=STARTED,
        )

    in_two_processes(stop)

    tx.refresh_from_db()
    assert (tx.meter_stop, tx.energy_wh) == (500, 400)  # the first one wins, the twin is a no-op


def test_two_simultaneous_starts_with_one_tag_cannot_both_pass_its_session_limit():
    # A driver's card cloned, or one app token used at two stations at the same moment: each
    # start counts the tag's open sessions, so without a lock both would count none.
    first_cp = make_charge_point(identity="CP1")
    second_cp = make_charge_point(identity="CP2")
    make_id_tag(id_tag="TAG", max_concurrent_sessions=1)

    def start(first: bool) -> str:
        _, info = transaction_start(
            charge_point=first_cp if first else second_cp,
            connector_id=1,
            id_tag="TAG",
            meter_start=100,
            timestamp=STARTED,
        )
        return str(info["status"])

    assert in_two_processes(start) == ["Accepted", "ConcurrentTx"]
    assert Transaction.objects.count() == 2  # both recorded: the stations are charging
