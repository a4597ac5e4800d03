"""Stripe: PaymentIntents for top-ups, signed webhooks, refunds, through the official
``stripe`` package.

The secret key is passed per call (``api_key=``), never set globally, stored, logged or
returned; the app gets the PaymentIntent's client secret (Stripe's design: the app confirms
the payment with it and the publishable key).

Webhooks handled: ``payment_intent.succeeded`` (credits), ``payment_intent.payment_failed``
(an attempt failed: the top-up shows failed, and a later success on the same PaymentIntent
still credits), ``payment_intent.canceled``, and the refund's outcome
(``refund.updated``, ``refund.failed``, ``charge.refund.updated``). Any other verified event
is stored and answered 200 (Stripe retries non-2xx answers for days).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import stripe
from django.conf import settings

from wallet.money import from_minor, to_minor
from wallet.payments.base import (
    Checkout,
    EventKind,
    MalformedEvent,
    PaymentError,
    ProviderRefund,
    ProviderUnavailable,
    SignatureError,
    StaleEvent,
    VerifiedEvent,
)

if TYPE_CHECKING:
    from wallet.models import Refund, TopUp

SIGNATURE_HEADER = "Stripe-Signature"
_PAYMENT_EVENTS = {
    "payment_intent.succeeded": EventKind.PAYMENT_SUCCEEDED,
    "payment_intent.payment_failed": EventKind.PAYMENT_FAILED,
    "payment_intent.canceled": EventKind.PAYMENT_CANCELED,
}
_REFUND_EVENTS = {"refund.updated", "refund.failed", "charge.refund.updated"}


def _refusal(exc: stripe.StripeError) -> str:
    """What Stripe said, safe to store and show (its messages mask keys; we add none)."""
    message = getattr(exc, "user_message", None) or exc.__class__.__name__
    return str(message)[:200]


class StripeProvider:
    name = "stripe"

    def available(self) -> str | None:
        if not settings.STRIPE_SECRET_KEY:
            return "Stripe is not configured here (STRIPE_SECRET_KEY is not set)."
        return None

    def _key(self) -> str:
        if (why := self.available()) is not None:
            raise ProviderUnavailable(why)
        return str(settings.STRIPE_SECRET_KEY)

    def _action(self, client_secret: str | None) -> dict[str, Any]:
        action: dict[str, Any] = {"type": "stripe_payment_intent", "client_secret": client_secret}
        if settings.STRIPE_PUBLISHABLE_KEY:
            action["publishable_key"] = settings.STRIPE_PUBLISHABLE_KEY
        return action

    def checkout_create(self, *, top_up: TopUp) -> Checkout:
        try:
            intent = stripe.PaymentIntent.create(
                api_key=self._key(),
                amount=to_minor(top_up.amount, top_up.currency),
                currency=top_up.currency.lower(),
                metadata={"top_up": str(top_up.pk), "wallet": str(top_up.wallet_id)},
                automatic_payment_methods={"enabled": True},
                idempotency_key=f"top-up:{top_up.pk}",
            )
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe refused the payment: {_refusal(exc)}") from None
        return Checkout(str(intent.id), self._action(intent.client_secret))

    def checkout_next_action(self, *, top_up: TopUp) -> dict[str, Any] | None:
        try:
            intent = stripe.PaymentIntent.retrieve(top_up.provider_reference, api_key=self._key())
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe could not be asked: {_refusal(exc)}") from None
        return self._action(intent.client_secret)

    def webhook_verify(self, *, payload: bytes, headers: Mapping[str, str]) -> VerifiedEvent:
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            raise SignatureError("STRIPE_WEBHOOK_SECRET is not set: no webhook can be verified.")
        try:
            stripe.Webhook.construct_event(
                payload,
                headers.get(SIGNATURE_HEADER),
                secret,
                tolerance=settings.PAYMENT_WEBHOOK_TOLERANCE,
            )
        except stripe.SignatureVerificationError as exc:
            if "tolerance" in str(exc):
                raise StaleEvent("The signature's timestamp is outside the tolerance.") from None
            raise SignatureError(f"Bad Stripe signature: {exc}") from None
        except ValueError:  # verified, but not JSON (UnicodeDecodeError is a ValueError)
            raise MalformedEvent("The payload is not JSON.") from None
        try:
            event = json.loads(payload)
            event_id, event_type = str(event["id"]), str(event["type"])
            obj = event["data"]["object"]
            return self._read(event, event_id, event_type, obj)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MalformedEvent(f"Not a Stripe event: {exc.__class__.__name__}.") from None

    def _read(
        self, event: dict[str, Any], event_id: str, event_type: str, obj: dict[str, Any]
    ) -> VerifiedEvent:
        currency = str(obj.get("currency") or "").upper()
        if event_type in _PAYMENT_EVENTS:
            minor = obj.get("amount_received") or obj.get("amount")
            error = obj.get("last_payment_error") or {}
            reason = error.get("message") or obj.get("cancellation_reason") or ""
            return VerifiedEvent(
                id=event_id,
                type=event_type,
                kind=_PAYMENT_EVENTS[event_type],
                reference=str(obj["id"]),
                amount=from_minor(int(minor), currency) if minor is not None else None,
                currency=currency,
                payload=event,
                failure_reason=str(reason)[:255],
            )
        if event_type in _REFUND_EVENTS and obj.get("object") == "refund":
            status = obj.get("status")
            kind = (
                EventKind.REFUND_SUCCEEDED
                if status == "succeeded"
                else EventKind.REFUND_FAILED
                if status in ("failed", "canceled")
                else EventKind.OTHER
            )
            minor = obj.get("amount")
            metadata = obj.get("metadata") or {}
            return VerifiedEvent(
                id=event_id,
                type=event_type,
                kind=kind,
                reference=str(obj["id"]),
                amount=from_minor(int(minor), currency) if minor is not None else None,
                currency=currency,
                payload=event,
                failure_reason=str(obj.get("failure_reason") or "")[:255],
                # Ours (refund_create's metadata): which refund this is before its reference
                # is saved (wallet.services.payments._refund_event).
                extra={
                    "refund_id": str(metadata.get("refund") or ""),
                    "payment_reference": str(obj.get("payment_intent") or ""),
                },
            )
        return VerifiedEvent(
            id=event_id,
            type=event_type,
            kind=EventKind.OTHER,
            reference=str(obj.get("id", "")),
            amount=None,
            currency=currency,
            payload=event,
        )

    def refund_create(self, *, refund: Refund, idempotency_key: str) -> ProviderRefund:
        top_up = refund.top_up
        assert top_up is not None
        try:
            created = stripe.Refund.create(
                api_key=self._key(),
                payment_intent=top_up.provider_reference,
                amount=to_minor(refund.amount, refund.currency),
                metadata={"refund": str(refund.pk), "top_up": str(top_up.pk)},
                idempotency_key=idempotency_key,
            )
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe refused the refund: {_refusal(exc)}") from None
        if created.status in ("failed", "canceled"):
            raise PaymentError(f"Stripe refused the refund: {created.status}")
        return ProviderRefund(reference=str(created.id), succeeded=created.status == "succeeded")
