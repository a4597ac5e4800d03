"""Money movements racing on one wallet end with the right balance: every movement locks the
wallet row first, so on PostgreSQL they serialise; retries of one key post once. Needs
PostgreSQL's row locks (SQLite serialises whole transactions, so nothing races there)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import connections, transaction

from tests.wallet.factories import fund, make_driver
from wallet.models import AppSession, JournalEntry, Wallet
from wallet.selectors.ledger import ledger_mismatches, wallet_balances
from wallet.services.ledger import (
    ledger_capture,
    ledger_hold,
    ledger_top_up_credit,
    ledger_top_up_refund,
    wallet_accounts,
    wallet_lock,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
        reason="needs PostgreSQL (row locks, concurrent transactions)",
    ),
]


def race(jobs: list[Callable[[Wallet, dict[str, Any]], Any]], wallet_id: int) -> list[Any]:
    """Run each job in its own thread and transaction, released together by a barrier; each
    takes the wallet lock as the services do."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[Wallet, dict[str, Any]], Any]) -> Any:
        try:
            barrier.wait(5)
            with transaction.atomic():
                wallet = wallet_lock(wallet_id=wallet_id)
                return job(wallet, wallet_accounts(wallet=wallet))
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return [f.result(timeout=30) for f in [pool.submit(run, job) for job in jobs]]


def test_two_top_ups_a_capture_and_a_refund_racing_end_with_the_right_balance() -> None:
    user = make_driver()
    fund(user, "50.00")
    wallet_id = Wallet.objects.get(user=user).pk

    def top_up(key: str, amount: str) -> Callable[[Wallet, dict[str, Any]], Any]:
        def job(wallet: Wallet, accounts: dict[str, Any]) -> Any:
            return ledger_top_up_credit(
                wallet=wallet,
                accounts=accounts,
                amount=Decimal(amount),
                provider="sandbox",
                idempotency_key=key,
            )

        return job

    def capture(wallet: Wallet, accounts: dict[str, Any]) -> Any:
        ledger_hold(wallet=wallet, accounts=accounts, amount=Decimal("20"), idempotency_key="h")
        return ledger_capture(
            wallet=wallet,
            accounts=accounts,
            total=Decimal("15.00"),
            vat=Decimal("2.60"),
            held=Decimal("20"),
            idempotency_key="c",
            memo="session",
        )

    def refund(wallet: Wallet, accounts: dict[str, Any]) -> Any:
        return ledger_top_up_refund(
            wallet=wallet,
            accounts=accounts,
            amount=Decimal("10.00"),
            provider="sandbox",
            idempotency_key="r",
            memo="refund",
        )

    race(
        [
            top_up("t1", "20.00"),
            top_up("t2", "30.00"),
            top_up("t1", "20.00"),  # a retried confirmation of the first top-up
            capture,
            refund,
        ],
        wallet_id,
    )

    balances = wallet_balances(wallet=Wallet.objects.get(pk=wallet_id))
    # 50 + 20 + 30 - 15 charged - 10 refunded; 5 of the 20 held is still held.
    assert balances.available == Decimal("70.00")
    assert balances.held == Decimal("5.00")
    assert JournalEntry.objects.filter(idempotency_key="t1").count() == 1
    assert ledger_mismatches() == []


def test_holds_racing_for_the_last_funds_never_overdraw() -> None:
    user = make_driver()
    fund(user, "30.00")
    wallet_id = Wallet.objects.get(user=user).pk

    def hold(key: str) -> Callable[[Wallet, dict[str, Any]], Any]:
        def job(wallet: Wallet, accounts: dict[str, Any]) -> Any:
            available = accounts["wallet"].balance
            amount = min(Decimal("20"), available)
            if amount <= 0:
                return None
            return ledger_hold(wallet=wallet, accounts=accounts, amount=amount, idempotency_key=key)

        return job

    race([hold(f"h{i}") for i in range(4)], wallet_id)

    balances = wallet_balances(wallet=Wallet.objects.get(pk=wallet_id))
    assert balances.available == Decimal("0")
    assert balances.held == Decimal("30.00")
    assert ledger_mismatches() == []


def test_the_services_racing_on_one_wallet_end_with_the_right_balance(operator: Any) -> None:
    """The same race through the services: two top-ups confirmed by their signed webhooks
    (one delivered twice), an order settled from its session's hold, and a card refund."""
    from billing.events import order_billed
    from billing.services.orders import order_create
    from tests.billing.orders.support import make_tariff, stopped_session
    from tests.wallet.orders_support import app_session, eager_celery
    from tests.wallet.payments_support import pending_top_up, sandbox_event, sign
    from wallet.payments.sandbox import webhook_secret
    from wallet.services.payments import webhook_receive
    from wallet.services.refunds import refund_top_up
    from wallet.services.settlement import order_settle

    user = make_driver()
    first = fund(user, "50.00")
    wallet = Wallet.objects.select_related("virtual_id_tag").get(user=user)
    make_tariff(energy="0.30", vat="20")  # 10 kWh: 3.60 incl. VAT
    session = app_session(user, hold="10.00")
    tx = stopped_session(
        charge_point=session.charge_point,
        minutes=60,
        energy_wh=10_000,
        id_tag=wallet.virtual_id_tag.id_tag,
        id_tag_ref=wallet.virtual_id_tag,
    )
    AppSession.objects.filter(pk=session.pk).update(transaction=tx)
    # The order is written without its settlement event: the race settles it.
    order_billed.disconnect(dispatch_uid="wallet.order_billed")
    try:
        order = order_create(transaction_id=tx.pk)
    finally:
        from wallet import signals

        order_billed.connect(signals.on_order_billed, dispatch_uid="wallet.order_billed")
    assert order is not None
    a, b = pending_top_up(user, "20.00"), pending_top_up(user, "30.00")
    events = [sandbox_event(a), sandbox_event(b)]

    def deliver(body: bytes) -> Callable[[], Any]:
        return lambda: webhook_receive(
            provider="sandbox",
            payload=body,
            headers={"Sandbox-Signature": sign(webhook_secret(), body)},
        )

    jobs = [
        deliver(events[0]),
        deliver(events[1]),
        deliver(events[0]),  # the provider's retry of the first
        lambda: order_settle(order_id=order.pk),
        lambda: refund_top_up(
            top_up=first,
            amount=Decimal("10.00"),
            reason="asked",
            created_by=operator,
            idempotency_key="refund-1",
        ),
    ]
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], Any]) -> Any:
        try:
            barrier.wait(5)
            return job()
        finally:
            connections.close_all()

    with eager_celery(), ThreadPoolExecutor(len(jobs)) as pool:
        for future in [pool.submit(run, job) for job in jobs]:
            future.result(timeout=30)

    balances = wallet_balances(wallet=Wallet.objects.get(pk=wallet.pk))
    # 50 + 20 + 30 - 3.60 charged - 10 refunded; the rest of the 10.00 hold is back.
    assert balances.available == Decimal("86.40")
    assert balances.held == Decimal("0")
    assert JournalEntry.objects.filter(top_up__in=[a, b], kind="top_up").count() == 2
    assert ledger_mismatches() == []
