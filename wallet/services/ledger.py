"""The ledger's writes: wallets and their accounts, and every money movement as one balanced
journal entry (``entry_post``) with its idempotency key.

Locking: every movement of a driver's money runs inside ``transaction.atomic`` and first locks
the driver's Wallet row (``wallet_lock``); the account balances it caches are then written by
this module alone. Platform accounts (clearing, revenue, VAT) are shared by every wallet: their
cached balances are bumped with one ``UPDATE ... SET balance = balance + x`` each, last in the
transaction and in id order, so their row locks are held briefly and never deadlock.

Sign convention: postings are debit positive. A driver's wallet, held funds, revenue and VAT
are credit-normal (a credit raises them); a receivable and a provider's clearing account are
debit-normal. ``LedgerAccount.balance`` is kept in the account's natural sign (a wallet with
EUR 20 on it shows 20).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from csms.models import IdTag
from wallet.models import JournalEntry, LedgerAccount, Posting, Wallet
from wallet.money import quantize

Kind = LedgerAccount.Kind
ZERO = Decimal("0")


class LedgerError(Exception):
    """A movement the ledger refuses (unbalanced, wrong currency, not enough funds)."""


class InsufficientFunds(LedgerError):
    pass


# --- Wallets and accounts ------------------------------------------------------------------


def _virtual_tag_value() -> str:
    # 20 characters (OCPP idToken's maximum): "APP" and 17 random ones, never a card's number.
    return "APP" + secrets.token_hex(9).upper()[:17]


def wallet_create(*, user: Any, currency: str | None = None) -> Wallet:
    """The driver's wallet, its three accounts and its virtual id tag (the idTag of sessions
    started from the app), or the existing wallet. Call inside a transaction."""
    existing = Wallet.objects.filter(user=user).first()
    if existing is not None:
        return existing
    tag = IdTag(id_tag=_virtual_tag_value(), user=user, note="Virtual tag for app sessions")
    tag.save()
    wallet = Wallet.objects.create(
        user=user, currency=currency or settings.WALLET_CURRENCY, virtual_id_tag=tag
    )
    LedgerAccount.objects.bulk_create(
        LedgerAccount(kind=kind, wallet=wallet, currency=wallet.currency)
        for kind in (Kind.WALLET, Kind.HELD, Kind.RECEIVABLE)
    )
    return wallet


def wallet_lock(*, wallet_id: int) -> Wallet:
    """The wallet row, locked until the end of the transaction: every change of its money
    takes this lock first. Must run inside ``transaction.atomic``."""
    return Wallet.objects.select_for_update().get(pk=wallet_id)


def wallet_accounts(*, wallet: Wallet) -> dict[str, LedgerAccount]:
    """The wallet's accounts by kind. Call while holding the wallet lock: the balances read
    are then the ones this transaction will change."""
    return {account.kind: account for account in LedgerAccount.objects.filter(wallet=wallet)}


def platform_account(*, kind: str, currency: str, provider: str = "") -> LedgerAccount:
    """A platform account (provider clearing, revenue, VAT payable), created on first use."""
    found = LedgerAccount.objects.filter(
        wallet__isnull=True, kind=kind, provider=provider, currency=currency
    ).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(kind=kind, provider=provider, currency=currency)
    except IntegrityError:  # created meanwhile by another transaction
        return LedgerAccount.objects.get(
            wallet__isnull=True, kind=kind, provider=provider, currency=currency
        )


# --- Posting -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Leg:
    """One posting to be: ``amount`` debit positive, credit negative."""

    account: LedgerAccount
    amount: Decimal


def debit(account: LedgerAccount, amount: Decimal) -> Leg:
    return Leg(account, amount)


def credit(account: LedgerAccount, amount: Decimal) -> Leg:
    return Leg(account, -amount)


def entry_find(*, idempotency_key: str) -> JournalEntry | None:
    return JournalEntry.objects.filter(idempotency_key=idempotency_key).first()


def entry_post(
    *,
    idempotency_key: str,
    kind: str,
    currency: str,
    legs: Sequence[Leg],
    wallet: Wallet | None = None,
    amount: Decimal,
    available_change: Decimal = ZERO,
    memo: str = "",
    **links: Any,
) -> tuple[JournalEntry, bool]:
    """Post one journal entry with ``legs``, or find the one already posted under
    ``idempotency_key``: ``(entry, created)``. A retry never posts twice.

    Call inside ``transaction.atomic`` holding the lock of ``wallet`` (when the entry moves a
    driver's money). Legs of zero are dropped; the rest must sum to zero, in ``currency``, on
    at least two accounts. ``links`` are the entry's references (order, top_up, session,
    refund, created_by)."""
    existing = entry_find(idempotency_key=idempotency_key)
    if existing is not None:
        return existing, False
    legs = [Leg(leg.account, quantize(leg.amount, currency)) for leg in legs if leg.amount]
    legs = [leg for leg in legs if leg.amount]
    if sum((leg.amount for leg in legs), ZERO) != ZERO:
        raise LedgerError(f"unbalanced entry {idempotency_key}: {legs}")
    if len({leg.account.pk for leg in legs}) < 2:
        raise LedgerError(f"entry {idempotency_key} needs two accounts: {legs}")
    if any(leg.account.currency != currency for leg in legs):
        raise LedgerError(f"entry {idempotency_key} mixes currencies: {legs}")
    try:
        with transaction.atomic():
            entry = JournalEntry.objects.create(
                idempotency_key=idempotency_key,
                kind=kind,
                wallet=wallet,
                currency=currency,
                amount=quantize(amount, currency),
                available_change=quantize(available_change, currency),
                memo=memo[:255],
                **links,
            )
            # One INSERT: on PostgreSQL the balance trigger then sees the whole entry even
            # when checked immediately.
            Posting.objects.bulk_create(
                Posting(entry=entry, account=leg.account, amount=leg.amount) for leg in legs
            )
    except IntegrityError:
        existing = entry_find(idempotency_key=idempotency_key)
        if existing is None:
            raise
        return existing, False
    _balances_apply(legs)
    return entry, True


def _balances_apply(legs: Iterable[Leg]) -> None:
    """Move the cached balances by the legs: driver accounts (locked with their wallet) first,
    then platform accounts in id order, each one UPDATE with the delta in its natural sign."""
    deltas: dict[int, Decimal] = {}
    accounts: dict[int, LedgerAccount] = {}
    for leg in legs:
        deltas[leg.account.pk] = deltas.get(leg.account.pk, ZERO) + leg.amount * leg.account.sign
        accounts[leg.account.pk] = leg.account
    ordered = sorted(accounts, key=lambda pk: (accounts[pk].wallet_id is None, pk))
    for pk in ordered:
        delta = deltas[pk]
        if delta:
            LedgerAccount.objects.filter(pk=pk).update(balance=F("balance") + delta)
            accounts[pk].balance = accounts[pk].balance + delta


# --- Movements -----------------------------------------------------------------------------
# Each takes the locked wallet and its accounts (wallet_lock + wallet_accounts) and posts one
# entry. They decide nothing about sessions or orders: the callers (payments, sessions,
# settlement) do.


def ledger_top_up_credit(
    *,
    wallet: Wallet,
    accounts: dict[str, LedgerAccount],
    amount: Decimal,
    provider: str,
    idempotency_key: str,
    **links: Any,
) -> tuple[JournalEntry, bool]:
    """Money paid in through ``provider``: its clearing account debited, the wallet credited."""
    clearing = platform_account(
        kind=Kind.PROVIDER_CLEARING, currency=wallet.currency, provider=provider
    )
    return entry_post(
        idempotency_key=idempotency_key,
        kind=JournalEntry.Kind.TOP_UP,
        currency=wallet.currency,
        wallet=wallet,
        amount=amount,
        available_change=amount,
        legs=[debit(clearing, amount), credit(accounts[Kind.WALLET], amount)],
        memo=f"Top-up via {provider}",
        **links,
    )


def ledger_hold(
    *,
    wallet: Wallet,
    accounts: dict[str, LedgerAccount],
    amount: Decimal,
    idempotency_key: str,
    memo: str = "Held for a session",
    **links: Any,
) -> tuple[JournalEntry, bool]:
    """Move ``amount`` of available funds to held funds (InsufficientFunds past the balance)."""
    if (existing := entry_find(idempotency_key=idempotency_key)) is not None:
        return existing, False
    if amount > accounts[Kind.WALLET].balance:
        raise InsufficientFunds(f"cannot hold {amount}: {accounts[Kind.WALLET].balance} available")
    return entry_post(
        idempotency_key=idempotency_key,
        kind=JournalEntry.Kind.HOLD,
        currency=wallet.currency,
        wallet=wallet,
        amount=amount,
        available_change=-amount,
        legs=[debit(accounts[Kind.WALLET], amount), credit(accounts[Kind.HELD], amount)],
        memo=memo,
        **links,
    )


def ledger_release(
    *,
    wallet: Wallet,
    accounts: dict[str, LedgerAccount],
    amount: Decimal,
    idempotency_key: str,
    memo: str = "Hold released",
    **links: Any,
) -> tuple[JournalEntry, bool]:
    """Move ``amount`` of held funds back to available funds."""
    if (existing := entry_find(idempotency_key=idempotency_key)) is not None:
        return existing, False
    if amount > accounts[Kind.HELD].balance:
        raise LedgerError(f"cannot release {amount}: {accounts[Kind.HELD].balance} held")
    return entry_post(
        idempotency_key=idempotency_key,
        kind=JournalEntry.Kind.RELEASE,
        currency=wallet.currency,
        wallet=wallet,
        amount=amount,
        available_change=amount,
        legs=[debit(accounts[Kind.HELD], amount), credit(accounts[Kind.WALLET], amount)],
        memo=memo,
        **links,
    )


@dataclass(frozen=True, slots=True)
class Capture:
    entry: JournalEntry
    created: bool
    from_held: Decimal
    from_available: Decimal
    shortfall: Decimal


def ledger_capture(
    *,
    wallet: Wallet,
    accounts: dict[str, LedgerAccount],
    total: Decimal,
    vat: Decimal,
    held: Decimal,
    idempotency_key: str,
    memo: str,
    **links: Any,
) -> Capture:
    """Charge ``total`` (incl. ``vat``): from up to ``held`` of the held funds, then from the
    available funds, and what neither covers becomes a receivable. Revenue is credited with
    the total less VAT, VAT payable with the VAT."""
    currency = wallet.currency
    total, vat = quantize(total, currency), quantize(vat, currency)
    from_held = min(total, held, accounts[Kind.HELD].balance)
    from_available = min(total - from_held, max(accounts[Kind.WALLET].balance, ZERO))
    shortfall = total - from_held - from_available
    revenue = platform_account(kind=Kind.REVENUE, currency=currency)
    vat_payable = platform_account(kind=Kind.VAT_PAYABLE, currency=currency)
    entry, created = entry_post(
        idempotency_key=idempotency_key,
        kind=JournalEntry.Kind.CAPTURE,
        currency=currency,
        wallet=wallet,
        amount=total,
        available_change=-from_available,
        legs=[
            debit(accounts[Kind.HELD], from_held),
            debit(accounts[Kind.WALLET], from_available),
            debit(accounts[Kind.RECEIVABLE], shortfall),
            credit(revenue, total - vat),
            credit(vat_payable, vat),
        ],
        memo=memo,
        **links,
    )
    if not created:  # a retry: report what the first capture did
        legs = {p.account_id: p.amount for p in entry.postings.all()}
        from_held = legs.get(accounts[Kind.HELD].pk, ZERO)
        from_available = legs.get(accounts[Kind.WALLET].pk, ZERO)
        shortfall = legs.get(accounts[Kind.RECEIVABLE].pk, ZERO)
    return Capture(entry, created, from_held, from_available, shortfall)


def ledger_receivable_settle(
    *, wallet: Wallet, accounts: dict[str, LedgerAccount], idempotency_key: str, **links: Any
) -> tuple[JournalEntry, bool] | None:
    """Pay what the driver owes from their available funds, as far as they reach (after a
    top-up). None when nothing is owed or nothing is available."""
    amount = min(accounts[Kind.RECEIVABLE].balance, accounts[Kind.WALLET].balance)
    if amount <= ZERO:
        return None
    return entry_post(
        idempotency_key=idempotency_key,
        kind=JournalEntry.Kind.RECEIVABLE_SETTLED,
        currency=wallet.currency,
        wallet=wallet,
        amount=amount,
        available_change=-amount,
        legs=[debit(accounts[Kind.WALLET], amount), credit(accounts[Kind.RECEIVABLE], amount)],
        memo="Unpaid sessions settled from the balance",
        **links,
    )


def ledger_order_refund(
    *,
    wallet: Wallet,
    accounts: dict[str, LedgerAccount],
    amount: Decimal,
    vat: Decimal,
    idempotency_key: str,
    memo: str,
    **links: Any,
) -> tuple[JournalEntry, bool]:
    """Give ``amount`` (incl. ``vat``) of a charged session back to the wallet: the reverse of
    a capture's revenue and VAT legs."""
    currency = wallet.currency
    revenue = platform_account(kind=Kind.REVENUE, currency=currency)
    vat_payable = platform_account(kind=Kind.VAT_PAYABLE, currency=currency)
    return entry_post(
        idempotency_key=idempotency_key,
        kind=JournalEntry.Kind.REFUND,
        currency=currency,
        wallet=wallet,
        amount=amount,
        available_change=amount,
        legs=[
            debit(revenue, amount - vat),
            debit(vat_payable, vat),
            credit(accounts[Kind.WALLET], amount),
        ],
        memo=memo,
        **links,
    )


def ledger_top_up_refund(
    *,
    wallet: Wallet,
    accounts: dict[str, LedgerAccount],
    amount: Decimal,
    provider: str,
    idempotency_key: str,
    memo: str,
    **links: Any,
) -> tuple[JournalEntry, bool]:
    """Pay ``amount`` of a top-up back out through its provider: the wallet debited (it must
    have the funds available), the clearing account credited."""
    if (existing := entry_find(idempotency_key=idempotency_key)) is not None:
        return existing, False
    if amount > accounts[Kind.WALLET].balance:
        raise InsufficientFunds(
            f"cannot refund {amount}: only {accounts[Kind.WALLET].balance} is available"
        )
    clearing = platform_account(
        kind=Kind.PROVIDER_CLEARING, currency=wallet.currency, provider=provider
    )
    return entry_post(
        idempotency_key=idempotency_key,
        kind=JournalEntry.Kind.REFUND,
        currency=wallet.currency,
        wallet=wallet,
        amount=amount,
        available_change=-amount,
        legs=[debit(accounts[Kind.WALLET], amount), credit(clearing, amount)],
        memo=memo,
        **links,
    )
