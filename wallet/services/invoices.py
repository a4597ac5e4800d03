"""Invoices: issued for paid orders with numbers that have no gaps within a year, then
rendered to PDF by a task (``wallet.tasks.invoice_render``).

The number is taken under the year's InvoiceSequence row lock in the transaction that marks
the order paid: if that transaction rolls back, so does the number. Numbers read
``<INVOICE_NUMBER_PREFIX>-<year>-<000001>``.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import Order
from wallet.models import Invoice, InvoiceSequence
from wallet.money import quantize

ZERO = Decimal("0")


def _seller() -> dict[str, str]:
    return {
        "name": settings.INVOICE_SELLER_NAME,
        "address": settings.INVOICE_SELLER_ADDRESS,
        "vat_id": settings.INVOICE_SELLER_VAT_ID,
        "email": settings.INVOICE_SELLER_EMAIL,
    }


def _buyer(order: Order) -> dict[str, str]:
    user = order.driver
    if user is None:
        return {"name": "", "email": ""}
    name = user.get_full_name() or user.get_username()
    return {"name": name, "email": user.email}


def vat_breakdown(*, order: Order, total: Decimal, vat: Decimal) -> list[dict[str, Any]]:
    """Base and VAT per rate from the order's lines, at the minor unit, adjusted on the largest
    rate so that the rows add up to exactly ``total`` and ``vat`` (what was charged)."""
    currency = order.currency
    bases: dict[str, Decimal] = defaultdict(lambda: ZERO)
    vats: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in order.lines.all():
        rate = "" if line.vat_rate is None else str(line.vat_rate.normalize())
        bases[rate] += line.amount_excl_vat
        if line.amount_incl_vat is not None:
            vats[rate] += line.amount_incl_vat - line.amount_excl_vat
    rates = sorted(bases, key=lambda r: (r == "", Decimal(r) if r else ZERO))
    rows: list[tuple[str, Decimal, Decimal]] = [
        (rate, quantize(bases[rate], currency), quantize(vats[rate], currency)) for rate in rates
    ] or [("", ZERO, ZERO)]
    # The rounding difference goes on the largest rate's row.
    i = max(range(len(rows)), key=lambda k: rows[k][1])
    rate, base, tax = rows[i]
    tax += vat - sum((row[2] for row in rows), ZERO)
    base += (total - vat) - sum((row[1] for row in rows), ZERO)
    rows[i] = (rate, base, tax)
    return [{"rate": rate, "base": str(base), "vat": str(tax)} for rate, base, tax in rows]


def invoice_issue(*, order: Order) -> Invoice:
    """The order's invoice, issued now with the next number of this year, or the one it has.
    Call inside the transaction that marks the order paid (holding its row lock); the PDF is
    rendered after commit."""
    from wallet.services.settlement import order_amounts
    from wallet.tasks import invoice_render

    existing = Invoice.objects.filter(order=order).first()
    if existing is not None:
        return existing
    now = timezone.now()
    year = timezone.localtime(now).year
    InvoiceSequence.objects.get_or_create(year=year)
    sequence = InvoiceSequence.objects.select_for_update().get(year=year)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    total, vat = order_amounts(order=order)
    invoice = Invoice.objects.create(
        order=order,
        year=year,
        sequence=sequence.last_number,
        number=f"{settings.INVOICE_NUMBER_PREFIX}-{year}-{sequence.last_number:06d}",
        issued_at=now,
        currency=order.currency,
        total_excl_vat=total - vat,
        total_vat=vat,
        total_incl_vat=total,
        seller=_seller(),
        buyer=_buyer(order),
        vat_breakdown=vat_breakdown(order=order, total=total, vat=vat),
    )
    transaction.on_commit(lambda: _render_later(invoice_render, invoice.pk), robust=True)
    return invoice


def _render_later(task: Any, invoice_id: int) -> None:
    task.delay(invoice_id)


def invoice_render(*, invoice_id: int) -> Invoice:
    """Render the invoice's PDF into storage (idempotent: a rendered invoice is left as is).
    Filled in by the invoices work: until then it only returns the invoice."""
    return Invoice.objects.get(pk=invoice_id)
