"""Invoices: issued for paid orders with numbers that have no gaps within a year, then
rendered to PDF by a task (``wallet.tasks.invoice_render``; the layout is
``wallet.invoices_pdf``), or on demand when a download finds no PDF yet.

The number is taken under the year's InvoiceSequence row lock in the transaction that marks
the order paid: if that transaction rolls back, so does the number. Numbers read
``<INVOICE_NUMBER_PREFIX>-<year>-<000001>``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
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


_UNITS = {"ENERGY": "kWh", "TIME": "h", "PARKING_TIME": "h", "FLAT": "session"}


def _site_address(site: Any) -> str:
    if site is None:
        return ""
    place = " ".join(x for x in (site.postal_code, site.city) if x)
    return ", ".join(x for x in (site.address, place, site.country) if x)


def invoice_document(*, invoice: Invoice) -> InvoiceDocument:
    """What the invoice's PDF shows, from the invoice (frozen at issue: seller, buyer,
    totals, VAT breakdown) and its order (session, station, site, lines). Session times are
    shown in the site's time zone, the issue date in settings.TIME_ZONE."""
    order = invoice.order
    site = order.site
    zone = site.zone if site is not None else timezone.get_default_timezone()
    charge_point = order.charge_point
    station = charge_point.identity
    if charge_point.name:
        station = f"{charge_point.name} ({charge_point.identity})"
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
    notes = []
    if any(row.get("rate", "") == "" for row in invoice.vat_breakdown):
        notes.append(
            "The tariff gave no VAT rate for some items: they are charged at their amount "
            "excl. VAT."
        )
    issued = timezone.localtime(invoice.issued_at)
    return InvoiceDocument(
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
        payment_note=f"Paid from wallet on {issued:%Y-%m-%d}.",
        notes=notes,
    )


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
