"""What the wallet asks of a payment provider, and what it gets back.

A provider takes money in (a checkout the app completes), tells us what happened by signed
webhooks, and pays money back out (refunds). Only a *verified* webhook moves money into a
wallet: the app's word that it paid, or a checkout page's redirect, never does.

Every provider's webhook is signed as Stripe signs: a header ``t=<unix>,v1=<hex>`` where the
hex is HMAC-SHA256 of ``"<t>.<raw body>"`` keyed with the webhook secret. A signature older
than ``PAYMENT_WEBHOOK_TOLERANCE`` seconds is refused (a captured delivery cannot be replayed
later; a replay within the window is a duplicate event id and changes nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from wallet.models import Refund, TopUp


class PaymentError(Exception):
    """The provider refused or could not be reached (a checkout, a refund). The message is
    safe to show and log: it never holds a key."""


class ProviderUnavailable(PaymentError):
    """The provider is not configured here (the message says why)."""


class WebhookError(Exception):
    """A webhook we refuse (400): nothing of it is stored or posted."""


class SignatureError(WebhookError):
    pass


class StaleEvent(WebhookError):
    pass


class MalformedEvent(WebhookError):
    pass


class EventKind:
    """What an event means to the wallet, whatever the provider calls it."""

    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_CANCELED = "payment_canceled"
    REFUND_SUCCEEDED = "refund_succeeded"
    REFUND_FAILED = "refund_failed"
    OTHER = "other"  # verified, stored, and ignored


@dataclass(frozen=True, slots=True)
class Checkout:
    """A payment started at the provider: its id, and what the app does next (``{"type":
    "redirect", "url": ...}`` for the sandbox, ``{"type": "stripe_payment_intent",
    "client_secret": ..., "publishable_key": ...}`` for Stripe)."""

    provider_reference: str
    next_action: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    reference: str
    succeeded: bool  # False: pending at the provider (a later webhook says how it ended)


@dataclass(frozen=True, slots=True)
class VerifiedEvent:
    """A webhook whose signature checked out, read into the wallet's terms. ``reference`` is
    the payment's id (payment events) or the refund's (refund events); ``amount`` in major
    units (Decimal) and ``currency`` upper-case when the event carries them."""

    id: str
    type: str
    kind: str
    reference: str
    amount: Decimal | None
    currency: str
    payload: dict[str, Any]
    failure_reason: str = ""
    # Refund events: ``refund_id`` (our Refund's pk, from the metadata we sent) and
    # ``payment_reference`` (the payment refunded), when the provider echoes them.
    extra: dict[str, Any] = field(default_factory=dict)


class PaymentProvider(Protocol):
    name: str

    def available(self) -> str | None:
        """Why this provider cannot be used here, or None when it can."""

    def checkout_create(self, *, top_up: TopUp) -> Checkout:
        """Start the payment of ``top_up`` (idempotent per top-up). PaymentError."""

    def checkout_next_action(self, *, top_up: TopUp) -> dict[str, Any] | None:
        """What the app does next for a pending top-up that already has its reference."""

    def webhook_verify(self, *, payload: bytes, headers: Mapping[str, str]) -> VerifiedEvent:
        """The event in a webhook delivery, its signature verified. SignatureError,
        StaleEvent, MalformedEvent."""

    def refund_create(self, *, refund: Refund, idempotency_key: str) -> ProviderRefund:
        """Pay ``refund.amount`` of ``refund.top_up`` back (idempotent per key). PaymentError."""


# --- Stored payloads -------------------------------------------------------------------------

# Keys whose values are credentials, wherever they sit in an event: a Stripe PaymentIntent's
# client_secret lets whoever holds it confirm the payment, so it is not kept (nor shown in
# the admin) once the event is verified.
SECRET_KEYS = frozenset({"client_secret"})


def payload_scrub(value: Any) -> Any:
    """``value`` (an event's JSON) without the keys in SECRET_KEYS, at any depth; a new
    object, ``value`` is left as it is."""
    if isinstance(value, dict):
        return {k: payload_scrub(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [payload_scrub(item) for item in value]
    return value


# --- The signature scheme (Stripe's, used by the sandbox too) --------------------------------


def signature_compute(*, secret: str, payload: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, payload: bytes, timestamp: int | None = None) -> str:
    """The header value a provider sends with ``payload``: ``t=<unix>,v1=<hex>``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return (
        f"t={timestamp},v1={signature_compute(secret=secret, payload=payload, timestamp=timestamp)}"
    )


def signature_verify(*, header: str | None, payload: bytes, secret: str, tolerance: int) -> int:
    """Check ``header`` (``t=..,v1=..[,v1=..]``) against ``payload``; returns the timestamp.
    SignatureError when no v1 signature matches; StaleEvent when it is older (or further in
    the future) than ``tolerance`` seconds."""
    if not header:
        raise SignatureError("No signature header.")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("The signature header's timestamp is not a number.") from None
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError("The signature header needs t=<unix time> and v1=<signature>.")
    expected = signature_compute(secret=secret, payload=payload, timestamp=timestamp)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise SignatureError("The signature does not match the payload.")
    if abs(time.time() - timestamp) > tolerance:
        raise StaleEvent(f"The signature's timestamp {timestamp} is outside the tolerance.")
    return timestamp
