"""Top-ups through payment providers, and the provider events (webhooks) that settle them.

Only a verified webhook credits a wallet (``provider_event_process``): not the app saying it
paid, not the checkout page. Each event is stored once per (provider, event id); a replayed
or concurrently re-delivered event hits that unique constraint and changes nothing. The credit
itself is keyed ``top-up:<id>``, so two *different* events for one payment credit it once.

Answers to the provider (decided here, applied by the webhook view):

- a verified event, whatever it says (handled, unknown payment, amount mismatch, an event type
  we do not handle): 200, stored with its outcome and logged. Providers retry non-2xx answers
  for days, and retrying a genuine event cannot change what it says; an amount or currency
  mismatch is logged as an error and noted on the top-up for an operator, never credited;
- a bad signature, a stale timestamp, a malformed body: 400 (``WebhookError``), logged,
  nothing stored or posted;
- an event about one of our refunds whose provider reference is not saved yet: 409
  (``EventNotReady``), logged, nothing stored, so the provider delivers it again later and
  that delivery is processed (not a "duplicate"). ``refund_send`` asks the provider inside
  the transaction that saves the reference, so the provider's webhook can arrive first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from wallet.models import ProviderEvent, Refund, TopUp, Wallet
from wallet.payments import UnknownProvider, provider_get
from wallet.payments.base import (
    EventKind,
    PaymentProvider,
    ProviderUnavailable,
    VerifiedEvent,
    WebhookError,
    payload_scrub,
)
from wallet.services.ledger import (
    ledger_receivable_settle,
    ledger_top_up_credit,
    wallet_accounts,
    wallet_lock,
)
from wallet.services.settlement import receivables_settle_orders

logger = logging.getLogger("wallet.payments")


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before for a different request (422)."""


class EventNotReady(Exception):
    """A verified event we cannot apply yet (a refund whose reference is not committed): not
    stored; answered non-2xx (409) so the provider delivers it again later."""


@dataclass(frozen=True, slots=True)
class TopUpStarted:
    top_up: TopUp
    created: bool
    # What the app does next (None once the top-up is no longer pending).
    next_action: dict[str, Any] | None


# --- Top-ups ---------------------------------------------------------------------------------


def _available_provider(name: str | None) -> PaymentProvider:
    try:
        provider = provider_get(name)
    except UnknownProvider as exc:
        raise ValidationError({"provider": str(exc)}) from None
    return provider


def top_up_create(
    *, wallet: Wallet, amount: Decimal, provider: str | None = None, idempotency_key: str
) -> TopUpStarted:
    """Start a top-up of ``amount`` through ``provider`` (default: PAYMENT_PROVIDER).

    Idempotent per (wallet, key): a retry returns the same top-up (``created`` False) and
    creates nothing; the same key with another amount or provider is an IdempotencyConflict.
    ValidationError: amount outside WALLET_TOP_UP_MIN..MAX, unknown provider.
    ProviderUnavailable: the provider is not configured here. PaymentError: the provider
    refused or could not be reached; the top-up stays pending and a retry with the same key
    asks again."""
    chosen = _available_provider(provider)
    currency = wallet.currency
    low, high = settings.WALLET_TOP_UP_MIN, settings.WALLET_TOP_UP_MAX
    if amount < low or amount > high:
        raise ValidationError(
            {"amount": f"A top-up is between {low} and {high} {currency}; {amount} is not."}
        )
    existing = TopUp.objects.filter(wallet=wallet, idempotency_key=idempotency_key).first()
    created = False
    if existing is None:
        if (why := chosen.available()) is not None:
            raise ProviderUnavailable(f"Top-ups through {chosen.name} are not available: {why}")
        try:
            with transaction.atomic():
                existing = TopUp.objects.create(
                    wallet=wallet,
                    amount=amount,
                    currency=currency,
                    provider=chosen.name,
                    idempotency_key=idempotency_key,
                )
                created = True
        except IntegrityError:  # the same key, at the same moment
            existing = TopUp.objects.get(wallet=wallet, idempotency_key=idempotency_key)
    if not created and (existing.amount != amount or existing.provider != chosen.name):
        raise IdempotencyConflict(
            f"This Idempotency-Key was used for a top-up of {existing.amount} "
            f"{existing.currency} through {existing.provider}: use a new key for a new top-up."
        )
    if created:
        logger.info("top-up %s of %s %s via %s", existing.pk, amount, currency, chosen.name)
    return TopUpStarted(existing, created, top_up_next_action(top_up=existing))


def top_up_next_action(*, top_up: TopUp) -> dict[str, Any] | None:
    """What the app does next for a pending top-up: starts the checkout at the provider the
    first time (keyed by the top-up: asking twice starts one payment), else asks for it
    again. None once the top-up succeeded, failed or was canceled."""
    if top_up.state != TopUp.State.PENDING:
        return None
    provider = provider_get(top_up.provider)
    if top_up.provider_reference:
        return provider.checkout_next_action(top_up=top_up)
    checkout = provider.checkout_create(top_up=top_up)
    # Only the first reference sticks (two retries racing both reach here).
    TopUp.objects.filter(pk=top_up.pk, provider_reference="").update(
        provider_reference=checkout.provider_reference, updated_at=timezone.now()
    )
    top_up.refresh_from_db(fields=["provider_reference"])
    if top_up.provider_reference != checkout.provider_reference:
        return provider.checkout_next_action(top_up=top_up)
    return checkout.next_action


# --- Webhooks --------------------------------------------------------------------------------


def webhook_receive(*, provider: str, payload: bytes, headers: Mapping[str, str]) -> str:
    """A webhook delivery from ``provider``: verify it, then process it
    (``provider_event_process``); returns the outcome. WebhookError (logged): refused, nothing
    stored. UnknownProvider / ProviderUnavailable: no such provider here."""
    chosen = provider_get(provider)
    if (why := chosen.available()) is not None and chosen.name == "sandbox":
        raise ProviderUnavailable(why)
    try:
        event = chosen.webhook_verify(payload=payload, headers=headers)
    except WebhookError as exc:
        logger.warning("%s webhook refused (%s): %s", chosen.name, exc.__class__.__name__, exc)
        raise
    return provider_event_process(provider=chosen.name, event=event)


def provider_event_process(*, provider: str, event: VerifiedEvent) -> str:
    """Apply a verified event once: stored as a ProviderEvent (unique per provider and event
    id) in the same transaction as its effect, so a replay, or a twin delivered at the same
    moment, finds it and posts nothing ("duplicate"). Returns the outcome (also stored).
    EventNotReady (logged): not applicable yet, nothing stored (rolled back)."""
    try:
        with transaction.atomic():
            stored = ProviderEvent.objects.create(
                provider=provider,
                event_id=event.id,
                type=event.type[:100],
                payload=payload_scrub(event.payload),  # no client_secret kept or shown
            )
            outcome = _event_apply(provider=provider, event=event)[:255]
            stored.outcome = outcome
            stored.processed_at = timezone.now()
            stored.save(update_fields=["outcome", "processed_at"])
    except IntegrityError:
        if not ProviderEvent.objects.filter(provider=provider, event_id=event.id).exists():
            raise
        logger.info("%s event %s delivered again: already processed", provider, event.id)
        return "duplicate"
    logger.info("%s event %s (%s): %s", provider, event.id, event.type, outcome)
    return outcome


_PAYMENT_KINDS = {
    EventKind.PAYMENT_SUCCEEDED,
    EventKind.PAYMENT_FAILED,
    EventKind.PAYMENT_CANCELED,
}
_REFUND_KINDS = {EventKind.REFUND_SUCCEEDED, EventKind.REFUND_FAILED}


def _event_apply(*, provider: str, event: VerifiedEvent) -> str:
    if event.kind in _PAYMENT_KINDS:
        return _payment_event(provider=provider, event=event)
    if event.kind in _REFUND_KINDS:
        return _refund_event(provider=provider, event=event)
    return f"ignored: {event.type} is not an event we act on"


def _payment_event(*, provider: str, event: VerifiedEvent) -> str:
    found = (
        TopUp.objects.filter(provider=provider, provider_reference=event.reference)
        .values_list("pk", "wallet_id")
        .first()
        if event.reference
        else None
    )
    if found is None:
        logger.warning(
            "%s event %s (%s) for unknown payment %r: ignored",
            provider,
            event.id,
            event.type,
            event.reference,
        )
        return "ignored: no top-up has this payment reference"
    top_up_id, wallet_id = found
    wallet = wallet_lock(wallet_id=wallet_id)
    top_up = TopUp.objects.select_for_update().get(pk=top_up_id)
    if event.kind == EventKind.PAYMENT_SUCCEEDED:
        return _top_up_credit(wallet=wallet, top_up=top_up, event=event)
    if top_up.state == TopUp.State.SUCCEEDED:
        # Events arrive in any order; a success is money received and is never undone here.
        logger.warning(
            "%s event %s (%s) after top-up %s succeeded: ignored",
            provider,
            event.id,
            event.type,
            top_up.pk,
        )
        return "ignored: the top-up already succeeded"
    failed = event.kind == EventKind.PAYMENT_FAILED
    top_up.state = TopUp.State.FAILED if failed else TopUp.State.CANCELED
    top_up.failure_reason = (event.failure_reason or ("declined" if failed else "canceled"))[:255]
    top_up.save(update_fields=["state", "failure_reason", "updated_at"])
    return f"top-up {top_up.pk} {top_up.state}"


def _top_up_credit(*, wallet: Wallet, top_up: TopUp, event: VerifiedEvent) -> str:
    """Credit the wallet for ``top_up`` (held: the wallet lock and the top-up's row)."""
    if event.currency != top_up.currency or event.amount != top_up.amount:
        logger.error(
            "%s event %s says top-up %s paid %s %s, but it is of %s %s: NOT credited",
            top_up.provider,
            event.id,
            top_up.pk,
            event.amount,
            event.currency,
            top_up.amount,
            top_up.currency,
        )
        top_up.failure_reason = (
            f"provider reported {event.amount} {event.currency}: not credited, see event {event.id}"
        )[:255]
        top_up.save(update_fields=["failure_reason", "updated_at"])
        return "refused: the amount or currency does not match the top-up"
    # A success after a failed attempt (Stripe lets the driver retry a PaymentIntent) or
    # after a cancel is still money received: credited.
    accounts = wallet_accounts(wallet=wallet)
    _entry, created = ledger_top_up_credit(
        wallet=wallet,
        accounts=accounts,
        amount=top_up.amount,
        provider=top_up.provider,
        idempotency_key=f"top-up:{top_up.pk}",
        top_up=top_up,
    )
    if top_up.state != TopUp.State.SUCCEEDED:
        top_up.state = TopUp.State.SUCCEEDED
        top_up.succeeded_at = timezone.now()
        top_up.failure_reason = ""
        top_up.save(update_fields=["state", "succeeded_at", "failure_reason", "updated_at"])
    if not created:
        return f"ignored: top-up {top_up.pk} was already credited"
    # What the driver owes for unpaid sessions comes out of the new money first.
    if ledger_receivable_settle(
        wallet=wallet,
        accounts=accounts,
        idempotency_key=f"top-up:{top_up.pk}:settle",
        top_up=top_up,
    ):
        receivables_settle_orders(wallet=wallet)
    return f"credited top-up {top_up.pk}"


def _refund_event(*, provider: str, event: VerifiedEvent) -> str:
    refund = (
        Refund.objects.select_for_update(of=("self",))
        .filter(top_up__provider=provider, provider_reference=event.reference)
        .first()
        if event.reference
        else None
    )
    if refund is None:
        refund = _refund_awaiting_reference(provider=provider, event=event)
    if refund is None:
        logger.warning(
            "%s event %s for unknown refund %r: ignored", provider, event.id, event.reference
        )
        return "ignored: no refund has this reference"
    if event.kind == EventKind.REFUND_SUCCEEDED:
        refund.state = Refund.State.SUCCEEDED
        refund.provider_error = ""
    else:
        logger.error(
            "refund %s failed at %s (%s): the wallet was debited; an operator must decide",
            refund.pk,
            provider,
            event.failure_reason or event.type,
        )
        refund.state = Refund.State.PROVIDER_FAILED
        refund.provider_error = (event.failure_reason or event.type)[:255]
    refund.save(update_fields=["state", "provider_error", "updated_at"])
    return f"refund {refund.pk} {refund.state}"


def _refund_awaiting_reference(*, provider: str, event: VerifiedEvent) -> Refund | None:
    """The refund an event names by our id (its metadata) when no refund has its reference
    yet: ``refund_send`` asks the provider while holding the refund's row lock and saves the
    reference at commit, so a webhook can overtake it. Taking that lock waits for a send in
    flight; once it is committed the reference is there and the refund is returned (locked).
    Still without one (the send failed or rolled back, or is not retried yet):
    EventNotReady, so the provider delivers the event again. None: not one of ours."""
    refund_id = str(event.extra.get("refund_id") or "")
    if not refund_id.isdigit():
        return None
    refund = (
        Refund.objects.select_for_update(of=("self",))
        .select_related("top_up")
        .filter(pk=int(refund_id), top_up__provider=provider)
        .first()
    )
    payment = str(event.extra.get("payment_reference") or "")
    if (
        refund is None
        or refund.top_up is None
        or (payment and refund.top_up.provider_reference != payment)
    ):
        return None  # another platform's refund id (e.g. a staging site on the same account)
    if refund.provider_reference == event.reference:
        return refund
    if not refund.provider_reference and refund.state == Refund.State.PROVIDER_FAILED:
        # The send timed out or failed after the provider made the refund: the provider's
        # signed word (our refund id, the right payment) names it, so it is adopted.
        logger.warning(
            "%s event %s names refund %s, whose send failed: its reference %r adopted",
            provider,
            event.id,
            refund.pk,
            event.reference,
        )
        refund.provider_reference = event.reference[:255]
        refund.save(update_fields=["provider_reference", "updated_at"])
        return refund
    if not refund.provider_reference and refund.state == Refund.State.PROVIDER_PENDING:
        logger.warning(
            "%s event %s (%s) for refund %s, whose reference %r is not saved yet: "
            "refused for now (the provider delivers it again)",
            provider,
            event.id,
            event.type,
            refund.pk,
            event.reference,
        )
        raise EventNotReady(
            f"Refund {refund.pk} is still being sent to {provider}: deliver this event again later."
        )
    return None
