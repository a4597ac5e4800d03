"""Refunds, by operators: of a charged session (back into the driver's wallet) or of a
top-up (out of the wallet, back to the card through the provider).

Both are idempotent by the caller's key (API: Idempotency-Key; admin: a one-time form token):
a retry, or a double submit, finds the Refund and posts nothing. Both take the wallet lock
and check what is left to refund under it, so two operators refunding at once cannot refund
more than was charged.

A top-up refund is posted first (the money leaves the wallet at once, to the provider's
clearing account) and then sent to the provider after commit (``refund_send``, a task). When
the provider fails, the refund shows ``provider_failed`` with the provider's error, and the
posting stays: the money is not put back in the wallet behind the operator's back (the driver
might spend it while the card refund is still retried). An operator sends it again
(``refund_retry``) or decides otherwise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from billing.models import Order
from wallet.models import LedgerAccount, Posting, Refund, TopUp, Wallet
from wallet.money import quantize
from wallet.payments import provider_get
from wallet.payments.base import PaymentError
from wallet.services.invoices import invoice_correction_issue
from wallet.services.ledger import (
    ZERO,
    InsufficientFunds,
    ledger_order_refund,
    ledger_receivable_settle,
    ledger_top_up_refund,
    wallet_accounts,
    wallet_lock,
)
from wallet.services.payments import IdempotencyConflict
from wallet.services.settlement import (
    order_charged,
    order_vat_charged,
    receivables_settle_orders,
)

logger = logging.getLogger("wallet.payments")

REFUNDABLE_ORDER_STATES = (Order.State.PAID, Order.State.UNPAID)


@dataclass(frozen=True, slots=True)
class RefundResult:
    refund: Refund
    created: bool


def _existing(idempotency_key: str, **target: Any) -> Refund | None:
    found = Refund.objects.filter(idempotency_key=idempotency_key).first()
    if found is None:
        return None
    if any(getattr(found, f"{name}_id") != value.pk for name, value in target.items()):
        raise IdempotencyConflict(
            "This Idempotency-Key was used for another refund: use a new key for a new refund."
        )
    return found


def _refunded(**target: Any) -> Decimal:
    total = Refund.objects.filter(**target).aggregate(total=Sum("amount"))["total"]
    return Decimal(total or ZERO)


def _amount(amount: Decimal | None, left: Decimal, currency: str, what: str) -> Decimal:
    left = quantize(left, currency)
    if left <= ZERO:
        raise ValidationError({"amount": f"Nothing is left to refund of this {what}."})
    if amount is None:
        return left
    amount = quantize(amount, currency)
    if amount <= ZERO:
        raise ValidationError({"amount": "The amount must be positive."})
    if amount > left:
        raise ValidationError(
            {"amount": f"At most {left} {currency} is left to refund of this {what}."}
        )
    return amount


def refund_order(
    *,
    order: Order,
    amount: Decimal | None = None,
    reason: str,
    created_by: Any,
    idempotency_key: str,
) -> RefundResult:
    """Give ``amount`` (default: all that is left) of a charged order back to its driver's
    wallet. At most what was charged less what was refunded already; the VAT part is the
    order's VAT in proportion (the last refund takes the exact remainder). The order becomes
    ``refunded`` once fully refunded. An invoiced order gets a credit note for the refund, in
    the same transaction. If the driver still owes for unpaid sessions, the refunded money
    pays that first, as a top-up would. ValidationError: nothing to refund,
    too much, no wallet; IdempotencyConflict: the key belongs to another refund."""
    if (found := _existing(idempotency_key, order=order)) is not None:
        return RefundResult(found, False)
    wallet_id = (
        Wallet.objects.filter(user_id=order.driver_id).values_list("pk", flat=True).first()
        if order.driver_id
        else None
    )
    if wallet_id is None:
        raise ValidationError("This order's driver has no wallet: there is nothing to refund to.")
    with transaction.atomic():
        wallet = wallet_lock(wallet_id=wallet_id)
        if (found := _existing(idempotency_key, order=order)) is not None:
            return RefundResult(found, False)
        order = Order.objects.select_for_update(of=("self",)).get(pk=order.pk)
        if order.state not in REFUNDABLE_ORDER_STATES or order.currency != wallet.currency:
            raise ValidationError(
                f"Only a paid or unpaid order in {wallet.currency} can be refunded; "
                f"this one is {order.state}."
            )
        # What is left to give back: what the order was charged (captures less re-price
        # refunds) less what operators refunded already, and its VAT likewise.
        charged, vat_charged = order_charged(order), order_vat_charged(order)
        refunded = _refunded(order=order)
        left = charged - refunded
        amount = _amount(amount, left, wallet.currency, "order")
        full = amount == left
        vat_left = vat_charged - _vat_refunded(order)
        vat = vat_left if full else quantize(vat_left * amount / left, wallet.currency)
        refund = Refund.objects.create(
            order=order,
            wallet=wallet,
            amount=amount,
            currency=wallet.currency,
            reason=reason[:255],
            state=Refund.State.POSTED,
            idempotency_key=idempotency_key,
            created_by=created_by,
        )
        accounts = wallet_accounts(wallet=wallet)
        ledger_order_refund(
            wallet=wallet,
            accounts=accounts,
            amount=amount,
            vat=vat,
            idempotency_key=f"refund:{refund.pk}",
            memo=f"Refund: {reason}",
            order=order,
            refund=refund,
            created_by=created_by,
        )
        # An invoiced order's refund gets its credit note now, numbered in this transaction
        # (gapless); an order not invoiced yet gets it with its first invoice.
        invoice_correction_issue(
            order=order,
            amount=-amount,
            vat=-vat,
            reason=reason,
            idempotency_key=f"refund:{refund.pk}",
        )
        if full:
            order.state = Order.State.REFUNDED
            order.save(update_fields=["state", "updated_at"])
        if ledger_receivable_settle(
            wallet=wallet, accounts=accounts, idempotency_key=f"refund:{refund.pk}:settle"
        ):
            receivables_settle_orders(wallet=wallet)
    logger.info("refund %s: %s %s of order %s", refund.pk, amount, refund.currency, order.pk)
    return RefundResult(refund, True)


def _vat_refunded(order: Order) -> Decimal:
    """VAT given back by operators' refunds of ``order`` so far (debits of VAT payable)."""
    legs = Posting.objects.filter(
        entry__order=order,
        entry__refund__isnull=False,
        account__kind=LedgerAccount.Kind.VAT_PAYABLE,
    ).aggregate(total=Sum("amount"))
    return Decimal(legs["total"] or ZERO)


def refund_top_up(
    *,
    top_up: TopUp,
    amount: Decimal | None = None,
    reason: str,
    created_by: Any,
    idempotency_key: str,
) -> RefundResult:
    """Pay ``amount`` (default: all that is left) of a succeeded top-up back through its
    provider: at most the top-up less what was refunded of it, and at most what the wallet
    has available (InsufficientFunds otherwise: the driver spent it). Posted now; sent to the
    provider after commit (``refund_send``). ValidationError, IdempotencyConflict."""
    from wallet.tasks import refund_send

    if (found := _existing(idempotency_key, top_up=top_up)) is not None:
        return RefundResult(found, False)
    with transaction.atomic():
        wallet = wallet_lock(wallet_id=top_up.wallet_id)
        if (found := _existing(idempotency_key, top_up=top_up)) is not None:
            return RefundResult(found, False)
        top_up = TopUp.objects.select_for_update().get(pk=top_up.pk)
        if top_up.state != TopUp.State.SUCCEEDED:
            raise ValidationError(
                f"Only a succeeded top-up can be refunded; this one is {top_up.state}."
            )
        amount = _amount(amount, top_up.amount - top_up.refunded_amount, top_up.currency, "top-up")
        accounts = wallet_accounts(wallet=wallet)
        available = accounts[LedgerAccount.Kind.WALLET].balance
        if amount > available:
            raise InsufficientFunds(
                f"The wallet has {quantize(available, wallet.currency)} {wallet.currency} "
                "available: refund at most that "
                f"(the driver spent the rest)."
            )
        refund = Refund.objects.create(
            top_up=top_up,
            wallet=wallet,
            amount=amount,
            currency=top_up.currency,
            reason=reason[:255],
            state=Refund.State.PROVIDER_PENDING,
            idempotency_key=idempotency_key,
            created_by=created_by,
        )
        ledger_top_up_refund(
            wallet=wallet,
            accounts=accounts,
            amount=amount,
            provider=top_up.provider,
            idempotency_key=f"refund:{refund.pk}",
            memo=f"Refund to {top_up.provider}: {reason}",
            top_up=top_up,
            refund=refund,
            created_by=created_by,
        )
        top_up.refunded_amount += amount
        top_up.save(update_fields=["refunded_amount", "updated_at"])
        refund_send.delay_on_commit(refund.pk)
    logger.info("refund %s: %s %s of top-up %s", refund.pk, amount, refund.currency, top_up.pk)
    return RefundResult(refund, True)


def refund_send(*, refund_id: int) -> Refund:
    """Ask the provider to pay a top-up refund back (the task after ``refund_top_up``).
    Idempotent: only a ``provider_pending`` refund is sent, with the key ``refund:<id>``
    (the provider makes a retry the same refund). A refusal: ``provider_failed`` + error,
    logged; the posting stays (see the module docstring)."""
    with transaction.atomic():
        # The row lock keeps a twin task from sending it at the same moment.
        refund = (
            Refund.objects.select_for_update(of=("self",))
            .select_related("top_up")
            .get(pk=refund_id)
        )
        if refund.state != Refund.State.PROVIDER_PENDING or refund.provider_reference:
            return refund
        assert refund.top_up is not None
        try:
            sent = provider_get(refund.top_up.provider).refund_create(
                refund=refund, idempotency_key=f"refund:{refund.pk}"
            )
        except PaymentError as exc:
            logger.error("refund %s failed at %s: %s", refund.pk, refund.top_up.provider, exc)
            refund.state = Refund.State.PROVIDER_FAILED
            refund.provider_error = str(exc)[:255]
            refund.save(update_fields=["state", "provider_error", "updated_at"])
            return refund
        refund.provider_reference = sent.reference
        refund.provider_error = ""
        if sent.succeeded:
            refund.state = Refund.State.SUCCEEDED
        refund.save(update_fields=["state", "provider_reference", "provider_error", "updated_at"])
    return refund


def refund_retry(*, refund: Refund) -> Refund:
    """Send a ``provider_failed`` top-up refund to the provider again (an operator's call)."""
    from wallet.tasks import refund_send as refund_send_task

    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund.pk)
        if refund.state != Refund.State.PROVIDER_FAILED or refund.top_up_id is None:
            raise ValidationError("Only a top-up refund the provider failed can be sent again.")
        refund.state = Refund.State.PROVIDER_PENDING
        refund.save(update_fields=["state", "updated_at"])
        refund_send_task.delay_on_commit(refund.pk)
    return refund
