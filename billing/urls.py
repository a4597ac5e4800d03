"""Billing routes, mounted under /api/v1/ by csms/urls.py (see billing.apis)."""

from __future__ import annotations

from django.urls import path

from billing import apis

urlpatterns = [
    path("tariffs/preview/", apis.TariffPreviewApi.as_view(), name="tariff-preview"),
]
