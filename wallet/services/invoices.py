"""Invoices: issued for paid orders with numbers that have no gaps within a year, then
rendered to PDF by a task (``wallet.tasks.invoice_render``; the layout is
``wallet.invoices_pdf``), or on demand when a download finds no PDF yet.

An issued invoice is never changed. When the money of an invoiced order changes (a re-price
charges more or gives back the difference, an operator refunds), a correcting document is
issued (``invoice_correction_issue``): a credit note (negative totals) for money given back,
a supplementary invoice for money charged on top, both referencing the order's first
invoice. So the sum of an order's documents is always what the driver net paid for it.

Every document's number is taken under the year's InvoiceSequence row lock in the
transaction that posts the money: if that transaction rolls back, so does the number. All
kinds share ONE series (``<INVOICE_NUMBER_PREFIX>-<year>-<000001>``): one sequence to keep
gapless, and a credit note is as much an invoicing document as an invoice (the kind is on the
document, its title says it).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing.models import Order, OrderLine
from wallet.invoices_pdf import InvoiceDocument, InvoiceLine, invoice_pdf
from wallet.models import Invoice, InvoiceSequence
from wallet.money import quantize
from wallet.selectors.orders import invoice_for_render

logger = logging.getLogger(__name__)

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
    rate so that the rows add up to exactly ``total`` and ``vat`` (what was charged).

    Billing's ROUNDING line has no VAT rate: it is the rounding of the parts (and the tariff's
    min/max price), not an item of its own. When the order's VAT is known it belongs to the
    rated rows and goes to the largest with the rest of the reconciliation; only when some
    component really has no rate (``total_incl_vat`` unknown) is there a row without rate."""
    currency = order.currency
    bases: dict[str, Decimal] = defaultdict(lambda: ZERO)
    vats: dict[str, Decimal] = defaultdict(lambda: ZERO)
    vat_known = order.total_incl_vat is not None
    for line in order.lines.all():
        if line.vat_rate is None and vat_known and line.dimension == OrderLine.Dimension.ROUNDING:
            continue
        # format(..., "f"): str() of a normalized 20.000000 is "2E+1".
        rate = "" if line.vat_rate is None else format(line.vat_rate.normalize(), "f")
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


def _no_minus_zero(value: Decimal) -> Decimal:
    return abs(value) if value == ZERO else value


def vat_breakdown_scaled(
    *, rows: list[dict[str, Any]], total: Decimal, vat: Decimal, currency: str
) -> list[dict[str, Any]]:
    """``rows`` (a breakdown as ``vat_breakdown`` gives) scaled to ``total`` and ``vat``
    (negative for a credit note): each row's base and VAT in proportion, at the minor unit,
    the rounding difference on the largest row, so that the rows add up to exactly ``total``
    and ``vat``. Rows with neither base nor VAT are left out (one row stays)."""
    parsed = [(r["rate"], Decimal(r["base"]), Decimal(r["vat"])) for r in rows]
    parsed = [row for row in parsed if row[1] or row[2]] or parsed[:1] or [("", ZERO, ZERO)]
    base_sum = sum((row[1] for row in parsed), ZERO)
    vat_sum = sum((row[2] for row in parsed), ZERO)
    target_base = total - vat
    scaled: list[tuple[str, Decimal, Decimal]] = []
    for rate, base, tax in parsed:
        new_base = quantize(base * target_base / base_sum, currency) if base_sum else ZERO
        new_tax = quantize(tax * vat / vat_sum, currency) if vat_sum else ZERO
        scaled.append((rate, new_base, new_tax))
    i = max(range(len(scaled)), key=lambda k: abs(parsed[k][1]))
    rate, base, tax = scaled[i]
    base += target_base - sum((row[1] for row in scaled), ZERO)
    tax += vat - sum((row[2] for row in scaled), ZERO)
    scaled[i] = (rate, base, tax)
    return [
        {"rate": rate, "base": _text(base, currency), "vat": _text(tax, currency)}
        for rate, base, tax in scaled
    ]


def _text(amount: Decimal, currency: str) -> str:
    return str(_no_minus_zero(quantize(amount, currency)))


def _number_take() -> tuple[Any, int, int, str]:
    """``(now, year, sequence, number)``: the next number of this year's series, under the
    sequence's row lock (held to the end of the caller's transaction: call inside it)."""
    now = timezone.now()
    year = timezone.localtime(now).year
    InvoiceSequence.objects.get_or_create(year=year)
    sequence = InvoiceSequence.objects.select_for_update().get(year=year)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    number = f"{settings.INVOICE_NUMBER_PREFIX}-{year}-{sequence.last_number:06d}"
    return now, year, sequence.last_number, number


def order_first_invoice(*, order: Order) -> Invoice | None:
    """The order's first invoice (the one corrections correct), if issued."""
    return Invoice.objects.filter(
        order=order, kind=Invoice.Kind.INVOICE, corrects__isnull=True
    ).first()


def invoice_issue(*, order: Order) -> Invoice:
    """The order's first invoice, issued now with the next number of this year, or the one it
    has. Call inside the transaction that marks the order paid (holding its row lock); the
    PDF is rendered after commit.

    It carries the order's total as priced now (a re-price before payment is in it: settlement
    has charged or refunded the difference already). Operators' refunds of the order made
    before it (of an unpaid order) get their credit notes now, right after it, so that the
    order's documents add up to what the driver net paid."""
    from wallet.services.settlement import order_amounts

    existing = order_first_invoice(order=order)
    if existing is not None:
        return existing
    now, year, sequence, number = _number_take()
    total, vat = order_amounts(order=order)
    invoice = Invoice.objects.create(
        order=order,
        kind=Invoice.Kind.INVOICE,
        idempotency_key=f"order:{order.pk}",
        year=year,
        sequence=sequence,
        number=number,
        issued_at=now,
        currency=order.currency,
        total_excl_vat=total - vat,
        total_vat=vat,
        total_incl_vat=total,
        seller=_seller(),
        buyer=_buyer(order),
        vat_breakdown=vat_breakdown(order=order, total=total, vat=vat),
    )
    _render_on_commit(invoice)
    for refund in order.refunds.order_by("created_at", "pk"):
        invoice_correction_issue(
            order=order,
            amount=-refund.amount,
            vat=-_refund_vat(refund),
            reason=refund.reason,
            idempotency_key=f"refund:{refund.pk}",
        )
    return invoice


def _refund_vat(refund: Any) -> Decimal:
    """The VAT a posted order refund gave back (its VAT payable leg, a debit)."""
    from wallet.models import LedgerAccount, Posting

    legs = Posting.objects.filter(
        entry__refund=refund, account__kind=LedgerAccount.Kind.VAT_PAYABLE
    ).aggregate(total=Sum("amount"))
    return Decimal(legs["total"] or ZERO)


def invoice_correction_issue(
    *, order: Order, amount: Decimal, vat: Decimal, reason: str, idempotency_key: str
) -> Invoice | None:
    """Document a change of what the driver paid for an invoiced order: ``amount`` (incl.
    VAT, at the minor unit) and its ``vat``, negative for money given back -> a credit note,
    positive for money charged on top -> a supplementary invoice; either corrects the order's
    first invoice and takes the next number of the same series. The VAT breakdown is the
    order's rates scaled to the amount (``vat_breakdown_scaled``).

    Returns None, issuing nothing, when the order has no invoice yet (its first invoice will
    carry the final amount when it is paid) or ``amount`` is zero. Idempotent by
    ``idempotency_key`` ("refund:<id>", "order:<id>:reprice:<sample>"): a retry returns the
    document issued the first time. Call inside the transaction that posts the money, holding
    the order's row lock; the PDF is rendered after commit."""
    from wallet.services.settlement import order_amounts

    existing = Invoice.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    currency = order.currency
    amount, vat = quantize(amount, currency), _no_minus_zero(quantize(vat, currency))
    if amount == ZERO:
        return None
    first = order_first_invoice(order=order)
    if first is None:
        return None
    order_total, order_vat = order_amounts(order=order)
    rows = vat_breakdown(order=order, total=order_total, vat=order_vat)
    if not any(Decimal(r["base"]) for r in rows):
        rows = list(first.vat_breakdown)  # re-priced to nothing: the invoiced rates
    now, year, sequence, number = _number_take()
    document = Invoice.objects.create(
        order=order,
        kind=Invoice.Kind.CREDIT_NOTE if amount < ZERO else Invoice.Kind.INVOICE,
        corrects=first,
        reason=reason[:255],
        idempotency_key=idempotency_key,
        year=year,
        sequence=sequence,
        number=number,
        issued_at=now,
        currency=currency,
        total_excl_vat=amount - vat,
        total_vat=vat,
        total_incl_vat=amount,
        seller=_seller(),
        buyer=_buyer(order),
        vat_breakdown=vat_breakdown_scaled(rows=rows, total=amount, vat=vat, currency=currency),
    )
    logger.info(
        "%s %s corrects %s of order %s: %s %s (%s)",
        document.get_kind_display(),
        document.number,
        first.number,
        order.pk,
        amount,
        currency,
        reason,
    )
    _render_on_commit(document)
    return document


def _render_on_commit(invoice: Invoice) -> None:
    from wallet.tasks import invoice_render

    transaction.on_commit(lambda: _render_later(invoice_render, invoice.pk), robust=True)


def _render_later(task: Any, invoice_id: int) -> None:
    task.delay(invoice_id)


_UNITS = {"ENERGY": "kWh", "TIME": "h", "PARKING_TIME": "h", "FLAT": "session"}


def _site_address(site: Any) -> str:
    if site is None:
        return ""
    place = " ".join(x for x in (site.postal_code, site.city) if x)
    return ", ".join(x for x in (site.address, place, site.country) if x)


def invoice_document(*, invoice: Invoice) -> InvoiceDocument:
    """What the invoice's PDF shows, from the invoice (frozen at issue: seller, buyer,
    totals, VAT breakdown) and its order (session, station, site, lines). Session times are
    shown in the site's time zone, the issue date in settings.TIME_ZONE. A credit note or
    supplementary invoice shows the invoice it corrects, its reason, and one item per VAT
    rate of its breakdown (the order's lines are on the corrected invoice)."""
    order = invoice.order
    site = order.site
    zone = site.zone if site is not None else timezone.get_default_timezone()
    charge_point = order.charge_point
    station = charge_point.identity
    if charge_point.name:
        station = f"{charge_point.name} ({charge_point.identity})"
    if invoice.corrects_id is None:
        lines = [
            InvoiceLine(
                description=line.description or line.get_dimension_display(),
                volume=line.volume,
                unit=_UNITS.get(line.dimension, ""),
                # A rounding line is no quantity of anything.
                show_volume=line.dimension != OrderLine.Dimension.ROUNDING,
                unit_price=line.unit_price,
                vat_rate=line.vat_rate,
                amount_excl_vat=line.amount_excl_vat,
                amount_incl_vat=line.amount_incl_vat,
            )
            for line in order.lines.all()
        ]
    else:
        # A correction's items: the corrected amount per VAT rate, as its breakdown.
        lines = [
            InvoiceLine(
                description=_correction_line(invoice),
                volume=Decimal(1),
                unit="",
                unit_price=Decimal(row["base"]),
                vat_rate=Decimal(row["rate"]) if row.get("rate") else None,
                amount_excl_vat=Decimal(row["base"]),
                amount_incl_vat=Decimal(row["base"]) + Decimal(row["vat"]),
            )
            for row in invoice.vat_breakdown
        ]
    notes = []
    if any(row.get("rate", "") == "" for row in invoice.vat_breakdown):
        notes.append(
            "The tariff gave no VAT rate for some items: they are charged at their amount "
            "excl. VAT."
        )
    issued = timezone.localtime(invoice.issued_at)
    if invoice.kind == Invoice.Kind.CREDIT_NOTE:
        title, payment_note = "CREDIT NOTE", f"Credited to the wallet on {issued:%Y-%m-%d}."
    else:
        title, payment_note = "INVOICE", f"Paid from wallet on {issued:%Y-%m-%d}."
    corrects = invoice.corrects
    return InvoiceDocument(
        title=title,
        corrects=corrects.number if corrects is not None else "",
        corrects_issued_at=timezone.localtime(corrects.issued_at) if corrects else None,
        reason=invoice.reason,
        number=invoice.number,
        issued_at=issued,
        currency=invoice.currency,
        seller=dict(invoice.seller),
        buyer=dict(invoice.buyer),
        order_reference=f"{order.pk} (session {order.transaction_id})",
        station=f"{station}, connector {order.connector_id}",
        site_name=site.name if site is not None else "",
        site_address=_site_address(site),
        started_at=order.started_at.astimezone(zone),
        stopped_at=order.stopped_at.astimezone(zone),
        duration_seconds=order.duration_seconds,
        energy_kwh=order.energy_kwh,
        lines=lines,
        vat_breakdown=list(invoice.vat_breakdown),
        total_excl_vat=invoice.total_excl_vat,
        total_vat=invoice.total_vat,
        total_incl_vat=invoice.total_incl_vat,
        payment_note=payment_note,
        notes=notes,
    )


def _correction_line(invoice: Invoice) -> str:
    assert invoice.corrects is not None
    what = "Credit" if invoice.kind == Invoice.Kind.CREDIT_NOTE else "Additional charge"
    text = f"{what} on invoice {invoice.corrects.number}"
    return f"{text}: {invoice.reason}" if invoice.reason else text


def invoice_pdf_exists(*, invoice: Invoice) -> bool:
    """Whether the invoice's PDF is rendered and its file is in storage."""
    return bool(
        invoice.rendered_at is not None
        and invoice.pdf
        and invoice.pdf.storage.exists(invoice.pdf.name)
    )


def invoice_render(*, invoice_id: int) -> Invoice:
    """Render the invoice's PDF into the default storage (``Invoice.pdf``, under
    ``invoices/<year>/``) and set ``rendered_at``. Idempotent: a rendered invoice whose file
    is in storage is returned as it is; a lost file is rendered again (same content: the
    invoice's data is frozen). Takes the invoice's row lock, so concurrent renders (the task
    and a download) write one file."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice_pdf_exists(invoice=invoice):
            return invoice
        content = invoice_pdf(invoice_document(invoice=invoice_for_render(invoice_id=invoice_id)))
        invoice.pdf.save(f"{invoice.number}.pdf", ContentFile(content), save=False)
        invoice.rendered_at = timezone.now()
        invoice.save(update_fields=["pdf", "rendered_at"])
    logger.info("invoice %s rendered: %s (%d bytes)", invoice, invoice.pdf.name, len(content))
    return invoice
