"""Settling orders from wallets: when billing writes (or re-prices) a session's order, the
driver's wallet pays it.

The order total (incl. VAT where known) is rounded to the currency's minor unit and charged
from the session's hold, then from the available balance; what neither covers becomes a
receivable and the order ``unpaid`` (the next top-up settles it first). The rest of the hold
is released. A paid order gets its invoice. A re-priced order is charged (or refunded) the
difference, once per re-price; if it was invoiced already, the difference gets a
supplementary invoice (or a credit note) in the same transaction (the invoice is never
changed). Sessions started with a driver's RFID card settle the same way,
with nothing held.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from billing.models import Order
from wallet.models import AppSession, JournalEntry, Wallet
from wallet.money import quantize
from wallet.services.invoices import invoice_correction_issue, invoice_issue
from wallet.services.ledger import (
    ZERO,
    ledger_capture,
    ledger_order_refund,
    ledger_receivable_settle,
    ledger_release,
    wallet_accounts,
    wallet_lock,
)
from wallet.services.sessions import app_session_push_on_commit

logger = logging.getLogger(__name__)

SETTLED_STATES = (Order.State.PAID, Order.State.UNPAID, Order.State.REFUNDED)


def order_amounts(*, order: Order) -> tuple[Decimal, Decimal]:
    """``(total, vat)`` the driver pays for ``order``, at the minor unit. Without a VAT rate
    on some component (OCPI: unknown, not zero) the total is the amount excl. VAT."""
    currency = order.currency
    excl = quantize(order.total_excl_vat, currency)
    if order.total_incl_vat is None:
        return excl, ZERO
    incl = quantize(order.total_incl_vat, currency)
    return incl, incl - excl


def order_charged(order: Order) -> Decimal:
    """What captures less re-price refunds have charged for ``order`` so far (an operator's
    refund is not a re-price: it does not make the order due again)."""
    entries = JournalEntry.objects.filter(order=order, refund__isnull=True)
    captured = entries.filter(kind=JournalEntry.Kind.CAPTURE).aggregate(total=Sum("amount"))
    repriced = entries.filter(kind=JournalEntry.Kind.REFUND).aggregate(total=Sum("amount"))
    return (captured["total"] or ZERO) - (repriced["total"] or ZERO)


def _operator_refunded(order: Order) -> Decimal:
    """What operators refunded of ``order`` (refunds with a Refund record)."""
    total = JournalEntry.objects.filter(
        order=order, kind=JournalEntry.Kind.REFUND, refund__isnull=False
    ).aggregate(total=Sum("amount"))["total"]
    return total or ZERO


def _release_rest(
    *, wallet: Wallet, accounts: dict, session: AppSession, captured: Decimal
) -> None:
    rest = session.held - captured
    if rest > ZERO:
        ledger_release(
            wallet=wallet,
            accounts=accounts,
            amount=min(rest, accounts["held"].balance),
            idempotency_key=f"session:{session.pk}:release-final",
            memo="Rest of the session's hold released",
            session=session,
        )
    session.held = ZERO


def order_settle(*, order_id: int) -> Order:
    """Charge the order to its driver's wallet (see the module docstring). Idempotent: a
    retry, or a second delivery of the event, posts nothing more. An order whose driver has
    no wallet, or in another currency than the wallet, stays ``pending`` (logged)."""
    with transaction.atomic():
        # Lock order, the same in every wallet service: the app session, then the wallet, then
        # orders and top-ups (sessions lock the wallet under their own lock; refunds and
        # top-ups lock the wallet, then the orders they touch). The driver and the session
        # of an order never change, so they are read before any lock.
        driver_id, transaction_id = Order.objects.values_list("driver_id", "transaction_id").get(
            pk=order_id
        )
        wallet_id = (
            Wallet.objects.filter(user_id=driver_id).values_list("pk", flat=True).first()
            if driver_id
            else None
        )
        if wallet_id is None:
            return Order.objects.get(pk=order_id)
        session = (
            AppSession.objects.select_for_update().filter(transaction_id=transaction_id)
        ).first()
        wallet = wallet_lock(wallet_id=wallet_id)
        accounts = wallet_accounts(wallet=wallet)
        order = Order.objects.select_for_update(of=("self",)).get(pk=order_id)
        if order.currency != wallet.currency:
            logger.warning(
                "order %s is in %s, the wallet of driver %s in %s: left pending",
                order.pk,
                order.currency,
                order.driver_id,
                wallet.currency,
            )
            if session is not None:
                _release_rest(wallet=wallet, accounts=accounts, session=session, captured=ZERO)
                _session_finish(session)
            return order
        if order.state == Order.State.REFUNDED:
            return order
        total, vat = order_amounts(order=order)
        charged = order_charged(order)
        due = total - charged
        held = session.held if session is not None else ZERO
        captured = ZERO
        shortfall = ZERO
        # The VAT of a difference: the order's VAT less what earlier captures carried.
        vat_due = vat - order_vat_charged(order) if due else ZERO
        reprice_key = f"order:{order.pk}:reprice:{order.priced_through_sample}"
        if due > ZERO:
            capture = ledger_capture(
                wallet=wallet,
                accounts=accounts,
                total=due,
                vat=vat_due,
                held=held,
                idempotency_key=f"order:{order.pk}:capture:{order.priced_through_sample}",
                memo=f"Charging at {order.charge_point.identity if order.charge_point_id else ''}",
                order=order,
                session=session,
            )
            captured = capture.from_held
            shortfall = capture.shortfall
            # None before the first invoice: that one will carry the final total.
            invoice_correction_issue(
                order=order,
                amount=due,
                vat=vat_due,
                reason="Session re-priced higher (meter readings that arrived late)",
                idempotency_key=reprice_key,
            )
        elif due < ZERO:
            # Never give back more than the driver still paid net above the new total: an
            # operator's refund of this order already returned part of it.
            net_paid = charged - _operator_refunded(order)
            refund = min(-due, max(net_paid - total, ZERO))
            if refund < -due:
                vat_due = quantize(vat_due * refund / -due, order.currency) if refund else ZERO
                due = -refund
        if due < ZERO:
            ledger_order_refund(
                wallet=wallet,
                accounts=accounts,
                amount=-due,
                vat=-vat_due,
                idempotency_key=reprice_key,
                memo="Session re-priced lower",
                order=order,
            )
            invoice_correction_issue(
                order=order,
                amount=due,
                vat=vat_due,
                reason="Session re-priced lower (meter readings that arrived late)",
                idempotency_key=reprice_key,
            )
            # Money given back pays off what the driver owes first, as a top-up does: never
            # spendable while a debt stands.
            settled_owed = ledger_receivable_settle(
                wallet=wallet, accounts=accounts, idempotency_key=f"{reprice_key}:owed"
            )
        else:
            settled_owed = None
        if session is not None and session.held:
            _release_rest(wallet=wallet, accounts=accounts, session=session, captured=captured)
            _session_finish(session)
        elif session is not None:
            _session_finish(session)
        if order.state == Order.State.FREE or total == ZERO:
            pass  # billing's word: nothing to pay
        elif shortfall > ZERO:
            order.state = Order.State.UNPAID
        elif order.state != Order.State.UNPAID:  # an unpaid one is paid once its debt is
            order.state = Order.State.PAID
        order.save(update_fields=["state", "updated_at"])
        if order.state == Order.State.PAID:
            invoice_issue(order=order)
        if settled_owed is not None:
            receivables_settle_orders(wallet=wallet)
    return order


def order_vat_charged(order: Order) -> Decimal:
    """VAT credited for ``order`` so far by captures less re-price refunds (from the VAT legs)."""
    from wallet.models import LedgerAccount, Posting

    legs = Posting.objects.filter(
        entry__order=order,
        entry__refund__isnull=True,
        account__kind=LedgerAccount.Kind.VAT_PAYABLE,
    ).aggregate(total=Sum("amount"))
    return -(legs["total"] or ZERO)  # VAT payable is credit-normal: credits are negative


def _session_finish(session: AppSession) -> None:
    session.state = AppSession.State.FINISHED
    session.finished_at = session.finished_at or timezone.now()
    session.save(update_fields=["state", "held", "finished_at", "updated_at"])
    app_session_push_on_commit(session_id=session.pk)  # the driver's final figures, live


def receivables_settle_orders(*, wallet: Wallet) -> int:
    """After a receivable was paid off (a top-up, a refund, a re-price lower): mark the
    driver's unpaid orders paid, oldest first, as far as what was paid off covers what each
    left owing. Call holding the wallet lock. Returns how many orders became paid (each gets
    its invoice).

    What each unpaid order left owing is its captures' receivable legs, less what was given
    back for that order (its own refunds paid its own debt); what is still owed is the
    receivable's balance; the difference has been paid off, and goes to the oldest orders
    first. An order partly paid off stays unpaid until all of it is."""
    from wallet.models import LedgerAccount, Posting

    owed = wallet_accounts(wallet=wallet)["receivable"].balance
    unpaid = list(
        Order.objects.select_for_update(of=("self",))
        .filter(driver_id=wallet.user_id, state=Order.State.UNPAID)
        .order_by("stopped_at", "id")  # stopped_at is never empty on an order
    )
    if not unpaid:
        return 0
    left_owing = dict(
        Posting.objects.filter(
            entry__order__in=unpaid,
            entry__kind=JournalEntry.Kind.CAPTURE,
            account__kind=LedgerAccount.Kind.RECEIVABLE,
        )
        .values("entry__order")
        .annotate(total=Sum("amount"))
        .values_list("entry__order", "total")
    )
    # Money given back for an unpaid order (a refund, a re-price lower) paid off that
    # order's own debt first: it is not a payment towards the others.
    given_back = dict(
        JournalEntry.objects.filter(order__in=unpaid, kind=JournalEntry.Kind.REFUND)
        .values("order")
        .annotate(total=Sum("amount"))
        .values_list("order", "total")
    )
    shares = {}
    for order in unpaid:
        legs = left_owing.get(order.pk) or ZERO
        shares[order.pk] = legs - min(legs, given_back.get(order.pk) or ZERO)
    paid_off = max(sum(shares.values(), ZERO) - owed, ZERO)
    paid = 0
    for order in unpaid:
        share = shares[order.pk]
        if share > paid_off:
            break
        paid_off -= share
        order.state = Order.State.PAID
        order.save(update_fields=["state", "updated_at"])
        invoice_issue(order=order)
        paid += 1
    return paid


def orders_settle_sweep(*, older_than_seconds: int = 60, limit: int = 500) -> int:
    """Settle what the event missed: pending orders of drivers with a wallet in the order's
    currency, written more than ``older_than_seconds`` ago (a settlement task lost with the
    broker, or one that failed). Each in its own transaction; one failing does not stop the
    rest. Returns how many were settled."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        Order.objects.filter(
            state=Order.State.PENDING,
            driver__wallet__currency=F("currency"),
            updated_at__lt=cutoff,
        )
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )
    settled = 0
    for order_id in ids:
        try:
            order = order_settle(order_id=order_id)
        except Exception:
            logger.exception("settling order %s failed; the next sweep retries", order_id)
            continue
        settled += order.state != Order.State.PENDING
    return settled
