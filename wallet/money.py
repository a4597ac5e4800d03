"""Money in the wallet: ``Decimal`` at the currency's minor unit (ISO 4217 exponent), never
float. Amounts from billing (four places) are rounded half-up to the minor unit once, where
they enter the ledger."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

# ISO 4217 minor units that are not 2.
_MINOR_UNITS = {
    "BHD": 3, "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0,
    "KMF": 0, "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0, "TND": 3, "UGX": 0,
    "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}  # fmt: skip


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half-up to the currency's minor unit."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def to_minor(amount: Decimal, currency: str) -> int:
    """Whole minor units (cents), as payment providers take amounts."""
    return int(quantize(amount, currency).scaleb(minor_units(currency)))


def from_minor(value: int, currency: str) -> Decimal:
    return Decimal(value).scaleb(-minor_units(currency))


# Whole digits an amount may have: the ledger's columns hold 16 digits, 4 of them decimals.
MAX_WHOLE_DIGITS = 12


class AmountError(ValueError):
    pass


def parse_amount(value: Any, currency: str) -> Decimal:
    """A positive amount from a client: a string or an integer (never a float: ``10.1`` as a
    JSON number has no exact value), with at most the currency's minor-unit places."""
    if isinstance(value, bool) or isinstance(value, float):
        raise AmountError('Give the amount as a string, e.g. "20.00".')
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise AmountError('Give the amount as a string, e.g. "20.00".')
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise AmountError(f"{value!r} is not an amount.") from None
    if not amount.is_finite() or amount <= 0:
        raise AmountError("The amount must be a positive number.")
    if amount.adjusted() >= MAX_WHOLE_DIGITS:  # past what the ledger holds (and any wallet)
        raise AmountError(f"The amount must be below 10^{MAX_WHOLE_DIGITS}.")
    places = minor_units(currency)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise AmountError(f"{currency} amounts have at most {places} decimal places.")
    return quantize(amount, currency)
