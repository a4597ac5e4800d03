"""Orders in the driver app and invoices as PDF, by sub-domain: ``app`` (the driver's orders
with their receipts, and their documents' PDFs) and ``invoices`` (PDF downloads, and the
operators' invoice list and PDFs).
"""

from __future__ import annotations

from typing import Any

from django.urls import path

from wallet.api.orders.app import (
    AppOrderDetailApi,
    AppOrderDocumentPdfApi,
    AppOrderInvoicePdfApi,
    AppOrderListApi,
)
from wallet.api.orders.invoices import InvoiceListApi, InvoicePdfApi

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
