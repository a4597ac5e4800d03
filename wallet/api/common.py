"""Plumbing of the driver app's API: who counts as a driver, the app's authentication, the
Idempotency-Key header, and the balances' shape (MoneyField, BalancesSerializer), which the
operators' wallet endpoints show too. The error shape, strict query parsing and pagination are
csms.api.common's, as everywhere.

A driver is a user with a wallet (made at sign-up). The app API answers only for the driver's
own data: another driver's object is a 404, never a 403, so ids reveal nothing. Operators and
support staff have no wallet: the app API refuses them (403) and they use the operations API.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication

from wallet.models import Wallet
from wallet.money import quantize

IDEMPOTENCY_KEY_MAX = 255


class IsDriver(BasePermission):
    message = "This is the driver app's API: sign up as a driver to use it."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        wallet = Wallet.objects.filter(user=user).select_related("virtual_id_tag").first()
        request.wallet = wallet
        return wallet is not None


class AppApiView(APIView):
    """Base of the app's endpoints: JWT access tokens (``Authorization: Bearer <access>``),
    drivers only. ``request.wallet`` is the driver's wallet."""

    authentication_classes = [JWTAuthentication]
    permission_classes = [IsDriver]


def request_wallet(request: Request) -> Wallet:
    wallet = getattr(request, "wallet", None)
    if wallet is None:  # a view that skipped IsDriver
        raise exceptions.PermissionDenied(IsDriver.message)
    return wallet


def idempotency_key(request: Request, *, required: bool = True) -> str:
    """The Idempotency-Key header: a client-chosen unique string (a UUID) that makes a retried
    POST return what the first one did instead of doing it again."""
    raw = request.headers.get("Idempotency-Key", "").strip()
    if not raw:
        if required:
            raise exceptions.ValidationError(
                {
                    "Idempotency-Key": "This header is required: send a new UUID per operation "
                    "and the same one when you retry it."
                }
            )
        return ""
    if len(raw) > IDEMPOTENCY_KEY_MAX or not raw.isprintable() or "\x00" in raw:
        raise exceptions.ValidationError(
            {"Idempotency-Key": f"At most {IDEMPOTENCY_KEY_MAX} printable characters."}
        )
    return raw


def idempotency_key_param(*, required: bool = True) -> OpenApiParameter:
    return OpenApiParameter(
        "Idempotency-Key",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=required,
        description="A new UUID per operation; the same one when retrying it.",
    )


# --- Balances, as the app and the operators see them -----------------------------------------


class MoneyField(serializers.CharField):
    """A ledger amount as a string at the currency's minor unit ("12.50"): reads ``attr`` and
    ``currency`` of the object."""

    def __init__(self, attr: str, **kwargs: Any) -> None:
        self.attr = attr
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value: Any) -> str:
        return str(quantize(getattr(value, self.attr), value.currency))


class BalancesSerializer(serializers.Serializer):
    currency = serializers.CharField(read_only=True, help_text="ISO 4217.")
    available = MoneyField("available", help_text="Spendable: may start sessions, be refunded.")
    held = MoneyField("held", help_text="Reserved for running sessions.")
    owed = MoneyField("owed", help_text="Unpaid session costs; the next top-up pays them first.")
