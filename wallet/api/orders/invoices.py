"""Invoices as PDF, and the operators' invoice endpoints (money: support staff get 403):
``GET /api/v1/invoices/`` (filters ``year``, ``number``, ``order``, ``kind``) and
``GET /api/v1/invoices/<number>.pdf`` (any document).

A document whose PDF is not rendered yet (the task queued at issue has not run, or its file
was lost) is rendered on the spot (``invoice_pdf_response``), so the driver's downloads
(``app``) and the operators' always get it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, generics, serializers
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from csms.api.common import query_choice, query_int, query_text
from csms.permissions import is_operator
from wallet.models import Invoice
from wallet.selectors.orders import invoice_list
from wallet.services.invoices import invoice_pdf_exists, invoice_render

logger = logging.getLogger("wallet.api.orders")

STAFF_TAG = "Invoices"


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


def pdf_responses(not_found: str) -> dict[Any, Any]:
    return {
        (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF."),
        404: OpenApiResponse(
            OpenApiTypes.OBJECT,
            description="Not found.",
            examples=[OpenApiExample("Not found", value={"detail": not_found})],
        ),
    }


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
    responses=pdf_responses("No invoice INV-2025-000999."),
)
class InvoicePdfApi(PdfDownloadMixin, APIView):
    permission_classes = [IsOperator]

    def get(self, request: Request, number: str) -> HttpResponse:
        invoice = Invoice.objects.filter(number=number).first() if "\x00" not in number else None
        if invoice is None:
            raise exceptions.NotFound(f"No invoice {number}.")
        return invoice_pdf_response(invoice)
