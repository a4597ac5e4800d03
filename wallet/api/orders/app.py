"""App API: the driver's orders (the history of charging sessions with their receipts) and
their invoicing documents as PDF. JWT, drivers only; another driver's order is a 404.

- ``GET /api/v1/app/orders/``: the driver's orders, newest session end first, cursor-paginated;
- ``GET /api/v1/app/orders/<id>/``: one order: session, station, site, line items, totals at
  the currency's minor unit (what the wallet charged), payment state, charges, refunds and
  the invoice (number, date, download link) once issued, and all its invoicing documents
  (the first invoice, then credit notes and supplementary invoices correcting it);
- ``GET /api/v1/app/orders/<id>/invoice.pdf``: the first invoice's PDF;
- ``GET /api/v1/app/orders/<id>/documents/<number>.pdf``: any document of the order as PDF.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions, generics, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from billing.models import Order
from wallet.api.common import AppApiView
from wallet.api.orders.invoices import PdfDownloadMixin, invoice_pdf_response, pdf_responses
from wallet.models import Invoice
from wallet.money import quantize
from wallet.selectors.orders import (
    driver_order_get,
    driver_orders,
    order_documents,
    order_invoice,
    orders_with_charges,
)
from wallet.services.settlement import order_amounts

TAG = "App: orders"
ZERO = Decimal("0")


# --- Serializers (output only) ----------------------------------------------------------------


class AppOrderStationSerializer(serializers.Serializer):
    identity = serializers.CharField()
    name = serializers.CharField(help_text="The station's display name; may be empty.")


class AppOrderSiteSerializer(serializers.Serializer):
    name = serializers.CharField()
    address = serializers.CharField()
    postal_code = serializers.CharField()
    city = serializers.CharField()
    country = serializers.CharField(help_text="ISO 3166-1 alpha-3.")
    timezone = serializers.CharField(help_text="IANA zone the site's clock reads in.")


class AppOrderLineSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    kind = serializers.ChoiceField(
        choices=["normal", "adjustment"],
        help_text="adjustment: a correction for meter samples that arrived after billing.",
    )
    dimension = serializers.ChoiceField(
        choices=["ENERGY", "TIME", "PARKING_TIME", "FLAT", "ROUNDING"]
    )
    description = serializers.CharField()
    volume = serializers.CharField(help_text="kWh, hours, or 1 for a flat fee.")
    unit_price = serializers.CharField(allow_null=True, help_text="Excl. VAT, as billed.")
    vat_rate = serializers.CharField(allow_null=True, help_text="Percent; null: unknown.")
    amount_excl_vat = serializers.CharField(help_text="At the currency's minor unit.")
    amount_incl_vat = serializers.CharField(allow_null=True)


class AppOrderChargeSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["capture", "refund"],
        help_text="capture: charged for the order; refund: given back after a lower re-price.",
    )
    amount = serializers.CharField()
    memo = serializers.CharField()
    created_at = serializers.DateTimeField()


class AppOrderRefundSerializer(serializers.Serializer):
    amount = serializers.CharField()
    currency = serializers.CharField()
    reason = serializers.CharField()
    state = serializers.CharField()
    created_at = serializers.DateTimeField()


class AppOrderInvoiceRefSerializer(serializers.Serializer):
    number = serializers.CharField()
    issued_at = serializers.DateTimeField()
    download_url = serializers.URLField(help_text="The PDF (same authentication as this API).")


class AppOrderDocumentSerializer(serializers.Serializer):
    number = serializers.CharField()
    kind = serializers.ChoiceField(
        choices=Invoice.Kind.choices,
        help_text="invoice: the first invoice, or a supplementary one (money charged on top, "
        "`corrects` set); credit_note: money given back (negative amounts).",
    )
    corrects = serializers.CharField(
        allow_null=True, help_text="Number of the invoice it corrects; null: the first invoice."
    )
    reason = serializers.CharField(help_text="Why a correction was issued; empty otherwise.")
    issued_at = serializers.DateTimeField()
    total_incl_vat = serializers.CharField(help_text="Negative for a credit note.")
    download_url = serializers.URLField(help_text="The PDF (same authentication as this API).")


class AppOrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    transaction = serializers.IntegerField(help_text="The session's OCPP transactionId.")
    station = AppOrderStationSerializer()
    site = AppOrderSiteSerializer(allow_null=True)
    connector_id = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    stopped_at = serializers.DateTimeField()
    duration_seconds = serializers.IntegerField()
    energy_kwh = serializers.CharField()
    currency = serializers.CharField()
    state = serializers.ChoiceField(
        choices=Order.State.choices,
        help_text="pending: not settled yet; paid; unpaid: the wallet did not cover it (the "
        "next top-up settles it); free; refunded.",
    )
    lines = AppOrderLineSerializer(many=True)
    total_excl_vat = serializers.CharField(help_text="At the minor unit.")
    total_vat = serializers.CharField()
    total_incl_vat = serializers.CharField(help_text="What the driver pays.")
    vat_known = serializers.BooleanField(
        help_text="false: the tariff gave no VAT rate for some item; the total is excl. VAT."
    )
    charged = serializers.CharField(
        help_text="What the wallet was charged for this order (captures less re-price refunds)."
    )
    charges = AppOrderChargeSerializer(many=True)
    refunds = AppOrderRefundSerializer(many=True)
    invoice = AppOrderInvoiceRefSerializer(
        allow_null=True, help_text="The first invoice, once the order is paid."
    )
    documents = AppOrderDocumentSerializer(
        many=True,
        help_text="All invoicing documents of the order, first issued first; their "
        "`total_incl_vat` add up to what the driver net paid for it.",
    )


def _money(amount: Decimal | None, currency: str) -> str | None:
    return None if amount is None else str(quantize(amount, currency))


def _plain(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return text


def _unit_price(value: Decimal | None, currency: str) -> str | None:
    if value is None:
        return None
    if value == quantize(value, currency):
        return str(quantize(value, currency))
    return _plain(value)


def invoice_download_url(request: Request, order: Order) -> str:
    return request.build_absolute_uri(reverse("app-order-invoice", args=[order.pk]))


def document_download_url(request: Request, document: Invoice) -> str:
    return request.build_absolute_uri(
        reverse("app-order-document", args=[document.order_id, document.number])
    )


def order_data(order: Order, request: Request) -> dict[str, Any]:
    """The app's view of an order (with ``order.charges`` attached by the selector)."""
    cur = order.currency
    total, vat = order_amounts(order=order)
    charges = getattr(order, "charges", [])
    charged = sum(
        (c.amount if c.kind == "capture" else -c.amount for c in charges),
        ZERO,
    )
    site = order.site
    documents = order_documents(order=order)
    invoice = next((d for d in documents if d.is_first), None)
    return {
        "id": order.pk,
        "transaction": order.transaction_id,
        "station": {"identity": order.charge_point.identity, "name": order.charge_point.name},
        "site": None
        if site is None
        else {
            "name": site.name,
            "address": site.address,
            "postal_code": site.postal_code,
            "city": site.city,
            "country": site.country,
            "timezone": site.timezone,
        },
        "connector_id": order.connector_id,
        "started_at": order.started_at,
        "stopped_at": order.stopped_at,
        "duration_seconds": order.duration_seconds,
        "energy_kwh": _plain(order.energy_kwh),
        "currency": cur,
        "state": order.state,
        "lines": [
            {
                "position": line.position,
                "kind": line.kind,
                "dimension": line.dimension,
                "description": line.description,
                "volume": _plain(line.volume),
                "unit_price": _unit_price(line.unit_price, cur),
                "vat_rate": _plain(line.vat_rate),
                "amount_excl_vat": _money(line.amount_excl_vat, cur),
                "amount_incl_vat": _money(line.amount_incl_vat, cur),
            }
            for line in order.lines.all()
        ],
        "total_excl_vat": _money(total - vat, cur),
        "total_vat": _money(vat, cur),
        "total_incl_vat": _money(total, cur),
        "vat_known": order.total_incl_vat is not None,
        "charged": _money(charged, cur),
        "charges": [
            {
                "kind": c.kind,
                "amount": _money(c.amount, cur),
                "memo": c.memo,
                "created_at": c.created_at,
            }
            for c in charges
        ],
        "refunds": [
            {
                "amount": _money(r.amount, r.currency),
                "currency": r.currency,
                "reason": r.reason,
                "state": r.state,
                "created_at": r.created_at,
            }
            for r in order.refunds.all()
        ],
        "invoice": None
        if invoice is None
        else {
            "number": invoice.number,
            "issued_at": invoice.issued_at,
            "download_url": invoice_download_url(request, order),
        },
        "documents": [
            {
                "number": d.number,
                "kind": d.kind,
                "corrects": d.corrects.number if d.corrects is not None else None,
                "reason": d.reason,
                "issued_at": d.issued_at,
                "total_incl_vat": _money(d.total_incl_vat, d.currency),
                "download_url": document_download_url(request, d),
            }
            for d in documents
        ],
    }


_ORDER_EXAMPLE = {
    "id": 42,
    "transaction": 1234,
    "station": {"identity": "CP-AMS-0001", "name": "Garage North 1"},
    "site": {
        "name": "Garage North",
        "address": "Damrak 1",
        "postal_code": "1012 LG",
        "city": "Amsterdam",
        "country": "NLD",
        "timezone": "Europe/Amsterdam",
    },
    "connector_id": 1,
    "started_at": "2025-03-03T09:00:00Z",
    "stopped_at": "2025-03-03T10:00:00Z",
    "duration_seconds": 3600,
    "energy_kwh": "10",
    "currency": "EUR",
    "state": "paid",
    "lines": [
        {
            "position": 0,
            "kind": "normal",
            "dimension": "ENERGY",
            "description": "Energy",
            "volume": "10",
            "unit_price": "0.30",
            "vat_rate": "20",
            "amount_excl_vat": "3.00",
            "amount_incl_vat": "3.60",
        }
    ],
    "total_excl_vat": "3.00",
    "total_vat": "0.60",
    "total_incl_vat": "3.60",
    "vat_known": True,
    "charged": "3.60",
    "charges": [
        {
            "kind": "capture",
            "amount": "3.60",
            "memo": "Charging at CP-AMS-0001",
            "created_at": "2025-03-03T10:00:02Z",
        }
    ],
    "refunds": [
        {
            "amount": "1.20",
            "currency": "EUR",
            "reason": "Station fault",
            "state": "posted",
            "created_at": "2025-03-04T08:12:40Z",
        }
    ],
    "invoice": {
        "number": "INV-2025-000001",
        "issued_at": "2025-03-03T10:00:02Z",
        "download_url": "https://csms.example.com/api/v1/app/orders/42/invoice.pdf",
    },
    "documents": [
        {
            "number": "INV-2025-000001",
            "kind": "invoice",
            "corrects": None,
            "reason": "",
            "issued_at": "2025-03-03T10:00:02Z",
            "total_incl_vat": "3.60",
            "download_url": "https://csms.example.com/api/v1/app/orders/42/documents/"
            "INV-2025-000001.pdf",
        },
        {
            "number": "INV-2025-000007",
            "kind": "credit_note",
            "corrects": "INV-2025-000001",
            "reason": "Station fault",
            "issued_at": "2025-03-04T08:12:40Z",
            "total_incl_vat": "-1.20",
            "download_url": "https://csms.example.com/api/v1/app/orders/42/documents/"
            "INV-2025-000007.pdf",
        },
    ],
}


# --- App endpoints --------------------------------------------------------------------------


class OrderCursorPagination(CursorPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = ("-stopped_at", "-id")


class AppOrderOutputSerializer(AppOrderSerializer):
    """AppOrderSerializer of an Order instance, through ``order_data``."""

    def to_representation(self, instance: Any) -> Any:
        return super().to_representation(order_data(instance, self.context["request"]))


@extend_schema(
    tags=[TAG],
    summary="My orders, newest first",
    description="The driver's charging sessions with their receipts, newest session end "
    "first; cursor-paginated (follow `next`).",
    examples=[
        OpenApiExample(
            "A page of orders",
            value=_ORDER_EXAMPLE,  # drf-spectacular wraps a list view's example in a page
            response_only=True,
        )
    ],
)
class AppOrderListApi(AppApiView, generics.ListAPIView):
    pagination_class = OrderCursorPagination
    serializer_class = AppOrderOutputSerializer

    def get_queryset(self) -> QuerySet[Order]:
        return driver_orders(user=self.request.user)

    def paginate_queryset(self, queryset: Any) -> list[Any] | None:
        page = super().paginate_queryset(queryset)
        return None if page is None else orders_with_charges(list(page))


def _order_or_404(request: Request, pk: int) -> Order:
    order = driver_order_get(user=request.user, pk=pk)
    if order is None:
        raise exceptions.NotFound(f"No order {pk}.")
    return order


@extend_schema(
    tags=[TAG],
    summary="One of my orders",
    responses={200: AppOrderSerializer},
    examples=[OpenApiExample("A paid order", value=_ORDER_EXAMPLE, response_only=True)],
)
class AppOrderDetailApi(AppApiView):
    def get(self, request: Request, pk: int) -> Response:
        return Response(AppOrderSerializer(order_data(_order_or_404(request, pk), request)).data)


@extend_schema(
    tags=[TAG],
    summary="The invoice of one of my orders, as PDF",
    description="Paid orders have an invoice. Rendered on demand if its PDF is not ready yet.",
    responses=pdf_responses("Order 42 has no invoice: invoices are issued for paid orders."),
)
class AppOrderInvoicePdfApi(PdfDownloadMixin, AppApiView):
    def get(self, request: Request, pk: int) -> HttpResponse:
        order = _order_or_404(request, pk)
        invoice = order_invoice(order=order)
        if invoice is None:
            raise exceptions.NotFound(
                f"Order {pk} has no invoice: invoices are issued for paid orders."
            )
        return invoice_pdf_response(invoice)


@extend_schema(
    tags=[TAG],
    summary="An invoicing document of one of my orders, as PDF",
    description="Any of the order's `documents`: its invoice, a credit note, a supplementary "
    "invoice. Rendered on demand if its PDF is not ready yet.",
    responses=pdf_responses("Order 42 has no document INV-2025-000999."),
)
class AppOrderDocumentPdfApi(PdfDownloadMixin, AppApiView):
    def get(self, request: Request, pk: int, number: str) -> HttpResponse:
        order = _order_or_404(request, pk)
        document = next((d for d in order_documents(order=order) if d.number == number), None)
        if document is None:
            raise exceptions.NotFound(f"Order {pk} has no document {number}.")
        return invoice_pdf_response(document)
