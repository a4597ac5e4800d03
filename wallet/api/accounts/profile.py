"""App API: the driver's profile (``me/``: name, balances) and RFID cards (``cards/``: list,
link, unlink).

The wallet's virtual tag (the idTag of app sessions) is never shown to the driver: the app
does not need it, and a value the driver cannot read is one they cannot copy onto a card
(it would be refused anyway without an app session: wallet.selectors.authorization).
Operators see it in the admin and in ``/api/v1/wallets/``."""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from csms.models import IdTag
from wallet.api.accounts.schema import BALANCES_EXAMPLE, TAG, errors, example
from wallet.api.common import AppApiView, BalancesSerializer, request_wallet
from wallet.models import Wallet
from wallet.selectors.accounts import driver_card_get, driver_cards
from wallet.selectors.ledger import wallet_balances
from wallet.services import accounts

logger = logging.getLogger("wallet.auth")


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


# --- Serializers ------------------------------------------------------------------------------


class ProfileSerializer(serializers.Serializer):
    email = serializers.EmailField(read_only=True)
    first_name = serializers.CharField(read_only=True)
    last_name = serializers.CharField(read_only=True)
    date_joined = serializers.DateTimeField(read_only=True)
    wallet = BalancesSerializer(read_only=True)


def profile_data(user: Any, wallet: Wallet) -> dict[str, Any]:
    return ProfileSerializer(
        {
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "date_joined": user.date_joined,
            "wallet": wallet_balances(wallet=wallet),
        }
    ).data


class ProfileUpdateSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)


class CardSerializer(serializers.Serializer):
    id_tag = serializers.CharField(read_only=True)
    status = serializers.SerializerMethodField(
        help_text="What stations are told now: Expired once expiry_date has passed."
    )
    expiry_date = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(serializers.ChoiceField(choices=IdTag.Status.choices))
    def get_status(self, tag: IdTag) -> str:
        return tag.status_at(timezone.now())


class CardLinkSerializer(serializers.Serializer):
    id_tag = serializers.CharField(
        max_length=64,  # longer is refused by the service with the OCPP rule in the message
        help_text="The card's number (OCPP idTag): 1-20 printable ASCII characters, "
        "case-insensitive.",
    )


PROFILE_EXAMPLE = {
    "email": "dana@example.com",
    "first_name": "Dana",
    "last_name": "Driver",
    "date_joined": "2025-03-01T09:30:00Z",
    "wallet": BALANCES_EXAMPLE,
}
_CARD = {
    "id_tag": "04A2B3C4D5E6F7",
    "status": "Accepted",
    "expiry_date": None,
    "created_at": "2025-03-02T18:04:00Z",
}


# --- Profile ------------------------------------------------------------------------------------


class MeApi(AppApiView):
    @extend_schema(
        tags=[TAG],
        summary="The driver's profile and balances",
        responses={200: ProfileSerializer, **errors(401, 403)},
        examples=[example("Profile", PROFILE_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return Response(profile_data(request.user, request_wallet(request)))

    @extend_schema(
        tags=[TAG],
        summary="Change the driver's name",
        description="Only first_name and last_name change here. The e-mail address is the "
        "log-in name: it cannot be changed from the app (that needs the new address "
        "confirmed); sending it is a 400.",
        request=ProfileUpdateSerializer,
        responses={200: ProfileSerializer, **errors(400, 401, 403)},
        examples=[
            example(
                "Rename", {"first_name": "Dana", "last_name": "Driver-Smith"}, request_only=True
            ),
            example("Profile", PROFILE_EXAMPLE, response_only=True),
        ],
    )
    def patch(self, request: Request) -> Response:
        if isinstance(request.data, dict):
            refused = sorted(set(request.data) - {"first_name", "last_name"})
            if refused:
                raise exceptions.ValidationError(
                    {name: ["This field cannot be changed from the app."] for name in refused}
                )
        serializer = ProfileUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = accounts.driver_profile_update(user=request.user, **serializer.validated_data)
        return Response(profile_data(user, request_wallet(request)))


# --- RFID cards ---------------------------------------------------------------------------------


class CardListApi(AppApiView):
    @extend_schema(
        tags=[TAG],
        summary="The driver's RFID cards",
        description="Sessions started with any of them are the driver's. The app's virtual "
        "tag is not listed. A card charges only while the wallet owes nothing and has at "
        "least WALLET_RFID_MIN_BALANCE available (stations are told Blocked otherwise); "
        "`status` is the registry's.",
        responses={200: CardSerializer(many=True), **errors(401, 403)},
        examples=[example("Cards", [_CARD], response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return Response(CardSerializer(driver_cards(user=request.user), many=True).data)

    @extend_schema(
        tags=[TAG],
        summary="Link an RFID card",
        description="A card the system does not know is registered to the driver (201). An "
        "existing card without an owner is linked if it is active (201). A card already the "
        "driver's is returned as it is (200). Another account's card, a blocked or expired "
        "one, or an app's virtual tag is a 409. At most 10 cards per account. A card "
        "charges only while the wallet owes nothing and has at least WALLET_RFID_MIN_BALANCE "
        "available.",
        request=CardLinkSerializer,
        responses={
            201: CardSerializer,
            200: CardSerializer,
            **errors(400, 401, 403, 409),
        },
        examples=[
            example("Link", {"id_tag": "04A2B3C4D5E6F7"}, request_only=True),
            example("Linked", _CARD, response_only=True, status_codes=["201", "200"]),
            example(
                "Another account's",
                {
                    "detail": "This card is registered to another account; a card belongs to "
                    "one account."
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = CardLinkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            tag, linked = accounts.card_link(
                user=request.user, id_tag=serializer.validated_data["id_tag"]
            )
        except accounts.CardUnavailable as exc:
            logger.info(
                "card %r refused for user %s: %s",
                serializer.validated_data["id_tag"],
                request.user.pk,
                exc,
            )
            raise Conflict(str(exc)) from None
        return Response(
            CardSerializer(tag).data,
            status=status.HTTP_201_CREATED if linked else status.HTTP_200_OK,
        )


class CardDetailApi(AppApiView):
    @extend_schema(
        tags=[TAG],
        summary="Unlink an RFID card",
        description="The card stays known to the stations, without an owner: sessions "
        "started with it are no longer the driver's. 409 while a session started with it "
        "runs; 400 for the app's virtual tag; 404 if it is not the driver's.",
        responses={204: None, **errors(400, 401, 403, 404, 409)},
        examples=[
            example(
                "Running session",
                {
                    "detail": "A session started with this card is running: unlink it once it "
                    "has ended."
                },
                response_only=True,
                status_codes=["409"],
            )
        ],
    )
    def delete(self, request: Request, id_tag: str) -> Response:
        # A value no card can have (too long, NUL: PostgreSQL refuses it in a query) is a 400.
        tag = driver_card_get(user=request.user, id_tag=accounts.id_tag_validate(id_tag))
        if tag is None:
            raise exceptions.NotFound("No such card on your account.")
        try:
            accounts.card_unlink(tag=tag)
        except accounts.CardInUse as exc:
            raise Conflict(str(exc)) from None
        except accounts.CardUnavailable as exc:
            raise exceptions.ValidationError({"id_tag": [str(exc)]}) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
