"""App API: the driver's credentials. Sign-up, log-in (JWT pairs), token refresh and log-out,
password change and reset, and the request rates per client address (AppAuthThrottle).

Decisions where the issue was silent:
- Sign-up with a taken address says so (400 on ``email``). Sign-up cannot hide it without a
  confirm-by-e-mail flow (the second sign-up must fail somehow), the message is what drivers
  need, and sign-ups are rate-limited per address, so probing costs 10 addresses an hour.
  Password reset, which can hide it, always answers 202.
- Staff (no wallet) with the right password get a 403 naming the operations API; a wrong
  password is a 401 whatever the account.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import update_last_login
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema
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
from csms.authentication import client_address, login_limits, login_retry_after
from wallet.api.accounts.profile import PROFILE_EXAMPLE, ProfileSerializer, profile_data
from wallet.api.accounts.schema import STAFF_REFUSED, TAG, DetailSerializer, errors, example
from wallet.api.common import AppApiView
from wallet.models import Wallet
from wallet.services import accounts

logger = logging.getLogger("wallet.auth")

WRONG_CREDENTIALS = "Wrong e-mail address or password."
RESET_ACCEPTED = "If this address has an account, we sent it a link to reset the password."


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


_TOKENS = {"access": "eyJhbGciOiJIUzI1NiIs...", "refresh": "eyJhbGciOiJIUzI1NiIs..."}


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
        responses={201: SignUpOutputSerializer, **errors(400, 429)},
        examples=[
            example(
                "Sign-up",
                {
                    "email": "dana@example.com",
                    "password": "correct-horse-battery",
                    "first_name": "Dana",
                    "last_name": "Driver",
                },
                request_only=True,
            ),
            example("Signed up", {**_TOKENS, "profile": PROFILE_EXAMPLE}, response_only=True),
            example(
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
        wallet = Wallet.objects.get(user=user)
        return Response(
            {**_token_pair(user), "profile": profile_data(user, wallet)},
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
        responses={200: TokenPairSerializer, **errors(400, 401, 403, 429)},
        examples=[
            example(
                "Log-in",
                {"email": "dana@example.com", "password": "correct-horse-battery"},
                request_only=True,
            ),
            example("Logged in", _TOKENS, response_only=True),
            example(
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
        responses={200: TokenPairSerializer, **errors(400, 401, 403)},
        examples=[
            example("Refresh", {"refresh": _TOKENS["refresh"]}, request_only=True),
            example("New pair", _TOKENS, response_only=True),
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
        responses={204: None, **errors(400, 401)},
        examples=[example("Log-out", {"refresh": _TOKENS["refresh"]}, request_only=True)],
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
        responses={200: TokenPairSerializer, **errors(400, 401, 403, 429)},
        examples=[
            example(
                "Change",
                {"old_password": "correct-horse-battery", "new_password": "staple-river-lantern"},
                request_only=True,
            ),
            example("Changed", _TOKENS, response_only=True),
            example(
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
        responses={202: DetailSerializer, **errors(400, 429)},
        examples=[
            example("Reset", {"email": "dana@example.com"}, request_only=True),
            example("Accepted", {"detail": RESET_ACCEPTED}, response_only=True),
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
        responses={200: DetailSerializer, **errors(400, 429)},
        examples=[
            example(
                "Confirm",
                {
                    "uid": "MTI",
                    "token": "cn8w2k-5d1e6f0a9b3c4d2e1f0a9b8c7d6e5f4a",
                    "new_password": "staple-river-lantern",
                },
                request_only=True,
            ),
            example("Changed", {"detail": "Password changed: log in with it."}, response_only=True),
            example(
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
