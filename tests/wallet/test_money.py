"""Amounts from clients: strings or integers at the currency's minor unit, never floats, and
never past what the ledger can hold (a 400, not a 500)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from wallet.money import AmountError, parse_amount, quantize, to_minor


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20.00", Decimal("20.00")),
        ("7", Decimal("7.00")),
        (5, Decimal("5.00")),
        (" 1.5 ", Decimal("1.50")),
    ],
)
def test_it_reads_strings_and_integers_at_the_minor_unit(value, expected):
    assert parse_amount(value, "EUR") == expected


@pytest.mark.parametrize(
    "value",
    [20.5, True, None, [], "abc", "NaN", "Infinity", "-1", "0", "1.001", "1e999", 10**35, "1e12"],
)
def test_it_refuses_what_is_not_a_storable_positive_amount(value):
    with pytest.raises(AmountError):
        parse_amount(value, "EUR")


def test_it_takes_the_largest_amount_the_ledger_holds():
    assert parse_amount("999999999999.99", "EUR") == Decimal("999999999999.99")


def test_it_knows_currencies_without_cents():
    assert parse_amount("500", "JPY") == Decimal("500")
    with pytest.raises(AmountError):
        parse_amount("5.5", "JPY")
    assert to_minor(quantize(Decimal("12.345"), "EUR"), "EUR") == 1235


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["1e999", 10**35])
def test_a_huge_top_up_is_a_400_not_a_500(driver_app, amount):
    response = driver_app.post(
        "/api/v1/app/wallet/top-ups/",
        {"amount": amount},
        format="json",
        HTTP_IDEMPOTENCY_KEY="huge-1",
    )
    assert response.status_code == 400, response.data
    assert "amount" in response.data
