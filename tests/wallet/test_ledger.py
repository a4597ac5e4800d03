"""The ledger: balanced, append-only entries with idempotency keys; balances as the sum of
postings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from tests.wallet.factories import fund, make_driver
from wallet.models import JournalEntry, LedgerAccount, Posting, Wallet
from wallet.selectors.ledger import ledger_mismatches, wallet_balances
from wallet.services.ledger import (
    InsufficientFunds,
    LedgerError,
    credit,
    debit,
    entry_post,
    ledger_capture,
    ledger_hold,
    ledger_release,
    platform_account,
    wallet_accounts,
    wallet_lock,
)

pytestmark = pytest.mark.django_db


def _locked(user: Any) -> tuple[Wallet, dict[str, LedgerAccount]]:
    wallet = wallet_lock(wallet_id=Wallet.objects.get(user=user).pk)
    return wallet, wallet_accounts(wallet=wallet)


def test_it_gives_a_new_driver_a_wallet_three_accounts_and_a_virtual_tag() -> None:
    user = make_driver()
    wallet = Wallet.objects.get(user=user)
    assert wallet.currency == "EUR"
    assert sorted(wallet.accounts.values_list("kind", flat=True)) == [
        "held",
        "receivable",
        "wallet",
    ]
    assert wallet.virtual_id_tag.user == user
    assert len(wallet.virtual_id_tag.id_tag) == 20


def test_it_credits_a_top_up_once_per_idempotency_key() -> None:
    user = make_driver()
    top_up = fund(user, "25.00")
    with transaction.atomic():
        wallet, accounts = _locked(user)
        from wallet.services.ledger import ledger_top_up_credit

        _, created = ledger_top_up_credit(
            wallet=wallet,
            accounts=accounts,
            amount=Decimal("25.00"),
            provider="sandbox",
            idempotency_key=f"top-up:{top_up.pk}",
        )
    assert created is False
    balances = wallet_balances(wallet=Wallet.objects.get(user=user))
    assert balances.available == Decimal("25.00")
    clearing = LedgerAccount.objects.get(kind="provider_clearing", provider="sandbox")
    assert clearing.balance == Decimal("25.00")
    assert ledger_mismatches() == []


def test_it_holds_releases_and_captures_with_a_shortfall_as_receivable() -> None:
    user = make_driver()
    fund(user, "10.00")
    with transaction.atomic():
        wallet, accounts = _locked(user)
        ledger_hold(wallet=wallet, accounts=accounts, amount=Decimal("8"), idempotency_key="h1")
        ledger_release(wallet=wallet, accounts=accounts, amount=Decimal("3"), idempotency_key="r1")
        capture = ledger_capture(
            wallet=wallet,
            accounts=accounts,
            total=Decimal("12.10"),
            vat=Decimal("2.10"),
            held=Decimal("5"),
            idempotency_key="c1",
            memo="session",
        )
    assert (capture.from_held, capture.from_available, capture.shortfall) == (
        Decimal("5.00"),
        Decimal("5.00"),
        Decimal("2.10"),
    )
    balances = wallet_balances(wallet=Wallet.objects.get(user=user))
    assert (balances.available, balances.held, balances.owed) == (
        Decimal("0"),
        Decimal("0"),
        Decimal("2.10"),
    )
    assert platform_account(kind="revenue", currency="EUR").balance == Decimal("10.00")
    assert platform_account(kind="vat_payable", currency="EUR").balance == Decimal("2.10")
    assert ledger_mismatches() == []
    call_command("ledger_verify")


def test_it_refuses_to_hold_more_than_is_available() -> None:
    user = make_driver()
    fund(user, "5.00")
    with transaction.atomic(), pytest.raises(InsufficientFunds):
        wallet, accounts = _locked(user)
        ledger_hold(wallet=wallet, accounts=accounts, amount=Decimal("5.01"), idempotency_key="h")


def test_it_refuses_an_unbalanced_entry_before_the_database_does() -> None:
    user = make_driver()
    with transaction.atomic():
        wallet, accounts = _locked(user)
        revenue = platform_account(kind="revenue", currency="EUR")
        with pytest.raises(LedgerError):
            entry_post(
                idempotency_key="bad",
                kind="adjustment",
                currency="EUR",
                wallet=wallet,
                amount=Decimal("1"),
                legs=[debit(accounts["wallet"], Decimal("1")), credit(revenue, Decimal("0.99"))],
            )
    assert not JournalEntry.objects.filter(idempotency_key="bad").exists()


def test_the_verify_command_fails_on_a_cached_balance_that_disagrees() -> None:
    user = make_driver()
    fund(user, "5.00")
    LedgerAccount.objects.filter(wallet__user=user, kind="wallet").update(balance=Decimal("6"))
    with pytest.raises(Exception, match="disagree"):
        call_command("ledger_verify")


def _sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the database guards are PostgreSQL's"
)


@postgres_only
def test_the_database_refuses_to_update_or_delete_ledger_rows() -> None:
    from django.db import DatabaseError

    user = make_driver()
    fund(user, "5.00")
    posting = Posting.objects.first()
    assert posting is not None
    for statement in (
        lambda: Posting.objects.filter(pk=posting.pk).update(amount=Decimal("999")),
        lambda: Posting.objects.filter(pk=posting.pk).delete(),
        lambda: JournalEntry.objects.filter(pk=posting.entry_id).update(memo="edited"),
        lambda: _sql("DELETE FROM wallet_journalentry WHERE id = %s", posting.entry_id),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            statement()
    assert Posting.objects.get(pk=posting.pk).amount == posting.amount


@postgres_only
def test_the_database_refuses_an_unbalanced_entry_at_commit() -> None:
    from django.db import DatabaseError

    user = make_driver()
    account = LedgerAccount.objects.get(wallet__user=user, kind="wallet")
    revenue = platform_account(kind="revenue", currency="EUR")
    with pytest.raises(DatabaseError, match="does not balance"), transaction.atomic():
        entry = JournalEntry.objects.create(
            idempotency_key="raw", kind="adjustment", currency="EUR", amount=Decimal("1")
        )
        Posting.objects.bulk_create(
            [
                Posting(entry=entry, account=account, amount=Decimal("1")),
                Posting(entry=entry, account=revenue, amount=Decimal("-0.5")),
            ]
        )
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS wallet_posting_balanced IMMEDIATE")


@postgres_only
def test_the_database_refuses_an_entry_in_another_currency() -> None:
    from django.db import DatabaseError

    user = make_driver()
    account = LedgerAccount.objects.get(wallet__user=user, kind="wallet")
    usd = platform_account(kind="revenue", currency="USD")
    with pytest.raises(DatabaseError, match="another currency"), transaction.atomic():
        entry = JournalEntry.objects.create(
            idempotency_key="fx", kind="adjustment", currency="EUR", amount=Decimal("1")
        )
        Posting.objects.bulk_create(
            [
                Posting(entry=entry, account=account, amount=Decimal("1")),
                Posting(entry=entry, account=usd, amount=Decimal("-1")),
            ]
        )
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS wallet_posting_balanced IMMEDIATE")
