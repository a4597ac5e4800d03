"""Billing API routes, mounted under /api/v1/ by csms/urls.py (views in billing.api). Tariff
ids are ``int`` converters: ``tariffs/preview/`` (the pricing preview) stays its own path."""

from __future__ import annotations

from django.urls import path

from billing.api import preview, sites, tariffs

urlpatterns = [
    path("tariffs/preview/", preview.TariffPreviewApi.as_view(), name="tariff-preview"),
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
