"""Payments, by sub-domain: the app's top-ups (``top_ups``), the providers' webhooks and the
sandbox's checkout page (``webhooks``), and the operators' wallets and refunds (``staff``).

- ``/api/v1/app/wallet/top-ups/`` (drivers, JWT): start a top-up (Idempotency-Key
  required), list and read one's own. The wallet is credited only when the provider's signed
  webhook says the payment succeeded.
- ``/api/v1/payments/webhooks/<provider>/`` (providers): no authentication, no CSRF: the
  signature is the authentication (``wallet.payments.base``). 200 for every verified event,
  400 for a bad signature, a stale timestamp or a malformed body.
- ``/payments/sandbox/<token>/``: the sandbox's checkout page (a form with CSRF).
- ``/api/v1/wallets/``, ``/api/v1/top-ups/``, ``/api/v1/refunds/``, and the refunds of orders
  and top-ups: operators only. Money is not support's: support staff get 403 here.
"""

from __future__ import annotations

from typing import Any

from django.urls import path

from wallet.api.payments.staff import (
    OrderRefundApi,
    StaffRefundListApi,
    StaffTopUpListApi,
    StaffWalletDetailApi,
    StaffWalletListApi,
    TopUpRefundApi,
)
from wallet.api.payments.top_ups import AppTopUpDetailApi, AppTopUpsApi
from wallet.api.payments.webhooks import WebhookApi, sandbox_checkout

# Mounted at /api/v1/app/ (the driver app), /api/v1/ (operators) and / (pages) by wallet.urls.
app_urlpatterns: list[Any] = [
    path("wallet/top-ups/", AppTopUpsApi.as_view(), name="app-top-ups"),
    path("wallet/top-ups/<int:pk>/", AppTopUpDetailApi.as_view(), name="app-top-up"),
]
staff_urlpatterns: list[Any] = [
    path("payments/webhooks/<str:provider>/", WebhookApi.as_view(), name="wallet-payment-webhook"),
    path("wallets/", StaffWalletListApi.as_view(), name="wallet-list"),
    path("wallets/<int:pk>/", StaffWalletDetailApi.as_view(), name="wallet-detail"),
    path("top-ups/", StaffTopUpListApi.as_view(), name="top-up-list"),
    path("top-ups/<int:pk>/refunds/", TopUpRefundApi.as_view(), name="top-up-refunds"),
    path("orders/<int:pk>/refunds/", OrderRefundApi.as_view(), name="order-refunds"),
    path("refunds/", StaffRefundListApi.as_view(), name="refund-list"),
]
page_urlpatterns: list[Any] = [
    path("payments/sandbox/<str:token>/", sandbox_checkout, name="wallet-sandbox-checkout"),
]
