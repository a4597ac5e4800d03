"""Password log-ins (the admin's, which also gives the API its session) are throttled per
user name and per client address (csms.throttling): past LOGIN_FAILURES_PER_USER or
LOGIN_FAILURES_PER_ADDRESS failures in LOGIN_THROTTLE_WINDOW seconds, every log-in for that
user or from that address is refused, right password or not, until the window ends.

Enforced in the authentication backend, so every path that calls ``authenticate()`` with a
password (the admin, a DRF login view or BasicAuthentication if one is ever enabled) is
covered; the admin's login form checks first only to say why (csms.admin.login). API tokens
are 40 random hex characters: guessing one is not a risk a throttle changes.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from csms import throttling

logger = logging.getLogger(__name__)


def client_address(request: HttpRequest | None) -> str:
    """REMOTE_ADDR: the TCP peer, or the client behind a trusted proxy (csms.proxy)."""
    return str(request.META.get("REMOTE_ADDR") or "") if request is not None else ""


def login_limits(username: str | None, address: str) -> list[throttling.Check]:
    window = settings.LOGIN_THROTTLE_WINDOW
    return [
        # Lower-cased: a guesser must not get a fresh allowance per spelling of one name.
        (
            throttling.Limit("login-user", settings.LOGIN_FAILURES_PER_USER, window),
            (username or "").strip().lower(),
        ),
        (throttling.Limit("login-address", settings.LOGIN_FAILURES_PER_ADDRESS, window), address),
    ]


def login_retry_after(username: str | None, request: HttpRequest | None) -> int:
    """Seconds until this user name may log in from this client again; 0 if it may now."""
    return throttling.retry_after(login_limits(username, client_address(request)))


class ThrottledModelBackend(ModelBackend):
    """Django's ModelBackend, refusing throttled log-ins and counting failed ones."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        address = client_address(request)
        checks = login_limits(username, address)
        wait = throttling.retry_after(checks)
        if wait:
            logger.warning(
                "log-in for %r from %s refused: throttled for %d s", username, address or "?", wait
            )
            # PermissionDenied, not None: authenticate() must not try another backend.
            raise PermissionDenied("too many failed log-ins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            throttling.failure_record(checks)
            logger.warning("failed log-in for %r from %s", username, address or "?")
        return user
