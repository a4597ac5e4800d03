"""Wallet factories: drivers with wallets, funded through the ledger as a top-up would be."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from django.db import transaction
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.factories import make_user
from wallet.models import TopUp, Wallet
from wallet.services.ledger import ledger_top_up_credit, wallet_accounts, wallet_create, wallet_lock

_seq = itertools.count(1)


def make_driver(*, email: str | None = None, **extra: Any) -> Any:
    """A driver as sign-up makes one: the user (username = e-mail), a wallet, a virtual tag."""
    email = email or f"driver{next(_seq)}@example.com"
    user = make_user(username=email, email=email, **extra)
    with transaction.atomic():
        wallet_create(user=user)
    return user


def fund(user: Any, amount: str | Decimal, *, provider: str = "sandbox") -> TopUp:
    """Credit ``amount`` to the driver's wallet as a succeeded top-up."""
    wallet = Wallet.objects.get(user=user)
    with transaction.atomic():
        wallet = wallet_lock(wallet_id=wallet.pk)
        top_up = TopUp.objects.create(
            wallet=wallet,
            amount=Decimal(amount),
            currency=wallet.currency,
            provider=provider,
            idempotency_key=f"factory-{next(_seq)}",
            state=TopUp.State.SUCCEEDED,
        )
        ledger_top_up_credit(
            wallet=wallet,
            accounts=wallet_accounts(wallet=wallet),
            amount=Decimal(amount),
            provider=provider,
            idempotency_key=f"top-up:{top_up.pk}",
            top_up=top_up,
        )
    return top_up


def app_client(user: Any | None) -> APIClient:
    """An API client as the app is: a JWT access token in the Authorization header."""
    client = APIClient()
    if user is not None:
        token = RefreshToken.for_user(user).access_token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
