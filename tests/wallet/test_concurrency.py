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
from wallet.models import JournalEntry, Wallet
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
