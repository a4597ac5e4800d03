"""App API: driver accounts. Sign-up, log-in (JWT pairs), token refresh and log-out, password
change and reset, the profile, RFID cards, and the wallet's balance and statement.

Authentication of the app is a JWT access token (``Authorization: Bearer <access>``, 5 min)
and a rotating refresh token (30 d; each refresh blacklists the one it used). Log-ins go
through Django's ``authenticate``, so csms.authentication's failed-log-in limits (per e-mail
and per address) apply on top of this module's request rates per address (AppAuthThrottle).

Decisions where the issue was silent:
- Sign-up with a taken address says so (400 on ``email``). Sign-up cannot hide it without a
  confirm-by-e-mail flow (the second sign-up must fail somehow), the message is what drivers
  need, and sign-ups are rate-limited per address, so probing costs 10 addresses an hour.
  Password reset, which can hide it, always answers 202.
- Staff (no wallet) with the right password get a 403 naming the operations API; a wrong
  password is a 401 whatever the account.
- ``GET wallet/`` is one call for the app's wallet screen: the balances and the first page of
  the statement (cursor-paginated, newest first, ``entries.next`` for older ones).
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import update_last_login
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings as drf_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import get_md5_hash_password

from csms import throttling
from csms.api.common import NewestFirstCursorPagination
from csms.authentication import client_address, login_limits, login_retry_after
from csms.models import IdTag
from wallet.api.common import AppApiView, request_wallet
from wallet.models import JournalEntry, Wallet
from wallet.money import quantize
from wallet.selectors.accounts import driver_card_get, driver_cards
from wallet.selectors.ledger import Balances, wallet_balances, wallet_statement
from wallet.services import accounts

logger = logging.getLogger("wallet.auth")

TAG = "App: account"
STAFF_REFUSED = (
    "This is the driver app: staff accounts have no wallet. Use the operations API or the admin."
)
WRONG_CREDENTIALS = "Wrong e-mail address or password."
RESET_ACCEPTED = "If this address has an account, we sent it a link to reset the password."


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


# --- Throttling -------------------------------------------------------------------------------


class AppAuthThrottle(ScopedRateThrottle):
    """DRF's ScopedRateThrottle (the view's ``throttle_scope``, rates in REST_FRAMEWORK
    DEFAULT_THROTTLE_RATES) per client address, with three changes:

    - the cache is the process's one client (csms.throttling): ``django.core.cache.cache`` is
      context-local and under Channels each request would build a client (and with Redis, a
      connection pool) of its own;
    - the client is REMOTE_ADDR as csms.proxy resolved it, not DRF's reading of
      X-Forwarded-For, which a client can fill with an address per request;
    - rates are read when used, not when the class was imported (settings overrides work)."""

    @property
    def cache(self) -> Any:  # type: ignore[override]
        return throttling._cache()

    @property
    def THROTTLE_RATES(self) -> dict[str, Any]:  # type: ignore[override]
        return drf_settings.DEFAULT_THROTTLE_RATES

    def get_ident(self, request: Request) -> str:
        return client_address(request) or "unknown"

    def allow_request(self, request: Request, view: Any) -> bool:
        allowed = super().allow_request(request, view)
        if not allowed:
            logger.warning(
                "app %s from %s throttled (%s)",
                getattr(view, "throttle_scope", "?"),
                client_address(request) or "?",
                self.rate,
            )
        return allowed


class _AuthView(APIView):
    """The unauthenticated auth endpoints. No authentication classes (a stale access token
    sent along must not make a log-in fail), but a Bearer challenge, so that refusals are
    401s as the app expects (DRF turns them into 403s when no authenticator gives one)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def _client(request: Request) -> str:
    return client_address(request) or "?"


# --- Serializers ------------------------------------------------------------------------------


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


class ProfileSerializer(serializers.Serializer):
    email = serializers.EmailField(read_only=True)
    first_name = serializers.CharField(read_only=True)
    last_name = serializers.CharField(read_only=True)
    date_joined = serializers.DateTimeField(read_only=True)
    virtual_id_tag = serializers.CharField(
        read_only=True, help_text="The idTag of sessions started from the app."
    )
    wallet = BalancesSerializer(read_only=True)


def _profile(user: Any, wallet: Wallet) -> dict[str, Any]:
    return ProfileSerializer(
        {
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "date_joined": user.date_joined,
            "virtual_id_tag": wallet.virtual_id_tag.id_tag,
            "wallet": wallet_balances(wallet=wallet),
        }
    ).data


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="JWT for Authorization: Bearer; 5 minutes.")
    refresh = serializers.CharField(help_text="For auth/refresh/; 30 days, single use.")


def _token_pair(user: Any) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


class SignUpSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=150)  # it is the username too (150)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)


class SignUpOutputSerializer(TokenPairSerializer):
    profile = ProfileSerializer()


class LoginSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=64, help_text="From the e-mailed link.")
    token = serializers.CharField(max_length=128, help_text="From the e-mailed link.")
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


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


# --- Examples -----------------------------------------------------------------------------------

_TOKENS = {"access": "eyJhbGciOiJIUzI1NiIs...", "refresh": "eyJhbGciOiJIUzI1NiIs..."}
_BALANCES = {"currency": "EUR", "available": "12.50", "held": "0.00", "owed": "0.00"}
_PROFILE = {
    "email": "dana@example.com",
    "first_name": "Dana",
    "last_name": "Driver",
    "date_joined": "2025-03-01T09:30:00Z",
    "virtual_id_tag": "APP5F3A9C01D2E4B6A8",
    "wallet": _BALANCES,
}
_CARD = {
    "id_tag": "04A2B3C4D5E6F7",
    "status": "Accepted",
    "expiry_date": None,
    "created_at": "2025-03-02T18:04:00Z",
}
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


def _example(name: str, value: Any, **kwargs: Any) -> OpenApiExample:
    return OpenApiExample(name, value=value, **kwargs)


def _errors(*codes: int, **descriptions: str) -> dict[int, OpenApiResponse]:
    texts = {
        400: "A field is invalid; its name is the key.",
        401: "Missing, invalid or expired token (or credentials).",
        403: STAFF_REFUSED,
        404: "Not one of the driver's.",
        409: "Conflicts with the current state (the message says why).",
        429: "Too many requests from this address: see Retry-After.",
    }
    return {code: OpenApiResponse(DetailSerializer, description=texts[code]) for code in codes}


# --- Sign-up, log-in, tokens ---------------------------------------------------------------------


class SignUpApi(_AuthView):
    throttle_classes = [AppAuthThrottle]
    throttle_scope = "app_signup"

    @extend_schema(
        tags=[TAG],
        summary="Sign up as a driver",
        description="Creates the account and its wallet, and logs in: the answer holds a token "
        "pair. The password must pass the server's password rules (length, not common, not "
        "all digits, not like the name or address); a 400 on `password` lists what failed. "
        "A taken address is a 400 on `email`. 10 sign-ups an hour per address.",
        request=SignUpSerializer,
        responses={201: SignUpOutputSerializer, **_errors(400, 429)},
        examples=[
            _example(
                "Sign-up",
                {
                    "email": "dana@example.com",
                    "password": "correct-horse-battery",
                    "first_name": "Dana",
                    "last_name": "Driver",
                },
                request_only=True,
            ),
            _example("Signed up", {**_TOKENS, "profile": _PROFILE}, response_only=True),
            _example(
                "Weak password",
                {"password": ["This password is too common."]},
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = SignUpSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            user = accounts.driver_sign_up(
                email=data["email"],
                password=data["password"],
                first_name=data.get("first_name", "").strip(),
                last_name=data.get("last_name", "").strip(),
            )
        except DjangoValidationError:
            logger.info(
                "sign-up refused for %s from %s",
                accounts.email_normalize(data["email"]),
                _client(request),
            )
            raise
        wallet = Wallet.objects.select_related("virtual_id_tag").get(user=user)
        return Response(
            {**_token_pair(user), "profile": _profile(user, wallet)},
            status=status.HTTP_201_CREATED,
        )


class LoginApi(_AuthView):
    throttle_classes = [AppAuthThrottle]
    throttle_scope = "app_login"

    @extend_schema(
        tags=[TAG],
        summary="Log in",
        description="A token pair for the driver's e-mail and password. After 5 failed "
        "log-ins for one address (20 from one client) in 15 minutes, log-ins are refused "
        "(429) until the window ends, right password or not. Staff accounts are refused "
        "(403): the app is for drivers.",
        request=LoginSerializer,
        responses={200: TokenPairSerializer, **_errors(400, 401, 403, 429)},
        examples=[
            _example(
                "Log-in",
                {"email": "dana@example.com", "password": "correct-horse-battery"},
                request_only=True,
            ),
            _example("Logged in", _TOKENS, response_only=True),
            _example(
                "Wrong password",
                {"detail": WRONG_CREDENTIALS},
                response_only=True,
                status_codes=["401"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = accounts.email_normalize(serializer.validated_data["email"])
        wait = login_retry_after(email, request._request)
        if wait:
            logger.warning("app log-in for %s from %s refused: throttled", email, _client(request))
            raise exceptions.Throttled(
                wait, detail="Too many failed log-ins: try again when the wait is over."
            )
        user = authenticate(
            request._request, username=email, password=serializer.validated_data["password"]
        )
        if user is None:
            logger.warning("failed app log-in for %s from %s", email, _client(request))
            raise exceptions.AuthenticationFailed(WRONG_CREDENTIALS)
        if not Wallet.objects.filter(user=user).exists():
            logger.warning(
                "app log-in by staff account %s from %s refused", email, _client(request)
            )
            raise exceptions.PermissionDenied(STAFF_REFUSED)
        if jwt_settings.UPDATE_LAST_LOGIN:
            update_last_login(type(user), user)
        logger.info("app log-in of user %s from %s", user.pk, _client(request))
        return Response(_token_pair(user))


def _refresh_token(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)  # type: ignore[arg-type]
    except TokenError as exc:
        raise InvalidToken(str(exc)) from None


class RefreshApi(_AuthView):
    @extend_schema(
        tags=[TAG],
        summary="Swap a refresh token for a new pair",
        description="The refresh token sent is blacklisted: store the new one. A refresh "
        "token used twice, logged out, or older than a password change is a 401: log in "
        "again.",
        request=RefreshSerializer,
        responses={200: TokenPairSerializer, **_errors(400, 401, 403)},
        examples=[
            _example("Refresh", {"refresh": _TOKENS["refresh"]}, request_only=True),
            _example("New pair", _TOKENS, response_only=True),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        raw = serializer.validated_data["refresh"]
        with transaction.atomic():
            # Lock the token's row first, so that two refreshes with one token run one after
            # the other and the second finds it blacklisted (each would get a pair otherwise).
            jti = _refresh_token(raw).get(jwt_settings.JTI_CLAIM)
            OutstandingToken.objects.select_for_update().filter(jti=jti).first()
            refresh = _refresh_token(raw)  # re-checked under the lock
            user_id = refresh.get(jwt_settings.USER_ID_CLAIM)
            user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
            if user is None or (
                jwt_settings.CHECK_REVOKE_TOKEN
                and refresh.get(jwt_settings.REVOKE_TOKEN_CLAIM)
                != get_md5_hash_password(user.password)
            ):
                raise InvalidToken("The account or its password changed: log in again.")
            if not Wallet.objects.filter(user=user).exists():
                raise exceptions.PermissionDenied(STAFF_REFUSED)
            refresh.blacklist()
            return Response(_token_pair(user))


class LogoutApi(_AuthView):
    @extend_schema(
        tags=[TAG],
        summary="Log out (blacklist the refresh token)",
        description="Needs only the refresh token (the access token may have expired). The "
        "access token stays valid until it expires (5 minutes): drop it. Logging out twice "
        "is fine.",
        request=RefreshSerializer,
        responses={204: None, **_errors(400, 401)},
        examples=[_example("Log-out", {"refresh": _TOKENS["refresh"]}, request_only=True)],
    )
    def post(self, request: Request) -> Response:
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        raw = serializer.validated_data["refresh"]
        try:
            token = RefreshToken(raw)
        except TokenError as exc:
            if _already_blacklisted(raw):  # a retried log-out
                return Response(status=status.HTTP_204_NO_CONTENT)
            raise InvalidToken(str(exc)) from None
        token.blacklist()
        logger.info("app log-out of user %s", token.get(jwt_settings.USER_ID_CLAIM))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _already_blacklisted(raw: str) -> bool:
    """A genuine (signed, unexpired) refresh token that is blacklisted."""
    try:
        token = RefreshToken(raw, verify=False)  # type: ignore[arg-type]
        # Signature and expiry (simplejwt annotates the argument as a Token; it is the str).
        payload = token.token_backend.decode(raw, verify=True)  # type: ignore[arg-type]
    except (TokenError, TokenBackendError):
        return False
    jti = payload.get(jwt_settings.JTI_CLAIM)
    return bool(jti) and BlacklistedToken.objects.filter(token__jti=jti).exists()


# --- Passwords ----------------------------------------------------------------------------------


class PasswordChangeApi(AppApiView):
    @extend_schema(
        tags=[TAG],
        summary="Change the password",
        description="Checks the old password (failures count towards the log-in limits), "
        "applies the password rules to the new one, then logs out every device: all refresh "
        "and access tokens end. The answer is a new pair for this device.",
        request=PasswordChangeSerializer,
        responses={200: TokenPairSerializer, **_errors(400, 401, 403, 429)},
        examples=[
            _example(
                "Change",
                {"old_password": "correct-horse-battery", "new_password": "staple-river-lantern"},
                request_only=True,
            ),
            _example("Changed", _TOKENS, response_only=True),
            _example(
                "Wrong old password",
                {"old_password": ["Wrong password."]},
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = request.user
        username = user.get_username()
        wait = login_retry_after(username, request._request)
        if wait:
            raise exceptions.Throttled(wait, detail="Too many wrong passwords: try again later.")
        checked = authenticate(
            request._request,
            username=username,
            password=serializer.validated_data["old_password"],
        )
        if checked is None or checked.pk != user.pk:
            logger.warning("wrong old password of user %s from %s", user.pk, _client(request))
            raise exceptions.ValidationError({"old_password": ["Wrong password."]})
        with transaction.atomic():
            accounts.driver_password_change(
                user=user, new_password=serializer.validated_data["new_password"]
            )
        return Response(_token_pair(user))


class PasswordResetApi(_AuthView):
    throttle_classes = [AppAuthThrottle]
    throttle_scope = "app_password_reset"

    @extend_schema(
        tags=[TAG],
        summary="Ask for a password-reset e-mail",
        description="Always 202, whether the address has an account or not. If it is a "
        "driver's, an e-mail with a link (uid and token) follows; the link expires in 3 days "
        "and once used. 5 requests an hour per client address.",
        request=PasswordResetSerializer,
        responses={202: DetailSerializer, **_errors(400, 429)},
        examples=[
            _example("Reset", {"email": "dana@example.com"}, request_only=True),
            _example("Accepted", {"detail": RESET_ACCEPTED}, response_only=True),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordResetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data["email"]
        logger.info(
            "password reset asked for %s from %s", accounts.email_normalize(email), _client(request)
        )
        with transaction.atomic():
            accounts.password_reset_request(email=email)
        return Response({"detail": RESET_ACCEPTED}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmApi(_AuthView):
    throttle_classes = [AppAuthThrottle]
    throttle_scope = "app_password_reset"

    @extend_schema(
        tags=[TAG],
        summary="Set a new password with the e-mailed link",
        description="`uid` and `token` come from the link. Logs out every device; log in "
        "with the new password. An invalid, used or expired link is a 400 on `token`.",
        request=PasswordResetConfirmSerializer,
        responses={200: DetailSerializer, **_errors(400, 429)},
        examples=[
            _example(
                "Confirm",
                {
                    "uid": "MTI",
                    "token": "cn8w2k-5d1e6f0a9b3c4d2e1f0a9b8c7d6e5f4a",
                    "new_password": "staple-river-lantern",
                },
                request_only=True,
            ),
            _example(
                "Changed", {"detail": "Password changed: log in with it."}, response_only=True
            ),
            _example(
                "Bad link",
                {"token": [accounts.RESET_LINK_INVALID]},
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = PasswordResetConfirmSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            with transaction.atomic():
                user = accounts.password_reset_confirm(
                    uid=data["uid"], token=data["token"], new_password=data["new_password"]
                )
        except DjangoValidationError as exc:
            if "token" in getattr(exc, "error_dict", {}):
                logger.warning("bad password-reset link used from %s", _client(request))
            raise
        # The failed log-ins counted against this account must not keep its owner out now.
        throttling.clear(login_limits(user.get_username(), "")[:1])
        return Response({"detail": "Password changed: log in with it."})


# --- Profile ------------------------------------------------------------------------------------


class MeApi(AppApiView):
    @extend_schema(
        tags=[TAG],
        summary="The driver's profile and balances",
        responses={200: ProfileSerializer, **_errors(401, 403)},
        examples=[_example("Profile", _PROFILE, response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return Response(_profile(request.user, request_wallet(request)))

    @extend_schema(
        tags=[TAG],
        summary="Change the driver's name",
        description="Only first_name and last_name change here. The e-mail address is the "
        "log-in name: it cannot be changed from the app (that needs the new address "
        "confirmed); sending it is a 400.",
        request=ProfileUpdateSerializer,
        responses={200: ProfileSerializer, **_errors(400, 401, 403)},
        examples=[
            _example(
                "Rename", {"first_name": "Dana", "last_name": "Driver-Smith"}, request_only=True
            ),
            _example("Profile", _PROFILE, response_only=True),
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
        return Response(_profile(user, request_wallet(request)))


# --- RFID cards ---------------------------------------------------------------------------------


class CardListApi(AppApiView):
    @extend_schema(
        tags=[TAG],
        summary="The driver's RFID cards",
        description="Sessions started with any of them are the driver's. The app's virtual "
        "tag is not listed (it is `virtual_id_tag` of `me/`).",
        responses={200: CardSerializer(many=True), **_errors(401, 403)},
        examples=[_example("Cards", [_CARD], response_only=True)],
    )
    def get(self, request: Request) -> Response:
        return Response(CardSerializer(driver_cards(user=request.user), many=True).data)

    @extend_schema(
        tags=[TAG],
        summary="Link an RFID card",
        description="A card the system does not know is registered to the driver (201). An "
        "existing card without an owner is linked if it is active (201). A card already the "
        "driver's is returned as it is (200). Another account's card, a blocked or expired "
        "one, or an app's virtual tag is a 409. At most 10 cards per account.",
        request=CardLinkSerializer,
        responses={
            201: CardSerializer,
            200: CardSerializer,
            **_errors(400, 401, 403, 409),
        },
        examples=[
            _example("Link", {"id_tag": "04A2B3C4D5E6F7"}, request_only=True),
            _example("Linked", _CARD, response_only=True, status_codes=["201", "200"]),
            _example(
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
        responses={204: None, **_errors(400, 401, 403, 404, 409)},
        examples=[
            _example(
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
        responses={200: WalletSerializer, **_errors(401, 403)},
        examples=[
            _example(
                "Wallet",
                {
                    **_BALANCES,
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
