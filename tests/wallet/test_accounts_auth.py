"""The app's accounts: sign-up, log-in, tokens (refresh, log-out), passwords (change, reset)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection, connections
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from tests.wallet.factories import make_driver
from wallet.models import LedgerAccount, Wallet

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-123"  # tests.factories.make_user's
STRONG = "lantern-river-staple-42"
SIGNUP = "/api/v1/app/auth/signup/"
LOGIN = "/api/v1/app/auth/login/"
REFRESH = "/api/v1/app/auth/refresh/"
LOGOUT = "/api/v1/app/auth/logout/"
CHANGE = "/api/v1/app/auth/password/change/"
RESET = "/api/v1/app/auth/password/reset/"
CONFIRM = "/api/v1/app/auth/password/reset/confirm/"
ME = "/api/v1/app/me/"


def login(email: str, password: str = PASSWORD, client: APIClient | None = None) -> Any:
    return (client or APIClient()).post(
        LOGIN, {"email": email, "password": password}, format="json"
    )


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


# --- Sign-up ------------------------------------------------------------------------------------


def test_it_signs_up_a_driver_with_a_wallet_and_logs_them_in():
    response = APIClient().post(
        SIGNUP,
        {"email": "  New.Driver@Example.COM ", "password": STRONG, "first_name": "Nia"},
        format="json",
    )
    assert response.status_code == 201, response.data
    user = get_user_model().objects.get(username="new.driver@example.com")
    assert user.email == "new.driver@example.com"
    assert user.first_name == "Nia"
    assert user.check_password(STRONG)
    wallet = Wallet.objects.get(user=user)
    assert set(wallet.accounts.values_list("kind", flat=True)) == {
        LedgerAccount.Kind.WALLET,
        LedgerAccount.Kind.HELD,
        LedgerAccount.Kind.RECEIVABLE,
    }
    assert wallet.virtual_id_tag.user == user
    profile = response.data["profile"]
    assert profile["email"] == "new.driver@example.com"
    assert "virtual_id_tag" not in profile  # never shown: it could be copied onto a card
    assert profile["wallet"] == {
        "currency": wallet.currency,
        "available": "0.00",
        "held": "0.00",
        "owed": "0.00",
    }
    # The pair works: the access token opens the app API, the refresh token refreshes.
    assert bearer(response.data["access"]).get(ME).status_code == 200
    refreshed = APIClient().post(REFRESH, {"refresh": response.data["refresh"]}, format="json")
    assert refreshed.status_code == 200


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short1", "too short"),
        ("password123", "too common"),
        ("4817392650481", "entirely numeric"),
        ("nia.newdriver", "too similar"),
    ],
)
def test_it_refuses_a_password_the_validators_refuse(password: str, says: str):
    response = APIClient().post(
        SIGNUP,
        {"email": "nia.newdriver@example.com", "password": password, "first_name": "Nia"},
        format="json",
    )
    assert response.status_code == 400
    assert any(says in message for message in response.data["password"])
    assert not get_user_model().objects.filter(username="nia.newdriver@example.com").exists()


def test_it_refuses_an_address_that_has_an_account_whatever_its_case(app_driver: Any):
    response = APIClient().post(
        SIGNUP, {"email": "DANA@example.com", "password": STRONG}, format="json"
    )
    assert response.status_code == 400
    assert "already exists" in str(response.data["email"])
    assert get_user_model().objects.filter(email__iexact="dana@example.com").count() == 1


def test_it_refuses_an_address_that_is_a_staff_user_name(operator: Any):
    operator.username = "olivia@example.com"
    operator.save()
    response = APIClient().post(
        SIGNUP, {"email": "Olivia@example.com", "password": STRONG}, format="json"
    )
    assert response.status_code == 400
    assert not Wallet.objects.filter(user=operator).exists()


def test_it_refuses_a_sign_up_without_a_valid_address():
    response = APIClient().post(SIGNUP, {"email": "not-an-address", "password": STRONG})
    assert response.status_code == 400
    assert "email" in response.data


def test_it_throttles_sign_ups_per_address(settings: Any):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "app_signup": "2/hour",
        },
    }
    client = APIClient()
    codes = [
        client.post(SIGNUP, {"email": f"d{n}@example.com", "password": STRONG}).status_code
        for n in range(3)
    ]
    assert codes == [201, 201, 429]
    assert not get_user_model().objects.filter(username="d2@example.com").exists()
    # Another client address has its own allowance.
    other = APIClient(REMOTE_ADDR="192.0.2.77")
    assert other.post(SIGNUP, {"email": "d3@example.com", "password": STRONG}).status_code == 201


def test_it_does_not_let_a_forwarded_header_dodge_the_throttle(settings: Any):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "app_signup": "1/hour",
        },
    }
    client = APIClient()
    assert client.post(SIGNUP, {"email": "a@example.com", "password": STRONG}).status_code == 201
    response = client.post(
        SIGNUP,
        {"email": "b@example.com", "password": STRONG},
        HTTP_X_FORWARDED_FOR="198.51.100.9",
    )
    assert response.status_code == 429


# --- Log-in -------------------------------------------------------------------------------------


def test_it_logs_a_driver_in_by_e_mail_in_any_case(app_driver: Any):
    response = login(" Dana@Example.com ")
    assert response.status_code == 200
    assert set(response.data) == {"access", "refresh"}
    me = bearer(response.data["access"]).get(ME)
    assert me.status_code == 200
    assert me.data["email"] == "dana@example.com"
    app_driver.refresh_from_db()
    assert app_driver.last_login is not None


def test_it_refuses_a_wrong_password_with_a_401(app_driver: Any):
    response = login("dana@example.com", "wrong-password")
    assert response.status_code == 401
    assert response.data["detail"] == "Wrong e-mail address or password."
    assert login("nobody@example.com").status_code == 401


def test_it_refuses_staff_in_the_app(operator: Any):
    response = login(operator.username)
    assert response.status_code == 403
    assert "staff" in str(response.data["detail"])


def test_it_refuses_log_ins_after_too_many_failures_for_an_address(app_driver: Any, settings: Any):
    settings.LOGIN_FAILURES_PER_USER = 3
    for _ in range(3):
        assert login("dana@example.com", "wrong-password").status_code == 401
    # Throttled now, right password or not (csms.authentication's limit per user name).
    response = login("dana@example.com")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_it_throttles_log_in_requests_per_client_address(app_driver: Any, settings: Any):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "app_login": "2/min",
        },
    }
    client = APIClient()
    codes = [login("dana@example.com", client=client).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_it_never_logs_a_password(app_driver: Any, caplog: Any, settings: Any):
    settings.LOGIN_FAILURES_PER_USER = 2
    caplog.set_level(logging.DEBUG)
    secret = "S3cret-Guess-xyz"
    for _ in range(3):
        login("dana@example.com", secret)
    APIClient().post(SIGNUP, {"email": "dana@example.com", "password": secret})
    APIClient().post(SIGNUP, {"email": "weak@example.com", "password": "123"})
    assert "failed app log-in for dana@example.com from 127.0.0.1" in caplog.text
    assert secret not in caplog.text
    assert "'123'" not in caplog.text
    assert PASSWORD not in caplog.text


# --- Refresh and log-out --------------------------------------------------------------------------


def test_it_rotates_refresh_tokens_and_a_used_one_is_refused(app_driver: Any):
    pair = login("dana@example.com").data
    first = APIClient().post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert first.status_code == 200
    assert first.data["refresh"] != pair["refresh"]
    again = APIClient().post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert again.status_code == 401
    assert bearer(first.data["access"]).get(ME).status_code == 200


def test_it_refuses_a_forged_refresh_token():
    response = APIClient().post(REFRESH, {"refresh": "not-a-token"}, format="json")
    assert response.status_code == 401


def test_it_refuses_refreshing_a_staff_token(operator: Any):
    response = APIClient().post(
        REFRESH, {"refresh": str(RefreshToken.for_user(operator))}, format="json"
    )
    assert response.status_code == 403


def test_it_logs_out_by_blacklisting_the_refresh_token(app_driver: Any):
    pair = login("dana@example.com").data
    response = APIClient().post(LOGOUT, {"refresh": pair["refresh"]}, format="json")
    assert response.status_code == 204
    assert BlacklistedToken.objects.filter(token__user=app_driver).count() == 1
    refreshed = APIClient().post(REFRESH, {"refresh": pair["refresh"]}, format="json")
    assert refreshed.status_code == 401
    # A retried log-out is fine; a forged token is not.
    assert APIClient().post(LOGOUT, {"refresh": pair["refresh"]}).status_code == 204
    assert APIClient().post(LOGOUT, {"refresh": "forged"}).status_code == 401


def test_it_refuses_logging_out_an_expired_token_without_crashing(app_driver: Any):
    token = RefreshToken.for_user(app_driver)
    token.set_exp(lifetime=-timedelta(seconds=1))
    token.blacklist()
    response = APIClient().post(LOGOUT, {"refresh": str(token)}, format="json")
    assert response.status_code == 401


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks: SQLite runs one writer anyway"
)
@pytest.mark.django_db(transaction=True)
def test_it_rotates_a_refresh_token_once_when_two_refreshes_race(app_driver: Any):
    raw = login("dana@example.com").data["refresh"]
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def refresh() -> None:
        try:
            barrier.wait()
            codes.append(APIClient().post(REFRESH, {"refresh": raw}, format="json").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(codes) == [200, 401]


# --- Password change ------------------------------------------------------------------------------


def test_it_changes_the_password_and_logs_every_other_device_out(app_driver: Any):
    phone = login("dana@example.com").data
    tablet = login("dana@example.com").data
    response = bearer(phone["access"]).post(
        CHANGE, {"old_password": PASSWORD, "new_password": STRONG}, format="json"
    )
    assert response.status_code == 200, response.data
    app_driver.refresh_from_db()
    assert app_driver.check_password(STRONG)
    # Every refresh token issued before is blacklisted: no device gets a new access token
    # (the ones they hold end within ACCESS_TOKEN_LIFETIME, 5 minutes).
    live = OutstandingToken.objects.filter(user=app_driver, blacklistedtoken__isnull=True)
    assert list(live.values_list("token", flat=True)) == [response.data["refresh"]]
    for old in (phone, tablet):
        assert APIClient().post(REFRESH, {"refresh": old["refresh"]}).status_code == 401
    # This device goes on with the new pair.
    assert bearer(response.data["access"]).get(ME).status_code == 200
    assert login("dana@example.com", STRONG).status_code == 200


def test_it_refuses_a_password_change_with_a_wrong_old_password(driver_app: APIClient):
    response = driver_app.post(
        CHANGE, {"old_password": "wrong", "new_password": STRONG}, format="json"
    )
    assert response.status_code == 400
    assert "old_password" in response.data


def test_it_refuses_a_new_password_the_validators_refuse(driver_app: APIClient, app_driver: Any):
    response = driver_app.post(
        CHANGE, {"old_password": PASSWORD, "new_password": "12345678"}, format="json"
    )
    assert response.status_code == 400
    assert "new_password" in response.data
    app_driver.refresh_from_db()
    assert app_driver.check_password(PASSWORD)


def test_it_lets_only_drivers_change_their_password_here(
    operator_app: APIClient, anonymous_app: APIClient
):
    body = {"old_password": PASSWORD, "new_password": STRONG}
    assert operator_app.post(CHANGE, body, format="json").status_code == 403
    assert anonymous_app.post(CHANGE, body, format="json").status_code == 401


# --- Password reset -------------------------------------------------------------------------------


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """The e-mail task runs in place, whether or not this run has a broker (REDIS_URL runs
    are not eager by default)."""
    from csms.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def ask_reset(django_capture_on_commit_callbacks: Any, eager_celery: None) -> Any:
    """POST a reset request and run what it queued on commit (the e-mail task)."""

    def _ask(email: str) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return APIClient().post(RESET, {"email": email}, format="json")

    return _ask


def _link_parts(body: str) -> tuple[str, str]:
    match = re.search(r"uid=([\w-]+)&token=([\w-]+)", body)
    assert match, body
    return match.group(1), match.group(2)


def test_it_e_mails_a_reset_link_and_the_link_sets_a_new_password(app_driver: Any, ask_reset: Any):
    phone = login("dana@example.com").data
    response = ask_reset("DANA@example.com")
    assert response.status_code == 202
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["dana@example.com"]
    assert "Reset" in message.subject
    uid, token = _link_parts(message.body)

    confirmed = APIClient().post(
        CONFIRM, {"uid": uid, "token": token, "new_password": STRONG}, format="json"
    )
    assert confirmed.status_code == 200, confirmed.data
    app_driver.refresh_from_db()
    assert app_driver.check_password(STRONG)
    assert APIClient().post(REFRESH, {"refresh": phone["refresh"]}).status_code == 401
    assert login("dana@example.com", STRONG).status_code == 200
    # The link works once.
    again = APIClient().post(
        CONFIRM, {"uid": uid, "token": token, "new_password": "another-" + STRONG}, format="json"
    )
    assert again.status_code == 400
    assert "token" in again.data


def test_it_answers_a_reset_for_an_unknown_address_the_same_and_sends_nothing(
    operator: Any, ask_reset: Any
):
    for email in ("nobody@example.com", operator.username):
        response = ask_reset(email)
        assert response.status_code == 202
        assert response.data["detail"].startswith("If this address has an account")
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("uid", "token"),
    [("MQ", "bad-token"), ("!!!", "bad-token"), ("", "x"), ("OTk5OTk5", "x-y")],
)
def test_it_refuses_a_bad_reset_link(app_driver: Any, uid: str, token: str):
    response = APIClient().post(
        CONFIRM, {"uid": uid, "token": token, "new_password": STRONG}, format="json"
    )
    assert response.status_code == 400
    app_driver.refresh_from_db()
    assert app_driver.check_password(PASSWORD)


def test_it_applies_the_validators_to_a_reset_password(app_driver: Any, ask_reset: Any):
    ask_reset("dana@example.com")
    uid, token = _link_parts(mail.outbox[0].body)
    response = APIClient().post(
        CONFIRM, {"uid": uid, "token": token, "new_password": "password"}, format="json"
    )
    assert response.status_code == 400
    assert "new_password" in response.data
    # The link still works for a good password.
    response = APIClient().post(
        CONFIRM, {"uid": uid, "token": token, "new_password": STRONG}, format="json"
    )
    assert response.status_code == 200


def test_it_lets_a_reset_account_log_in_although_failures_throttled_it(
    app_driver: Any, settings: Any, ask_reset: Any
):
    settings.LOGIN_FAILURES_PER_USER = 2
    for _ in range(2):
        login("dana@example.com", "wrong-password")
    assert login("dana@example.com").status_code == 429
    ask_reset("dana@example.com")
    uid, token = _link_parts(mail.outbox[0].body)
    APIClient().post(CONFIRM, {"uid": uid, "token": token, "new_password": STRONG})
    assert login("dana@example.com", STRONG).status_code == 200


def test_it_throttles_reset_requests_per_address(settings: Any, ask_reset: Any):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "app_password_reset": "1/hour",
        },
    }
    make_driver(email="r@example.com")
    assert ask_reset("r@example.com").status_code == 202
    assert ask_reset("r@example.com").status_code == 429
    assert len(mail.outbox) == 1
