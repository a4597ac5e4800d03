"""The driver's wallet screen (GET /api/v1/app/wallet/): balances and the statement, newest
first, cursor-paginated."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from tests.wallet.factories import fund
from wallet.models import JournalEntry, Wallet
from wallet.services.ledger import ledger_hold, wallet_accounts, wallet_lock

pytestmark = pytest.mark.django_db

WALLET = "/api/v1/app/wallet/"


def hold(user: Any, amount: str, key: str) -> JournalEntry:
    with transaction.atomic():
        wallet = wallet_lock(wallet_id=Wallet.objects.get(user=user).pk)
        entry, _ = ledger_hold(
            wallet=wallet,
            accounts=wallet_accounts(wallet=wallet),
            amount=Decimal(amount),
            idempotency_key=key,
        )
    return entry


def test_it_shows_balances_and_entries_newest_first(driver_app: APIClient, app_driver: Any):
    top_up = fund(app_driver, "20")
    held = hold(app_driver, "7.5", "hold-1")
    response = driver_app.get(WALLET)
    assert response.status_code == 200
    body = response.data
    assert {k: body[k] for k in ("currency", "available", "held", "owed")} == {
        "currency": "EUR",
        "available": "12.50",
        "held": "7.50",
        "owed": "0.00",
    }
    assert body["entries"]["next"] is None
    assert body["entries"]["previous"] is None
    first, second = body["entries"]["results"]
    assert first == {
        "id": held.pk,
        "kind": "hold",
        "amount": "7.50",
        "available_change": "-7.50",
        "currency": "EUR",
        "memo": "Held for a session",
        "created_at": first["created_at"],
        "order": None,
        "top_up": None,
        "session": None,
        "refund": None,
    }
    assert second["kind"] == "top_up"
    assert second["amount"] == "20.00"
    assert second["available_change"] == "20.00"
    assert second["top_up"] == top_up.pk


def test_it_pages_the_statement_with_a_cursor(driver_app: APIClient, app_driver: Any):
    for _ in range(5):
        fund(app_driver, "1")
    ids = list(
        JournalEntry.objects.filter(wallet__user=app_driver)
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)
    )
    seen: list[int] = []
    url: str | None = f"{WALLET}?page_size=2"
    pages = 0
    while url:
        response = driver_app.get(url)
        assert response.status_code == 200
        assert response.data["available"] == "5.00"  # every page has the balances
        seen += [entry["id"] for entry in response.data["entries"]["results"]]
        url = response.data["entries"]["next"]
        pages += 1
    assert seen == ids
    assert pages == 3


def test_it_shows_a_new_driver_an_empty_statement(driver_app: APIClient):
    response = driver_app.get(WALLET)
    assert response.status_code == 200
    assert response.data["available"] == "0.00"
    assert response.data["entries"]["results"] == []


def test_it_shows_each_driver_only_their_own_entries(
    other_driver_app: APIClient, app_driver: Any, other_driver: Any
):
    fund(app_driver, "50")
    fund(other_driver, "3")
    response = other_driver_app.get(WALLET)
    assert response.data["available"] == "3.00"
    assert [e["amount"] for e in response.data["entries"]["results"]] == ["3.00"]


def test_it_reads_the_statement_in_a_fixed_number_of_queries(
    driver_app: APIClient, app_driver: Any, django_assert_max_num_queries: Any
):
    for n in range(10):
        fund(app_driver, "1")
        hold(app_driver, "0.5", f"hold-{n}")
    # The user, the wallet, the balances, one page of entries.
    with django_assert_max_num_queries(5):
        response = driver_app.get(WALLET)
    assert len(response.data["entries"]["results"]) == 20


def test_it_refuses_a_bad_cursor(driver_app: APIClient):
    assert driver_app.get(f"{WALLET}?cursor=garbage").status_code == 404


def test_it_shows_the_wallet_only_to_drivers(operator_app: APIClient, anonymous_app: APIClient):
    assert operator_app.get(WALLET).status_code == 403
    assert anonymous_app.get(WALLET).status_code == 401
