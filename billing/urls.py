"""Billing API routes, mounted under /api/v1/ by csms/urls.py (views in billing.api). Tariff
ids are ``int`` converters: ``tariffs/preview/`` (the pricing preview) stays its own path."""

from __future__ import annotations

from django.urls import path

from billing.api import orders, preview, sites, tariffs

urlpatterns = [
    path("tariffs/preview/", preview.TariffPreviewApi.as_view(), name="tariff-preview"),
    path("orders/", orders.OrderListApi.as_view(), name="order-list"),
    path("orders/export.csv", orders.OrderCsvExportApi.as_view(), name="order-export"),
    path("orders/<int:pk>/", orders.OrderDetailApi.as_view(), name="order-detail"),
    path("sessions/export.csv", orders.SessionCsvExportApi.as_view(), name="session-export"),
    path("revenue/", orders.RevenueApi.as_view(), name="revenue"),
    path("sites/", sites.SiteListApi.as_view(), name="site-list"),
    path("sites/<int:pk>/", sites.SiteDetailApi.as_view(), name="site-detail"),
    path("tariffs/", tariffs.TariffListApi.as_view(), name="tariff-list"),
    path("tariffs/<int:pk>/", tariffs.TariffDetailApi.as_view(), name="tariff-detail"),
    path(
        "tariffs/<int:pk>/versions/",
        tariffs.TariffVersionListApi.as_view(),
        name="tariff-version-list",
    ),
    path(
        "tariffs/<int:pk>/versions/<int:number>/",
        tariffs.TariffVersionDetailApi.as_view(),
        name="tariff-version-detail",
    ),
    path("tariffs/<int:pk>/ocpi/", tariffs.TariffOcpiApi.as_view(), name="tariff-ocpi"),
    path(
        "tariff-assignments/",
        tariffs.TariffAssignmentListApi.as_view(),
        name="tariff-assignment-list",
    ),
    path(
        "tariff-assignments/<int:pk>/",
        tariffs.TariffAssignmentDetailApi.as_view(),
        name="tariff-assignment-detail",
    ),
    path(
        "charge-points/<str:identity>/tariff/",
        tariffs.ChargePointTariffApi.as_view(),
        name="charge-point-tariff",
    ),
]
