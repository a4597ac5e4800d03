"""The driver app's top-ups, ``/api/v1/app/wallet/top-ups/`` (drivers, JWT): start a top-up
(Idempotency-Key required), list and read one's own. The wallet is credited only when the
provider's signed webhook says the payment succeeded (``webhooks``). The errors, amount fields
and top-up shapes here serve the operators' endpoints (``staff``) too.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from csms.api.common import query_choice
from wallet.api.common import AppApiView, idempotency_key, idempotency_key_param, request_wallet
from wallet.models import TopUp
from wallet.money import AmountError, parse_amount, quantize
from wallet.payments.base import PaymentError, ProviderUnavailable
from wallet.selectors.payments import top_up_get, top_up_list
from wallet.services.payments import IdempotencyConflict, top_up_create, top_up_next_action

logger = logging.getLogger("wallet.payments")


# --- Errors ----------------------------------------------------------------------------------


class ProviderUnavailableError(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "provider_unavailable"


class ProviderFailedError(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "provider_error"


class IdempotencyConflictError(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_conflict"


def amount_or_400(value: Any, currency: str, *, required: bool = True) -> Decimal | None:
    if value is None and not required:
        return None
    if value is None:
        raise exceptions.ValidationError({"amount": 'Required, as a string, e.g. "20.00".'})
    try:
        return parse_amount(value, currency)
    except AmountError as exc:
        raise exceptions.ValidationError({"amount": str(exc)}) from None


# --- Serializers -----------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.STR)
class MoneyField(serializers.Field):
    """A ledger amount as a string at its currency's minor unit ("20.00")."""

    def __init__(self, *, currency_source: str = "currency", **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        self.currency_source = currency_source
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> Any:
        return (super().get_attribute(instance), getattr(instance, self.currency_source))

    def to_representation(self, value: Any) -> str | None:
        amount, currency = value
        return None if amount is None else str(quantize(Decimal(amount), currency))


@extend_schema_field(OpenApiTypes.STR)
class AmountInputField(serializers.Field):
    """The amount as the client sent it, read by ``wallet.money.parse_amount`` (a JSON number
    such as 20.5 is refused there, not turned into a string here)."""

    def to_internal_value(self, data: Any) -> Any:
        return data


class TopUpInputSerializer(serializers.Serializer):
    amount = AmountInputField(help_text='In the wallet\'s currency, as a string: "20.00".')
    provider = serializers.ChoiceField(
        choices=["sandbox", "stripe"],
        required=False,
        help_text="Default: the platform's provider (PAYMENT_PROVIDER).",
    )


class TopUpOutputSerializer(serializers.ModelSerializer):
    amount = MoneyField()
    refunded_amount = MoneyField()

    class Meta:
        model = TopUp
        fields = [
            "id",
            "amount",
            "currency",
            "state",
            "provider",
            "provider_reference",
            "failure_reason",
            "refunded_amount",
            "created_at",
            "succeeded_at",
        ]
        read_only_fields = fields


class TopUpDetailOutputSerializer(TopUpOutputSerializer):
    next_action = serializers.SerializerMethodField(
        help_text='While pending: {"type": "redirect", "url": ...} (sandbox: open the page) or '
        '{"type": "stripe_payment_intent", "client_secret": ..., "publishable_key"?: ...} '
        "(confirm it with Stripe's SDK). null once the top-up is settled."
    )

    class Meta(TopUpOutputSerializer.Meta):
        fields = [*TopUpOutputSerializer.Meta.fields, "next_action"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_next_action(self, obj: TopUp) -> dict[str, Any] | None:
        return self.context.get("next_action")


# --- The app's top-ups -----------------------------------------------------------------------

TOP_UP_EXAMPLE = {
    "id": 17,
    "amount": "20.00",
    "currency": "EUR",
    "state": "pending",
    "provider": "sandbox",
    "provider_reference": "sbx_pay_Gm1x0cQ8V9k2kq2mH1W1oG3h",
    "failure_reason": "",
    "refunded_amount": "0.00",
    "created_at": "2025-03-01T08:00:00Z",
    "succeeded_at": None,
    "next_action": {
        "type": "redirect",
        "url": "http://localhost:8000/payments/sandbox/InNieF9wYXlfR20xeDBjUTgi:1t.../",
    },
}


def _next_action_or_error(top_up: TopUp) -> dict[str, Any] | None:
    try:
        return top_up_next_action(top_up=top_up)
    except ProviderUnavailable as exc:
        raise ProviderUnavailableError(str(exc)) from None
    except PaymentError as exc:
        logger.warning("top-up %s: %s", top_up.pk, exc)
        raise ProviderFailedError(
            f"{exc} Retry with the same Idempotency-Key: the top-up is kept."
        ) from None


class AppTopUpsApi(AppApiView, generics.GenericAPIView):
    serializer_class = TopUpOutputSerializer

    def get_queryset(self) -> QuerySet[TopUp]:
        return top_up_list(
            wallet=request_wallet(self.request),
            state=query_choice(self.request, "state", TopUp.State),
        )

    @extend_schema(
        summary="The driver's top-ups, newest first",
        parameters=[OpenApiParameter("state", OpenApiTypes.STR, enum=TopUp.State.values)],
        responses=TopUpOutputSerializer(many=True),
        examples=[
            OpenApiExample(
                "A succeeded top-up",
                value=[{**TOP_UP_EXAMPLE, "state": "succeeded", "next_action": None}],
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(TopUpOutputSerializer(page, many=True).data)

    @extend_schema(
        summary="Top up the wallet",
        description="Starts a payment at the provider and returns the top-up with its "
        "`next_action` (what the app does next). The wallet is credited when the provider's "
        "signed webhook confirms the payment, never before. A retry with the same "
        "Idempotency-Key returns the same top-up (200); the same key with another amount is a "
        "422. The amount is between WALLET_TOP_UP_MIN and WALLET_TOP_UP_MAX (400). A "
        "provider that is not configured here: 503; one that failed: 502 (retry).",
        parameters=[idempotency_key_param()],
        request=TopUpInputSerializer,
        responses={
            201: TopUpDetailOutputSerializer,
            200: OpenApiResponse(TopUpDetailOutputSerializer, description="A retry."),
            400: OpenApiResponse(description="Bad amount or provider."),
            422: OpenApiResponse(description="Idempotency-Key reused for another top-up."),
            502: OpenApiResponse(description="The provider failed: retry with the same key."),
            503: OpenApiResponse(description="The provider is not available here."),
        },
        examples=[
            OpenApiExample("Twenty euros", value={"amount": "20.00"}, request_only=True),
            OpenApiExample(
                "Started (sandbox)", value=TOP_UP_EXAMPLE, response_only=True, status_codes=["201"]
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        wallet = request_wallet(request)
        key = idempotency_key(request)
        data = TopUpInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        amount = amount_or_400(data.validated_data["amount"], wallet.currency)
        assert amount is not None
        try:
            started = top_up_create(
                wallet=wallet,
                amount=amount,
                provider=data.validated_data.get("provider"),
                idempotency_key=key,
            )
        except IdempotencyConflict as exc:
            raise IdempotencyConflictError(str(exc)) from None
        except ProviderUnavailable as exc:
            raise ProviderUnavailableError(str(exc)) from None
        except PaymentError as exc:
            logger.warning("top-up of wallet %s: %s", wallet.pk, exc)
            raise ProviderFailedError(
                f"{exc} Retry with the same Idempotency-Key: the top-up is kept."
            ) from None
        body = TopUpDetailOutputSerializer(
            started.top_up, context={"next_action": started.next_action}
        ).data
        return Response(body, status=201 if started.created else 200)


class AppTopUpDetailApi(AppApiView):
    @extend_schema(
        summary="One of the driver's top-ups",
        description="With its `next_action` while pending (another driver's: 404).",
        responses={200: TopUpDetailOutputSerializer, 404: OpenApiResponse(description="None.")},
        examples=[OpenApiExample("Pending", value=TOP_UP_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        top_up = top_up_get(pk=pk, wallet=request_wallet(request))
        if top_up is None:
            raise exceptions.NotFound(f"No top-up {pk}.")
        next_action = _next_action_or_error(top_up)
        return Response(
            TopUpDetailOutputSerializer(top_up, context={"next_action": next_action}).data
        )
