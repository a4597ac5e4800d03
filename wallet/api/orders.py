"""Orders in the driver app (the history of charging sessions with their receipts) and
invoices as PDF, for the driver and for operators.

App (JWT, drivers only; another driver's order is a 404):
- ``GET /api/v1/app/orders/``: the driver's orders, newest session end first, cursor-paginated;
- ``GET /api/v1/app/orders/<id>/``: one order: session, station, site, line items, totals at
  the currency's minor unit (what the wallet charged), payment state, charges, refunds and
  the invoice (number, date, download link) once issued, and all its invoicing documents
  (the first invoice, then credit notes and supplementary invoices correcting it);
- ``GET /api/v1/app/orders/<id>/invoice.pdf``: the first invoice's PDF. A document whose PDF
  is not rendered yet (the task queued at issue has not run, or its file was lost) is
  rendered on the spot, so the driver always gets it;
- ``GET /api/v1/app/orders/<id>/documents/<number>.pdf``: any document of the order as PDF.

Operators (money: support staff get 403): ``GET /api/v1/invoices/`` (filters ``year``,
``number``, ``order``, ``kind``) and ``GET /api/v1/invoices/<number>.pdf`` (any document).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, generics, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Order
from csms.api.common import query_choice, query_int, query_text
from csms.permissions import is_operator
from wallet.api.common import AppApiView
from wallet.models import Invoice
from wallet.money import quantize
from wallet.selectors.orders import (
    driver_order_get,
    driver_orders,
    invoice_list,
    order_documents,
    order_invoice,
    orders_with_charges,
)
from wallet.services.invoices import invoice_pdf_exists, invoice_render
from wallet.services.settlement import order_amounts

logger = logging.getLogger(__name__)

TAG = "App: orders"
STAFF_TAG = "Invoices"
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


# --- PDF responses --------------------------------------------------------------------------


class PdfDownloadMixin:
    """Answers with the PDF (an HttpResponse); errors as the API's JSON, whatever the client's
    Accept header says (``Accept: application/pdf`` must not make a 404 a 406)."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return JSONRenderer(), JSONRenderer.media_type


def invoice_pdf_response(invoice: Invoice) -> HttpResponse:
    """The document's PDF as a download, rendered now if it was not yet (or its file is gone)."""
    if not invoice_pdf_exists(invoice=invoice):
        logger.info("invoice %s requested before its PDF was rendered: rendering now", invoice)
        invoice = invoice_render(invoice_id=invoice.pk)
    with invoice.pdf.open("rb") as f:
        content = f.read()
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


def _pdf_responses(not_found: str) -> dict[Any, Any]:
    return {
        (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF."),
        404: OpenApiResponse(
            OpenApiTypes.OBJECT,
            description="Not found.",
            examples=[OpenApiExample("Not found", value={"detail": not_found})],
        ),
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
    responses=_pdf_responses("Order 42 has no invoice: invoices are issued for paid orders."),
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
    responses=_pdf_responses("Order 42 has no document INV-2025-000999."),
)
class AppOrderDocumentPdfApi(PdfDownloadMixin, AppApiView):
    def get(self, request: Request, pk: int, number: str) -> HttpResponse:
        order = _order_or_404(request, pk)
        document = next((d for d in order_documents(order=order) if d.number == number), None)
        if document is None:
            raise exceptions.NotFound(f"Order {pk} has no document {number}.")
        return invoice_pdf_response(document)


# --- Staff endpoints ----------------------------------------------------------------------


class IsOperator(BasePermission):
    message = "Invoices are money: operators only."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_operator(request.user)


class InvoiceSerializer(serializers.ModelSerializer):
    order = serializers.IntegerField(source="order_id", read_only=True)
    corrects: serializers.SlugRelatedField[Invoice] = serializers.SlugRelatedField(
        slug_field="number",
        read_only=True,
        allow_null=True,
        help_text="Number of the invoice a credit note or supplementary invoice corrects.",
    )
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = [
            "number",
            "kind",
            "corrects",
            "reason",
            "year",
            "sequence",
            "issued_at",
            "order",
            "currency",
            "total_excl_vat",
            "total_vat",
            "total_incl_vat",
            "seller",
            "buyer",
            "vat_breakdown",
            "rendered_at",
            "download_url",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, invoice: Invoice) -> str:
        return self.context["request"].build_absolute_uri(
            reverse("invoice-pdf", args=[invoice.number])
        )


_INVOICE_EXAMPLE = {
    "number": "INV-2025-000001",
    "kind": "invoice",
    "corrects": None,
    "reason": "",
    "year": 2025,
    "sequence": 1,
    "issued_at": "2025-03-03T10:00:02Z",
    "order": 42,
    "currency": "EUR",
    "total_excl_vat": "3.0000",
    "total_vat": "0.6000",
    "total_incl_vat": "3.6000",
    "seller": {
        "name": "Open CSMS Charging B.V.",
        "address": "Example Street 1, 1000 AA Amsterdam",
        "vat_id": "NL000000000B01",
        "email": "billing@example.com",
    },
    "buyer": {"name": "Dana Driver", "email": "dana@example.com"},
    "vat_breakdown": [{"rate": "20", "base": "3.00", "vat": "0.60"}],
    "rendered_at": "2025-03-03T10:00:03Z",
    "download_url": "https://csms.example.com/api/v1/invoices/INV-2025-000001.pdf",
}


@extend_schema(
    tags=[STAFF_TAG],
    summary="Invoices and credit notes, newest number first (operators)",
    description="All invoicing documents: first invoices, supplementary invoices and credit "
    "notes (negative amounts), one gapless series per year.",
    parameters=[
        OpenApiParameter("year", OpenApiTypes.INT, description="Year of issue."),
        OpenApiParameter("kind", OpenApiTypes.STR, enum=Invoice.Kind.values, description="Kind."),
        OpenApiParameter("number", OpenApiTypes.STR, description="Part of the number."),
        OpenApiParameter("order", OpenApiTypes.INT, description="Order id."),
    ],
    examples=[
        OpenApiExample(
            "A page of invoices",
            value=_INVOICE_EXAMPLE,
            response_only=True,
        )
    ],
)
class InvoiceListApi(generics.ListAPIView):
    permission_classes = [IsOperator]
    serializer_class = InvoiceSerializer

    def get_queryset(self) -> QuerySet[Invoice]:
        invoices = invoice_list(
            year=query_int(self.request, "year"),
            number=query_text(self.request, "number"),
            kind=query_choice(self.request, "kind", Invoice.Kind),
        )
        order_id = query_int(self.request, "order")
        if order_id is not None:
            invoices = invoices.filter(order_id=order_id)
        return invoices


@extend_schema(
    tags=[STAFF_TAG],
    summary="An invoice or credit note as PDF (operators)",
    responses=_pdf_responses("No invoice INV-2025-000999."),
)
class InvoicePdfApi(PdfDownloadMixin, APIView):
    permission_classes = [IsOperator]

    def get(self, request: Request, number: str) -> HttpResponse:
        invoice = Invoice.objects.filter(number=number).first() if "\x00" not in number else None
        if invoice is None:
            raise exceptions.NotFound(f"No invoice {number}.")
        return invoice_pdf_response(invoice)


# Mounted at /api/v1/app/ (the driver app), /api/v1/ (operators) and / (pages) by wallet.urls.
app_urlpatterns: list[Any] = [
    path("orders/", AppOrderListApi.as_view(), name="app-order-list"),
    path("orders/<int:pk>/", AppOrderDetailApi.as_view(), name="app-order-detail"),
    path("orders/<int:pk>/invoice.pdf", AppOrderInvoicePdfApi.as_view(), name="app-order-invoice"),
    path(
        "orders/<int:pk>/documents/<str:number>.pdf",
        AppOrderDocumentPdfApi.as_view(),
        name="app-order-document",
    ),
]
staff_urlpatterns: list[Any] = [
    path("invoices/", InvoiceListApi.as_view(), name="invoice-list"),
    path("invoices/<str:number>.pdf", InvoicePdfApi.as_view(), name="invoice-pdf"),
]
page_urlpatterns: list[Any] = []
