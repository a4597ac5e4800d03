"""The same webhook delivered twice at the same moment (a provider's retry racing its first
attempt, or two of our processes behind a load balancer): credited once. Needs PostgreSQL's
row locks and concurrent transactions; SQLite serialises whole transactions."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import stripe
from django.db import connection, connections, transaction

from tests.wallet.factories import fund, make_driver
from tests.wallet.payments_support import (
    STRIPE_SECRET,
    available,
    pending_top_up,
    sandbox_event,
    sign,
    stripe_event,
)
from wallet.models import JournalEntry, ProviderEvent, Refund, TopUp
from wallet.payments.base import signature_header
from wallet.payments.sandbox import SIGNATURE_HEADER, webhook_secret
from wallet.selectors.ledger import ledger_mismatches
from wallet.services.payments import webhook_receive
from wallet.services.refunds import refund_send

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


def test_a_refund_webhook_overtaking_refund_send_waits_for_its_reference(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stripe's ``refund.updated`` arrives while ``refund_send`` still holds the refund's
    row lock, waiting for Stripe's answer: the webhook waits for that lock, then finds the
    reference committed and settles the refund (no 409, no lost event)."""
    settings.STRIPE_SECRET_KEY = "sk_test_never_sent_anywhere"
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    driver = make_driver()
    top_up = fund(driver, "20.00", provider="stripe")
    TopUp.objects.filter(pk=top_up.pk).update(provider_reference="pi_88")
    refund = Refund.objects.create(
        top_up=top_up,
        wallet=top_up.wallet,
        amount=Decimal("5.00"),
        currency="EUR",
        reason="r",
        state=Refund.State.PROVIDER_PENDING,
        idempotency_key="k-race",
    )
    body = stripe_event(
        "refund.updated",
        {
            "id": "re_88",
            "object": "refund",
            "status": "succeeded",
            "amount": 500,
            "currency": "eur",
            "payment_intent": "pi_88",
            "metadata": {"refund": str(refund.pk)},
        },
    )
    webhook_pid: list[int] = []
    webhook_started = threading.Event()

    def webhook_is_waiting_for_a_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [webhook_pid[0]]
            )
            row = cursor.fetchone()
        return row is not None and row[0] == "Lock"

    def stripe_answers_after_the_webhook_came(**params: Any) -> Any:
        webhook_started.set()  # Stripe sends the webhook before we have its answer
        for _ in range(500):
            if webhook_pid and webhook_is_waiting_for_a_lock():
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the webhook did not wait for the refund's lock")
        return SimpleNamespace(id="re_88", status="pending")

    monkeypatch.setattr(stripe.Refund, "create", stripe_answers_after_the_webhook_came)

    def send() -> Refund:
        try:
            return refund_send(refund_id=refund.pk)
        finally:
            connections.close_all()

    def deliver() -> str:
        try:
            assert webhook_started.wait(10)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                webhook_pid.append(cursor.fetchone()[0])
            headers = {"Stripe-Signature": sign(STRIPE_SECRET, body)}
            return webhook_receive(provider="stripe", payload=body, headers=headers)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        sent, delivered = pool.submit(send), pool.submit(deliver)
        sent.result(timeout=30)
        outcome = delivered.result(timeout=30)

    assert outcome == f"refund {refund.pk} succeeded"
    refund.refresh_from_db()
    assert (refund.state, refund.provider_reference) == (Refund.State.SUCCEEDED, "re_88")
