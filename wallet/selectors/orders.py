"""Reads of a driver's orders (the app's order history and receipts, with their invoicing
documents) and of invoices and credit notes (the operators' list).

An order's wallet movements (``JournalEntry.order`` has no reverse accessor) are read for a
whole page at once by ``orders_with_charges``: a page of orders costs a fixed number of
queries whatever its size.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Prefetch, QuerySet

from billing.models import Order, OrderLine
from wallet.models import Invoice, JournalEntry, Refund

# The entries that charged or gave back an order's price: captures, and the refunds of a
# re-price (an operator's refund is a ``Refund`` row, shown on its own).
CHARGE_KINDS = (JournalEntry.Kind.CAPTURE, JournalEntry.Kind.REFUND)


def driver_orders(*, user: Any) -> QuerySet[Order]:
    """The driver's orders, newest session end first, with what a receipt shows joined or
    prefetched: station, site, lines in order, refunds newest first, invoicing documents in
    number order (``order_invoice``, ``order_documents`` read them)."""
    return (
        Order.objects.filter(driver=user)
        .select_related("charge_point", "site")
        .prefetch_related(
            Prefetch("lines", queryset=OrderLine.objects.order_by("position")),
            Prefetch("refunds", queryset=Refund.objects.order_by("-created_at", "-id")),
            Prefetch("invoices", queryset=_documents()),
        )
        .order_by("-stopped_at", "-id")
    )


def driver_order_get(*, user: Any, pk: int) -> Order | None:
    """One of the driver's orders (None: no such order, or another driver's), with its
    charges attached as ``orders_with_charges`` does."""
    order = driver_orders(user=user).filter(pk=pk).first()
    if order is None:
        return None
    return orders_with_charges([order])[0]


def orders_with_charges(orders: list[Order]) -> list[Order]:
    """Attach ``order.charges``: the order's captures and re-price refunds, oldest first (one
    query for all of ``orders``). Returns ``orders``."""
    by_order: dict[int, list[JournalEntry]] = defaultdict(list)
    entries = JournalEntry.objects.filter(
        order_id__in=[o.pk for o in orders], kind__in=CHARGE_KINDS, refund__isnull=True
    ).order_by("created_at", "id")
    for entry in entries:
        assert entry.order_id is not None
        by_order[entry.order_id].append(entry)
    for order in orders:
        order.charges = by_order.get(order.pk, [])  # type: ignore[attr-defined]
    return orders


def _documents() -> QuerySet[Invoice]:
    # Numbers ascend in issue order within a year; the corrected invoice's number is joined.
    return Invoice.objects.select_related("corrects").order_by("year", "sequence")


def order_documents(*, order: Order) -> list[Invoice]:
    """The order's invoicing documents, first issued first: its first invoice, then the
    credit notes and supplementary invoices that correct it (reads the prefetched rows when
    ``driver_orders`` prefetched them)."""
    return (
        list(order.invoices.all()) if _prefetched(order) else list(_documents().filter(order=order))
    )


def order_invoice(*, order: Order) -> Invoice | None:
    """The order's first invoice, if one was issued (not a correction of it)."""
    return next((d for d in order_documents(order=order) if d.is_first), None)


def _prefetched(order: Order) -> bool:
    return "invoices" in getattr(order, "_prefetched_objects_cache", {})


def invoice_list(
    *, year: int | None = None, number: str | None = None, kind: str | None = None
) -> QuerySet[Invoice]:
    """Invoicing documents (invoices and credit notes), newest number first; ``number``
    matches a part of the number."""
    invoices = Invoice.objects.select_related("order", "corrects")
    if year is not None:
        invoices = invoices.filter(year=year)
    if kind:
        invoices = invoices.filter(kind=kind)
    if number:
        invoices = invoices.filter(number__icontains=number)
    return invoices.order_by("-year", "-sequence")


def invoice_for_render(*, invoice_id: int) -> Invoice:
    """The invoice with what its PDF shows: the order's station, site and lines, and the
    invoice it corrects."""
    return (
        Invoice.objects.select_related("order__charge_point", "order__site", "corrects")
        .prefetch_related(Prefetch("order__lines", queryset=OrderLine.objects.order_by("position")))
        .get(pk=invoice_id)
    )
