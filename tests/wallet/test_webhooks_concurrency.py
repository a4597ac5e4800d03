"""The same webhook delivered twice at the same moment (a provider's retry racing its first
attempt, or two of our processes behind a load balancer): credited once. Needs PostgreSQL's
row locks and concurrent transactions; SQLite serialises whole transactions."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections, transaction

from tests.wallet.factories import make_driver
from tests.wallet.payments_support import available, pending_top_up, sandbox_event
from wallet.models import JournalEntry, ProviderEvent
from wallet.payments.base import signature_header
from wallet.payments.sandbox import SIGNATURE_HEADER, webhook_secret
from wallet.selectors.ledger import ledger_mismatches
from wallet.services.payments import webhook_receive

pytestmark = [pytest.mark.django_db(transaction=True)]

HOLD = 0.3  # how long the first delivery keeps its transaction open after processing


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks, concurrent transactions)")


def deliver_twice_at_once(first_body: bytes, second_body: bytes) -> list[str]:
    """Deliver two webhooks from two threads, each its own connection and transaction; the
    first holds its transaction open for HOLD seconds after processing, so they overlap."""
    processed = threading.Event()

    def run(body: bytes, first: bool) -> str:
        try:
            if not first:
                assert processed.wait(5)
            headers = {SIGNATURE_HEADER: signature_header(secret=webhook_secret(), payload=body)}
            with transaction.atomic():
                outcome = webhook_receive(provider="sandbox", payload=body, headers=headers)
                if first:
                    processed.set()
                    time.sleep(HOLD)
            return outcome
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(run, first_body, True), pool.submit(run, second_body, False)]
        return [f.result(timeout=30) for f in futures]


def test_the_same_webhook_delivered_concurrently_credits_once() -> None:
    driver = make_driver()
    top_up = pending_top_up(driver, "20.00")
    body = sandbox_event(top_up, event_id="evt_twin")

    outcomes = deliver_twice_at_once(body, body)

    assert sorted(outcomes) == sorted([f"credited top-up {top_up.pk}", "duplicate"])
    assert ProviderEvent.objects.count() == 1
    assert JournalEntry.objects.filter(top_up=top_up).count() == 1
    assert available(driver) == Decimal("20.00")
    assert ledger_mismatches() == []


def test_two_events_for_one_payment_delivered_concurrently_credit_once() -> None:
    driver = make_driver()
    top_up = pending_top_up(driver, "20.00")

    outcomes: list[Any] = deliver_twice_at_once(
        sandbox_event(top_up, event_id="evt_a"), sandbox_event(top_up, event_id="evt_b")
    )

    assert outcomes[0] == f"credited top-up {top_up.pk}"
    assert outcomes[1] == f"ignored: top-up {top_up.pk} was already credited"
    assert ProviderEvent.objects.count() == 2
    assert available(driver) == Decimal("20.00")
    assert ledger_mismatches() == []
