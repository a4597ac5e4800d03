"""Payments: the app's top-ups, the providers' webhooks, the sandbox's checkout page, and the
operators' wallets and refunds.

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

import logging
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, generics, serializers, status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Order
from csms.api.common import query_choice, query_int, query_text
from csms.permissions import is_operator
from wallet.api.common import (
    AppApiView,
    BalancesSerializer,
    idempotency_key,
    idempotency_key_param,
    request_wallet,
)
from wallet.models import JournalEntry, Refund, TopUp, Wallet
from wallet.money import AmountError, parse_amount, quantize
from wallet.payments import UnknownProvider, provider_get, sandbox
from wallet.payments.base import PaymentError, ProviderUnavailable, WebhookError
from wallet.selectors.ledger import wallet_balances, wallet_statement
from wallet.selectors.payments import (
    refund_list,
    top_up_get,
    top_up_list,
    wallet_get,
    wallet_list,
)
from wallet.services.ledger import InsufficientFunds
from wallet.services.payments import (
    IdempotencyConflict,
    top_up_create,
    top_up_next_action,
    webhook_receive,
)
from wallet.services.refunds import refund_order, refund_top_up

logger = logging.getLogger("wallet.payments")

STATEMENT_LIMIT = 100


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


class InsufficientFundsError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "insufficient_funds"


def _amount_or_400(value: Any, currency: str, *, required: bool = True) -> Decimal | None:
    if value is None and not required:
        return None
    if value is None:
        raise exceptions.ValidationError({"amount": 'Required, as a string, e.g. "20.00".'})
    try:
        return parse_amount(value, currency)
    except AmountError as exc:
        raise exceptions.ValidationError({"amount": str(exc)}) from None


class IsOperator(BasePermission):
    message = "Money is operators' business: only operators may use this endpoint."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_operator(request.user)


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


class StaffTopUpOutputSerializer(TopUpOutputSerializer):
    wallet = serializers.IntegerField(source="wallet_id", read_only=True)
    driver = serializers.CharField(source="wallet.user.email", read_only=True)

    class Meta(TopUpOutputSerializer.Meta):
        fields = [*TopUpOutputSerializer.Meta.fields, "wallet", "driver"]
        read_only_fields = fields


class RefundInputSerializer(serializers.Serializer):
    amount = AmountInputField(
        required=False, help_text='Default: everything that is left to refund. A string: "5.00".'
    )
    reason = serializers.CharField(max_length=255, help_text="Shown on the driver's statement.")


class RefundOutputSerializer(serializers.ModelSerializer):
    amount = MoneyField()
    wallet = serializers.IntegerField(source="wallet_id", read_only=True)
    driver = serializers.CharField(source="wallet.user.email", read_only=True)
    order = serializers.IntegerField(source="order_id", read_only=True, allow_null=True)
    top_up = serializers.IntegerField(source="top_up_id", read_only=True, allow_null=True)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Refund
        fields = [
            "id",
            "order",
            "top_up",
            "wallet",
            "driver",
            "amount",
            "currency",
            "reason",
            "state",
            "provider_reference",
            "provider_error",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


def _balances(wallet: Wallet) -> dict[str, str]:
    """From the prefetched accounts (wallet_list), else one query."""
    cache = getattr(wallet, "_prefetched_objects_cache", {})
    if "accounts" in cache:
        by_kind = {a.kind: a.balance for a in cache["accounts"]}
        values = [by_kind.get(k, Decimal(0)) for k in ("wallet", "held", "receivable")]
    else:
        b = wallet_balances(wallet=wallet)
        values = [b.available, b.held, b.owed]
    available, held, owed = (str(quantize(v, wallet.currency)) for v in values)
    return {"currency": wallet.currency, "available": available, "held": held, "owed": owed}


class StatementEntrySerializer(serializers.ModelSerializer):
    amount = MoneyField()
    available_change = MoneyField()

    class Meta:
        model = JournalEntry
        fields = [
            "id",
            "kind",
            "amount",
            "available_change",
            "currency",
            "memo",
            "order",
            "top_up",
            "session",
            "refund",
            "created_at",
        ]
        read_only_fields = fields


class WalletOutputSerializer(serializers.ModelSerializer):
    email = serializers.CharField(source="user.email", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    virtual_id_tag = serializers.CharField(source="virtual_id_tag.id_tag", read_only=True)
    balances = serializers.SerializerMethodField()

    class Meta:
        model = Wallet
        fields = ["id", "email", "username", "currency", "virtual_id_tag", "balances", "created_at"]
        read_only_fields = fields

    @extend_schema_field(BalancesSerializer)  # the app's shape: one schema for both
    def get_balances(self, obj: Wallet) -> dict[str, str]:
        return _balances(obj)


class WalletDetailOutputSerializer(WalletOutputSerializer):
    statement = serializers.SerializerMethodField(
        help_text=f"The newest {STATEMENT_LIMIT} entries of the driver's statement."
    )

    class Meta(WalletOutputSerializer.Meta):
        fields = [*WalletOutputSerializer.Meta.fields, "statement"]
        read_only_fields = fields

    @extend_schema_field(StatementEntrySerializer(many=True))
    def get_statement(self, obj: Wallet) -> Any:
        entries = wallet_statement(wallet=obj)[:STATEMENT_LIMIT]
        return StatementEntrySerializer(entries, many=True).data


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
        amount = _amount_or_400(data.validated_data["amount"], wallet.currency)
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


# --- Webhooks --------------------------------------------------------------------------------


class WebhookOutputSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    outcome = serializers.CharField()


class WebhookApi(APIView):
    """No authentication and no CSRF (there is no session): the provider's signature is
    verified instead, on the raw body."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="A payment provider's webhook",
        description="The raw body, signed by the provider: `Sandbox-Signature: "
        't=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (sandbox) or Stripe\'s '
        "`Stripe-Signature`. 200 for every verified event (handled or ignored: see the "
        "outcome); 400 for a bad signature, a stale timestamp (older than "
        "PAYMENT_WEBHOOK_TOLERANCE seconds) or a malformed body; 404 for a provider not "
        "available here.",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            200: WebhookOutputSerializer,
            400: OpenApiResponse(description="Refused: nothing was processed."),
            404: OpenApiResponse(description="No such provider here."),
        },
        examples=[
            OpenApiExample(
                "Sandbox: payment succeeded",
                value={
                    "id": "evt_sbx_4f1c2a",
                    "type": "payment.succeeded",
                    "created": 1740816000,
                    "data": {
                        "reference": "sbx_pay_Gm1x0cQ8V9k2kq2mH1W1oG3h",
                        "amount": "20.00",
                        "currency": "EUR",
                    },
                },
                request_only=True,
            ),
            OpenApiExample(
                "Credited",
                value={"received": True, "outcome": "credited top-up 17"},
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request, provider: str) -> Response:
        try:
            outcome = webhook_receive(
                provider=provider, payload=request.body, headers=request.headers
            )
        except (UnknownProvider, ProviderUnavailable):
            raise exceptions.NotFound(f"No payment provider {provider!r} here.") from None
        except WebhookError as exc:
            raise exceptions.ValidationError({"detail": str(exc)}) from None
        return Response({"received": True, "outcome": outcome})


# --- The sandbox's checkout page -------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def sandbox_checkout(request: HttpRequest, token: str) -> HttpResponse:
    """The sandbox's payment page: the amount, and Pay / Decline. Pressing one delivers the
    webhook a provider would, signed, through the same verification as the public endpoint."""
    if provider_get("sandbox").available() is not None:
        raise Http404("The sandbox is not available here.")
    reference = sandbox.checkout_reference(token)
    top_up = (
        TopUp.objects.filter(provider="sandbox", provider_reference=reference)
        .select_related("wallet__user")
        .first()
        if reference
        else None
    )
    if top_up is None:
        raise Http404("No such payment.")
    if request.method == "POST":
        decision = request.POST.get("decision")
        if decision not in ("pay", "decline") or top_up.state != TopUp.State.PENDING:
            return HttpResponse("Nothing to do: reload the page.", status=400)
        body, headers = sandbox.event_build(
            top_up=top_up,
            type="payment.succeeded" if decision == "pay" else "payment.failed",
            failure_reason="" if decision == "pay" else "declined in the sandbox",
        )
        webhook_receive(provider="sandbox", payload=body, headers=headers)
        return HttpResponseRedirect(reverse("wallet-sandbox-checkout", args=[token]))
    return render(request, "wallet/sandbox_checkout.html", {"top_up": top_up})


# --- Operators: wallets, top-ups, refunds ----------------------------------------------------


class StaffWalletListApi(generics.ListAPIView):
    permission_classes = [IsOperator]
    serializer_class = WalletOutputSerializer

    @extend_schema(
        summary="Drivers' wallets with their balances (operators)",
        parameters=[OpenApiParameter("search", OpenApiTypes.STR, description="E-mail contains.")],
        examples=[
            OpenApiExample(
                "A wallet",
                value=[
                    {
                        "id": 3,
                        "email": "dana@example.com",
                        "username": "dana@example.com",
                        "currency": "EUR",
                        "virtual_id_tag": "APP0A1B2C3D4E5F6G7",
                        "balances": {
                            "currency": "EUR",
                            "available": "12.40",
                            "held": "0.00",
                            "owed": "0.00",
                        },
                        "created_at": "2025-03-01T08:00:00Z",
                    }
                ],
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Wallet]:
        return wallet_list(search=query_text(self.request, "search"))


class StaffWalletDetailApi(APIView):
    permission_classes = [IsOperator]

    @extend_schema(
        summary="A wallet with its balances and statement (operators)",
        responses={200: WalletDetailOutputSerializer, 404: OpenApiResponse(description="None.")},
        examples=[
            OpenApiExample(
                "Statement",
                value={
                    "id": 3,
                    "email": "dana@example.com",
                    "currency": "EUR",
                    "balances": {
                        "currency": "EUR",
                        "available": "20.00",
                        "held": "0.00",
                        "owed": "0.00",
                    },
                    "statement": [
                        {
                            "id": 9,
                            "kind": "top_up",
                            "amount": "20.00",
                            "available_change": "20.00",
                            "currency": "EUR",
                            "memo": "Top-up via sandbox",
                            "top_up": 17,
                            "created_at": "2025-03-01T08:01:00Z",
                        }
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, pk: int) -> Response:
        wallet = wallet_get(pk=pk)
        if wallet is None:
            raise exceptions.NotFound(f"No wallet {pk}.")
        return Response(WalletDetailOutputSerializer(wallet).data)


class StaffTopUpListApi(generics.ListAPIView):
    permission_classes = [IsOperator]
    serializer_class = StaffTopUpOutputSerializer

    @extend_schema(
        summary="Top-ups of every driver, newest first (operators)",
        parameters=[
            OpenApiParameter("state", OpenApiTypes.STR, enum=TopUp.State.values),
            OpenApiParameter("wallet", OpenApiTypes.INT),
        ],
        examples=[
            OpenApiExample(
                "A top-up",
                value=[{**TOP_UP_EXAMPLE, "wallet": 3, "driver": "dana@example.com"}],
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[TopUp]:
        found = top_up_list(state=query_choice(self.request, "state", TopUp.State))
        wallet_id = query_int(self.request, "wallet")
        return found.filter(wallet_id=wallet_id) if wallet_id is not None else found


REFUND_EXAMPLE = {
    "id": 4,
    "order": 112,
    "top_up": None,
    "wallet": 3,
    "driver": "dana@example.com",
    "amount": "5.00",
    "currency": "EUR",
    "reason": "Station fault",
    "state": "posted",
    "provider_reference": "",
    "provider_error": "",
    "created_by": "olivia-operator",
    "created_at": "2025-03-02T09:00:00Z",
    "updated_at": "2025-03-02T09:00:00Z",
}


class StaffRefundListApi(generics.ListAPIView):
    permission_classes = [IsOperator]
    serializer_class = RefundOutputSerializer

    @extend_schema(
        summary="Refunds, newest first (operators)",
        parameters=[
            OpenApiParameter("state", OpenApiTypes.STR, enum=Refund.State.values),
            OpenApiParameter("wallet", OpenApiTypes.INT),
            OpenApiParameter("order", OpenApiTypes.INT),
            OpenApiParameter("top_up", OpenApiTypes.INT),
        ],
        examples=[OpenApiExample("An order refund", value=[REFUND_EXAMPLE], response_only=True)],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Refund]:
        return refund_list(
            state=query_choice(self.request, "state", Refund.State),
            wallet_id=query_int(self.request, "wallet"),
            order_id=query_int(self.request, "order"),
            top_up_id=query_int(self.request, "top_up"),
        )


def _refund_schema(what: str, example: dict[str, Any]) -> Any:
    return extend_schema(
        summary=f"Refund {what} (operators)",
        description=(
            "amount (a string) defaults to everything left to refund; reason is required. "
            "Idempotency-Key required: a retry returns the same refund (200). An order refund "
            "credits the driver's wallet; a top-up refund debits it and pays the card back "
            "through the provider (state provider_pending until the provider confirms). "
            "More than is left: 400; more than the wallet has available: 409."
        ),
        parameters=[idempotency_key_param()],
        request=RefundInputSerializer,
        responses={
            201: RefundOutputSerializer,
            200: OpenApiResponse(RefundOutputSerializer, description="A retry."),
            400: OpenApiResponse(description="Nothing left, too much, or a bad amount."),
            404: OpenApiResponse(description="No such order or top-up."),
            409: OpenApiResponse(description="The wallet does not have that much available."),
            422: OpenApiResponse(description="Idempotency-Key reused for another refund."),
        },
        examples=[
            OpenApiExample(
                "Part of it", value={"amount": "5.00", "reason": "Station fault"}, request_only=True
            ),
            OpenApiExample("Refunded", value=example, response_only=True, status_codes=["201"]),
        ],
    )


def _refund_input(request: Request, currency: str) -> tuple[Decimal | None, str, str]:
    key = idempotency_key(request)
    data = RefundInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    amount = _amount_or_400(data.validated_data.get("amount"), currency, required=False)
    return amount, data.validated_data["reason"], key


def _refund_response(run: Any) -> Response:
    try:
        result = run()
    except IdempotencyConflict as exc:
        raise IdempotencyConflictError(str(exc)) from None
    except InsufficientFunds as exc:
        raise InsufficientFundsError(str(exc)) from None
    return Response(
        RefundOutputSerializer(result.refund).data, status=201 if result.created else 200
    )


class OrderRefundApi(APIView):
    permission_classes = [IsOperator]

    @_refund_schema("a charged session's order", REFUND_EXAMPLE)
    def post(self, request: Request, pk: int) -> Response:
        order = Order.objects.filter(pk=pk).first()
        if order is None:
            raise exceptions.NotFound(f"No order {pk}.")
        amount, reason, key = _refund_input(request, order.currency)
        return _refund_response(
            lambda: refund_order(
                order=order,
                amount=amount,
                reason=reason,
                created_by=request.user,
                idempotency_key=key,
            )
        )


class TopUpRefundApi(APIView):
    permission_classes = [IsOperator]

    @_refund_schema(
        "a top-up to the driver's card",
        {**REFUND_EXAMPLE, "order": None, "top_up": 17, "state": "provider_pending"},
    )
    def post(self, request: Request, pk: int) -> Response:
        top_up = TopUp.objects.filter(pk=pk).first()
        if top_up is None:
            raise exceptions.NotFound(f"No top-up {pk}.")
        amount, reason, key = _refund_input(request, top_up.currency)
        return _refund_response(
            lambda: refund_top_up(
                top_up=top_up,
                amount=amount,
                reason=reason,
                created_by=request.user,
                idempotency_key=key,
            )
        )


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
