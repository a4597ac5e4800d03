"""App API: the wallet screen, ``GET wallet/``: one call for the balances and the first page
of the statement (cursor-paginated, newest first, ``entries.next`` for older ones)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from csms.api.common import NewestFirstCursorPagination
from wallet.api.accounts.schema import BALANCES_EXAMPLE, TAG, errors, example
from wallet.api.common import AppApiView, BalancesSerializer, MoneyField, request_wallet
from wallet.models import JournalEntry
from wallet.selectors.ledger import Balances, wallet_balances, wallet_statement

# --- Serializers ------------------------------------------------------------------------------


class EntrySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=JournalEntry.Kind.choices, read_only=True)
    amount = MoneyField("amount", help_text="What moved, positive.")
    available_change = MoneyField(
        "available_change", help_text="Effect on available funds: + credited, - taken."
    )
    currency = serializers.CharField(read_only=True)
    memo = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    order = serializers.IntegerField(source="order_id", read_only=True, allow_null=True)
    top_up = serializers.IntegerField(source="top_up_id", read_only=True, allow_null=True)
    session = serializers.IntegerField(source="session_id", read_only=True, allow_null=True)
    refund = serializers.IntegerField(source="refund_id", read_only=True, allow_null=True)


class EntryPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="Older entries; null at the end.")
    previous = serializers.URLField(allow_null=True)
    results = EntrySerializer(many=True)


class WalletSerializer(BalancesSerializer):
    entries = EntryPageSerializer()


_ENTRY = {
    "id": 812,
    "kind": "capture",
    "amount": "7.50",
    "available_change": "-0.50",
    "currency": "EUR",
    "memo": "Session at Station Harbour, connector 1",
    "created_at": "2025-03-03T10:12:00Z",
    "order": 311,
    "top_up": None,
    "session": 45,
    "refund": None,
}


# --- Wallet and statement -------------------------------------------------------------------------


class StatementPagination(NewestFirstCursorPagination):
    page_size = 50
    max_page_size = 200


class WalletApi(AppApiView):
    @extend_schema(
        tags=[TAG],
        summary="Balances and statement",
        description="The balances, and the statement newest first: every money movement of "
        "the wallet (top-ups, holds and their releases, session charges, unpaid parts, "
        "refunds, adjustments). `entries` is cursor-paginated: follow `entries.next` for "
        "older entries (each page repeats the balances, as they are now). Amounts are "
        "strings at the currency's minor unit; `available_change` is signed.",
        parameters=[
            OpenApiParameter("cursor", OpenApiTypes.STR, description="From entries.next."),
            OpenApiParameter(
                "page_size", OpenApiTypes.INT, description="Entries per page (50; at most 200)."
            ),
        ],
        responses={200: WalletSerializer, **errors(401, 403)},
        examples=[
            example(
                "Wallet",
                {
                    **BALANCES_EXAMPLE,
                    "entries": {
                        "next": "https://csms.example.com/api/v1/app/wallet/?cursor=cD0yMDI1",
                        "previous": None,
                        "results": [_ENTRY],
                    },
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        wallet = request_wallet(request)
        balances: Balances = wallet_balances(wallet=wallet)
        paginator = StatementPagination()
        page = paginator.paginate_queryset(wallet_statement(wallet=wallet), request, view=self)
        body = BalancesSerializer(balances).data
        body["entries"] = {
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
            "results": EntrySerializer(page, many=True).data,
        }
        return Response(body)
