"""Password log-ins are throttled per user name and per client address (csms.authentication):
past the limit the admin says so and refuses even the right password until the window ends."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.test import Client, RequestFactory

from csms import throttling
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-123"  # tests.factories.make_user's
OFFICE = "198.51.100.30"
ATTACKER = "203.0.113.66"


@pytest.fixture
def limits(settings):
    settings.LOGIN_FAILURES_PER_USER = 5
    settings.LOGIN_FAILURES_PER_ADDRESS = 8
    settings.LOGIN_THROTTLE_WINDOW = 900
    return settings


def log_in(username: str, password: str, address: str) -> tuple[Client, str]:
    client = Client(REMOTE_ADDR=address)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}
    )
    return client, response.content.decode() if response.status_code == 200 else ""


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_a_user_past_the_failure_limit_is_refused_even_with_the_right_password(limits):
    make_user(username="olivia", role="operator")
    for _ in range(5):
        client, _ = log_in("olivia", "wrong-guess", ATTACKER)
        assert not logged_in(client)

    client, page = log_in("olivia", PASSWORD, OFFICE)

    assert not logged_in(client)
    assert "Too many failed log-ins" in page


def test_an_address_past_the_failure_limit_is_refused_for_every_user(limits):
    make_user(username="olivia", role="operator")
    for n in range(8):  # a sprayer: one guess per user name
        log_in(f"user{n}", "wrong-guess", ATTACKER)

    refused, page = log_in("olivia", PASSWORD, ATTACKER)
    allowed, _ = log_in("olivia", PASSWORD, OFFICE)

    assert not logged_in(refused)
    assert "Too many failed log-ins" in page
    assert logged_in(allowed)


def test_failures_below_the_limit_do_not_stop_the_right_password(limits):
    make_user(username="olivia", role="operator")
    for _ in range(4):
        log_in("olivia", "typo", OFFICE)

    client, _ = log_in("olivia", PASSWORD, OFFICE)

    assert logged_in(client)


def test_the_user_name_limit_ignores_case(limits):
    make_user(username="olivia", role="operator")
    for spelling in ("olivia", "Olivia", "OLIVIA", "oLivia", "olIvia"):
        log_in(spelling, "wrong-guess", ATTACKER)

    client, _ = log_in("olivia", PASSWORD, OFFICE)

    assert not logged_in(client)


def test_the_lockout_ends_with_its_window(limits, monkeypatch):
    monkeypatch.setattr(throttling, "_clock", lambda: 9_000_000.0)
    make_user(username="olivia", role="operator")
    for _ in range(5):
        log_in("olivia", "wrong-guess", ATTACKER)
    assert not logged_in(log_in("olivia", PASSWORD, OFFICE)[0])

    monkeypatch.setattr(throttling, "_clock", lambda: 9_000_000.0 + 900)

    assert logged_in(log_in("olivia", PASSWORD, OFFICE)[0])


def test_every_password_log_in_path_is_throttled_not_only_the_admin_form(limits):
    # authenticate() is what any password log-in (a DRF login view, BasicAuthentication)
    # would call: the backend enforces the limit itself.
    user = make_user(username="olivia", role="operator")
    request = RequestFactory().post("/", REMOTE_ADDR=ATTACKER)
    for _ in range(5):
        assert authenticate(request, username="olivia", password="wrong-guess") is None

    assert authenticate(request, username="olivia", password=PASSWORD) is None
    other = RequestFactory().post("/", REMOTE_ADDR=OFFICE)
    assert authenticate(other, username="olivia", password=PASSWORD) is None
    limits.LOGIN_FAILURES_PER_USER = 0  # 0 disables the limit
    assert authenticate(other, username="olivia", password=PASSWORD) == user


def test_the_defaults_are_five_per_user_and_twenty_per_address_in_fifteen_minutes():
    from csms import settings as project_settings

    assert project_settings.LOGIN_FAILURES_PER_USER == 5
    assert project_settings.LOGIN_FAILURES_PER_ADDRESS == 20
    assert project_settings.LOGIN_THROTTLE_WINDOW == 900
