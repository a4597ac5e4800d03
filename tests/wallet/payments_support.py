"""Helpers of the payments tests: webhooks signed exactly as the providers sign them, top-ups
started through the API, charged orders."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import Order
from tests.factories import make_charge_point, make_transaction
from wallet.models import JournalEntry, Posting, TopUp, Wallet
from wallet.payments.sandbox import webhook_secret
from wallet.selectors.ledger import wallet_balances
from wallet.services.settlement import order_settle

SANDBOX_WEBHOOK = "/api/v1/payments/webhooks/sandbox/"
STRIPE_WEBHOOK = "/api/v1/payments/webhooks/stripe/"
STRIPE_SECRET = "whsec_test_secret_for_tests"
_seq = itertools.count(1)


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``: how Stripe (and our sandbox) sign."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def sandbox_event(
    top_up: TopUp,
    type: str = "payment.succeeded",
    *,
    event_id: str | None = None,
    amount: str | None = None,
    currency: str | None = None,
) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_test_{next(_seq)}",
            "type": type,
            "created": int(time.time()),
            "data": {
                "reference": top_up.provider_reference,
                "amount": amount or str(top_up.amount),
                "currency": currency or top_up.currency,
            },
        }
    ).encode()


def post_sandbox(
    client: APIClient, body: bytes, *, timestamp: int | None = None, secret: str | None = None
) -> Any:
    header = sign(secret or webhook_secret(), body, timestamp)
    return client.post(
        SANDBOX_WEBHOOK, data=body, content_type="application/json", HTTP_SANDBOX_SIGNATURE=header
    )


def stripe_event(type: str, obj: dict[str, Any], *, event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{next(_seq)}",
            "object": "event",
            "type": type,
            "created": int(time.time()),
            "data": {"object": obj},
        }
    ).encode()


def payment_intent(top_up: TopUp, *, amount: int | None = None, **extra: Any) -> dict[str, Any]:
    minor = int(top_up.amount * 100) if amount is None else amount
    return {
        "id": top_up.provider_reference,
        "object": "payment_intent",
        "amount": minor,
        "amount_received": minor,
        "currency": top_up.currency.lower(),
        "metadata": {"top_up": str(top_up.pk)},
        **extra,
    }


def post_stripe(
    client: APIClient, body: bytes, *, timestamp: int | None = None, secret: str = STRIPE_SECRET
) -> Any:
    return client.post(
        STRIPE_WEBHOOK,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(secret, body, timestamp),
    )


def start_top_up(client: APIClient, amount: str = "20.00", **extra: Any) -> Any:
    return client.post(
        "/api/v1/app/wallet/top-ups/",
        {"amount": amount, **extra},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )


def pending_top_up(user: Any, amount: str = "20.00", provider: str = "sandbox") -> TopUp:
    wallet = Wallet.objects.get(user=user)
    return TopUp.objects.create(
        wallet=wallet,
        amount=Decimal(amount),
        currency=wallet.currency,
        provider=provider,
        provider_reference=f"ref_{provider}_{next(_seq)}",
        idempotency_key=f"k-{next(_seq)}",
    )


def available(user: Any) -> Decimal:
    return wallet_balances(wallet=Wallet.objects.get(user=user)).available


def ledger_size() -> tuple[int, int]:
    return JournalEntry.objects.count(), Posting.objects.count()


def charged_order(
    user: Any, *, incl: str = "12.10", excl: str = "10.00", transaction_data: Any = None
) -> Order:
    """A session of ``user``'s, billed and settled from their wallet as billing would."""
    station = make_charge_point()
    stopped = timezone.now()
    tx = make_transaction(
        charge_point=station, stopped_at=stopped, started_at=stopped - timedelta(hours=1)
    )
    order = Order.objects.create(
        transaction=tx,
        driver=user,
        charge_point=station,
        connector_id=1,
        started_at=stopped - timedelta(hours=1),
        stopped_at=stopped,
        energy_kwh=Decimal("20"),
        duration_seconds=3600,
        currency="EUR",
        total_excl_vat=Decimal(excl),
        total_incl_vat=Decimal(incl),
        priced={},
    )
    return order_settle(order_id=order.pk)
