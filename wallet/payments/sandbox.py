"""The sandbox provider: a payment provider of our own that takes no money and needs no
internet, for development, demos and tests.

Its checkout is our page ``/payments/sandbox/<token>/`` (``wallet.api.payments.webhooks``),
where the driver presses Pay or Decline. The page then delivers a webhook to ourselves, in
process, signed exactly as a real provider signs one (``Sandbox-Signature: t=<unix>,v1=<hmac>``,
see ``wallet.payments.base``) and verified by the same path as ``POST
/api/v1/payments/webhooks/sandbox/``: the page never credits a wallet by itself.

It is offered only while it is the configured provider (``PAYMENT_PROVIDER=sandbox``) and,
with DEBUG off, only when ``PAYMENT_SANDBOX_ALLOWED`` is true: on a platform that takes real
money (or a production deployment that forgot PAYMENT_PROVIDER), a free checkout page must
not exist. Unavailable, top-ups through it answer 503 and its page and webhook 404.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.crypto import salted_hmac

from wallet.payments.base import (
    Checkout,
    EventKind,
    MalformedEvent,
    ProviderRefund,
    VerifiedEvent,
    signature_header,
    signature_verify,
)

if TYPE_CHECKING:
    from wallet.models import Refund, TopUp

SIGNATURE_HEADER = "Sandbox-Signature"
_CHECKOUT_SALT = "wallet.payments.sandbox.checkout"
EVENT_TYPES = {
    "payment.succeeded": EventKind.PAYMENT_SUCCEEDED,
    "payment.failed": EventKind.PAYMENT_FAILED,
    "payment.canceled": EventKind.PAYMENT_CANCELED,
}


def webhook_secret() -> str:
    """SANDBOX_WEBHOOK_SECRET, or a key derived from SECRET_KEY when it is empty."""
    if settings.SANDBOX_WEBHOOK_SECRET:
        return str(settings.SANDBOX_WEBHOOK_SECRET)
    return salted_hmac("wallet.payments.sandbox", "webhook-secret").hexdigest()


def checkout_token(reference: str) -> str:
    """The unguessable token in the checkout URL: the payment's reference, signed (the same
    token every time, so a retried top-up gets the same link)."""
    return signing.Signer(salt=_CHECKOUT_SALT).sign(reference)


def checkout_reference(token: str) -> str | None:
    """The payment reference in a checkout token, or None when it was not signed by us."""
    try:
        return signing.Signer(salt=_CHECKOUT_SALT).unsign(token)
    except signing.BadSignature:
        return None


def checkout_url(reference: str) -> str:
    path = reverse("wallet-sandbox-checkout", args=[checkout_token(reference)])
    return f"{settings.PUBLIC_BASE_URL}{path}"


def event_build(
    *, top_up: TopUp, type: str, failure_reason: str = "", timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A sandbox webhook delivery for ``top_up``: the raw body and its signed headers, as
    a real provider would send them."""
    created = int(time.time()) if timestamp is None else timestamp
    body = json.dumps(
        {
            "id": f"evt_sbx_{secrets.token_hex(12)}",
            "type": type,
            "created": created,
            "data": {
                "reference": top_up.provider_reference,
                "amount": str(top_up.amount),
                "currency": top_up.currency,
                "failure_reason": failure_reason,
            },
        },
        separators=(",", ":"),
    ).encode()
    header = signature_header(secret=webhook_secret(), payload=body, timestamp=created)
    return body, {SIGNATURE_HEADER: header, "Content-Type": "application/json"}


class SandboxProvider:
    name = "sandbox"

    def available(self) -> str | None:
        if settings.PAYMENT_PROVIDER != self.name:
            return "The sandbox is offered only while PAYMENT_PROVIDER is sandbox."
        if not settings.DEBUG and not settings.PAYMENT_SANDBOX_ALLOWED:
            return (
                "The sandbox takes no real money: it is off when DEBUG is off unless "
                "PAYMENT_SANDBOX_ALLOWED=true"
            )
        return None

    def checkout_create(self, *, top_up: TopUp) -> Checkout:
        reference = top_up.provider_reference or f"sbx_pay_{secrets.token_urlsafe(18)}"
        return Checkout(reference, {"type": "redirect", "url": checkout_url(reference)})

    def checkout_next_action(self, *, top_up: TopUp) -> dict[str, Any] | None:
        return {"type": "redirect", "url": checkout_url(top_up.provider_reference)}

    def webhook_verify(self, *, payload: bytes, headers: Mapping[str, str]) -> VerifiedEvent:
        signature_verify(
            header=headers.get(SIGNATURE_HEADER),
            payload=payload,
            secret=webhook_secret(),
            tolerance=settings.PAYMENT_WEBHOOK_TOLERANCE,
        )
        try:
            event = json.loads(payload)
            data = event["data"]
            event_id, event_type = str(event["id"]), str(event["type"])
            reference = str(data.get("reference", ""))
            amount = Decimal(str(data["amount"])) if data.get("amount") is not None else None
            currency = str(data.get("currency", "")).upper()
        except (ValueError, KeyError, TypeError, AttributeError, InvalidOperation) as exc:
            raise MalformedEvent(f"Not a sandbox event: {exc.__class__.__name__}.") from None
        if not event_id or len(event_id) > 255:
            raise MalformedEvent("The event has no usable id.")
        return VerifiedEvent(
            id=event_id,
            type=event_type,
            kind=EVENT_TYPES.get(event_type, EventKind.OTHER),
            reference=reference,
            amount=amount,
            currency=currency,
            payload=event,
            failure_reason=str(data.get("failure_reason") or "")[:255],
        )

    def refund_create(self, *, refund: Refund, idempotency_key: str) -> ProviderRefund:
        # The sandbox pays back at once; the reference is stable per key (a retry is the same).
        digest = salted_hmac("wallet.payments.sandbox.refund", idempotency_key).hexdigest()
        return ProviderRefund(reference=f"sbx_re_{digest[:24]}", succeeded=True)
