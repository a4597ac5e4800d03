"""Reads of top-ups, refunds and wallets for the app (a driver's own) and for operators."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from wallet.models import LedgerAccount, Refund, TopUp, Wallet


def top_up_list(*, wallet: Wallet | None = None, state: str | None = None) -> QuerySet[TopUp]:
    """Top-ups, newest first; ``wallet``: only that driver's."""
    found = TopUp.objects.select_related("wallet__user").order_by("-created_at", "-id")
    if wallet is not None:
        found = found.filter(wallet=wallet)
    if state:
        found = found.filter(state=state)
    return found


def top_up_get(*, pk: int, wallet: Wallet | None = None) -> TopUp | None:
    """The top-up ``pk`` (``wallet``: only if it is that driver's, else None)."""
    return top_up_list(wallet=wallet).filter(pk=pk).first()


def refund_list(
    *,
    state: str | None = None,
    wallet_id: int | None = None,
    order_id: int | None = None,
    top_up_id: int | None = None,
) -> QuerySet[Refund]:
    found = Refund.objects.select_related("wallet__user", "created_by").order_by(
        "-created_at", "-id"
    )
    if state:
        found = found.filter(state=state)
    if wallet_id is not None:
        found = found.filter(wallet_id=wallet_id)
    if order_id is not None:
        found = found.filter(order_id=order_id)
    if top_up_id is not None:
        found = found.filter(top_up_id=top_up_id)
    return found


def wallet_list(*, search: str | None = None) -> QuerySet[Wallet]:
    """Wallets with their user and accounts (balances without a query per wallet); ``search``
    matches the driver's e-mail or username."""
    found = (
        Wallet.objects.select_related("user", "virtual_id_tag")
        .prefetch_related(
            Prefetch("accounts", queryset=LedgerAccount.objects.order_by("kind", "id"))
        )
        .order_by("-created_at", "-id")
    )
    if search:
        found = found.filter(Q(user__email__icontains=search) | Q(user__username__icontains=search))
    return found


def wallet_get(*, pk: int) -> Wallet | None:
    return wallet_list().filter(pk=pk).first()
