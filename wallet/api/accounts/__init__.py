"""App API: driver accounts, by sub-domain: ``auth`` (sign-up, log-in, tokens, passwords, the
request rates per address), ``profile`` (``me/``, RFID cards) and ``statement`` (``wallet/``,
the balances and the statement); ``schema`` holds what their OpenAPI docs share.

Authentication of the app is a JWT access token (``Authorization: Bearer <access>``, 5 min)
and a rotating refresh token (30 d; each refresh blacklists the one it used). Log-ins go
through Django's ``authenticate``, so csms.authentication's failed-log-in limits (per e-mail
and per address) apply on top of auth's request rates per address (AppAuthThrottle).
"""

from __future__ import annotations

from typing import Any

from django.urls import path

from wallet.api.accounts.auth import (
    LoginApi,
    LogoutApi,
    PasswordChangeApi,
    PasswordResetApi,
    PasswordResetConfirmApi,
    RefreshApi,
    SignUpApi,
)
from wallet.api.accounts.profile import CardDetailApi, CardListApi, MeApi
from wallet.api.accounts.statement import WalletApi

# Mounted at /api/v1/app/ (the driver app), /api/v1/ (operators) and / (pages) by wallet.urls.
app_urlpatterns: list[Any] = [
    path("auth/signup/", SignUpApi.as_view(), name="app-signup"),
    path("auth/login/", LoginApi.as_view(), name="app-login"),
    path("auth/refresh/", RefreshApi.as_view(), name="app-refresh"),
    path("auth/logout/", LogoutApi.as_view(), name="app-logout"),
    path("auth/password/change/", PasswordChangeApi.as_view(), name="app-password-change"),
    path("auth/password/reset/", PasswordResetApi.as_view(), name="app-password-reset"),
    path(
        "auth/password/reset/confirm/",
        PasswordResetConfirmApi.as_view(),
        name="app-password-reset-confirm",
    ),
    path("me/", MeApi.as_view(), name="app-me"),
    path("cards/", CardListApi.as_view(), name="app-cards"),
    path("cards/<path:id_tag>/", CardDetailApi.as_view(), name="app-card"),
    path("wallet/", WalletApi.as_view(), name="app-wallet"),
]
staff_urlpatterns: list[Any] = []
page_urlpatterns: list[Any] = []
