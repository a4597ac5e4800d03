"""Operators' money endpoints: ``/api/v1/wallets/``, ``/api/v1/top-ups/``,
``/api/v1/refunds/``, and the refunds of orders and top-ups. Operators only: money is not
support's, support staff get 403 here.
"""

from __future__ import annotations

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
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Order
from csms.api.common import query_choice, query_int, query_text
from csms.permissions import is_operator
from wallet.api.common import BalancesSerializer, idempotency_key, idempotency_key_param
from wallet.api.payments.top_ups import (
    TOP_UP_EXAMPLE,
    AmountInputField,
    IdempotencyConflictError,
    MoneyField,
    TopUpOutputSerializer,
    amount_or_400,
)
from wallet.models import JournalEntry, Refund, TopUp, Wallet
from wallet.money import quantize
from wallet.selectors.ledger import wallet_balances, wallet_statement
from wallet.selectors.payments import refund_list, top_up_list, wallet_get, wallet_list
from wallet.services.ledger import InsufficientFunds
from wallet.services.payments import IdempotencyConflict
from wallet.services.refunds import refund_order, refund_top_up

STATEMENT_LIMIT = 100


# --- Errors and permissions -------------------------------------------------------------------


class InsufficientFundsError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "insufficient_funds"


class IsOperator(BasePermission):
    message = "Money is operators' business: only operators may use this endpoint."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_operator(request.user)


# --- Serializers -----------------------------------------------------------------------------


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
    amount = amount_or_400(data.validated_data.get("amount"), currency, required=False)
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
