"""``manage.py ensure_admin``: the first operator account, and the way back in when its
password is lost."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.test import Client

from csms.permissions import is_operator

pytestmark = pytest.mark.django_db


def ensure_admin(*args: str) -> str:
    out = StringIO()
    call_command("ensure_admin", *args, stdout=out)
    return out.getvalue()


def printed_password(output: str) -> str:
    match = re.search(r"with password: (\S+)", output)
    assert match, output
    return match[1]


def test_it_creates_the_operator_once_and_prints_its_password_once(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)

    first = ensure_admin()
    again = ensure_admin()

    password = printed_password(first)
    assert is_operator(authenticate(username="admin", password=password))
    assert "reset-password" in first  # where to go when it is lost
    assert again.strip() == "Operator account 'admin' exists."


def test_it_resets_a_lost_password_and_prints_the_new_one_once(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    old = printed_password(ensure_admin())

    new = printed_password(ensure_admin("--reset-password"))

    assert new != old
    assert authenticate(username="admin", password=old) is None
    assert is_operator(authenticate(username="admin", password=new))


def test_a_reset_makes_a_disabled_admin_an_active_operator_again(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "first-Password-42")
    ensure_admin()
    admin = get_user_model().objects.get(username="admin")
    admin.is_active = False
    admin.save()
    admin.groups.clear()
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "second-Password-42")

    output = ensure_admin("--reset-password")

    assert "second-Password-42" not in output  # a password the operator chose is not echoed
    assert is_operator(authenticate(username="admin", password="second-Password-42"))


def test_a_reset_lets_the_admin_log_in_at_once_after_a_throttled_run_of_failures(
    monkeypatch, settings
):
    # Whoever lost the password has usually tried a few first: past LOGIN_FAILURES_PER_USER
    # the user name is throttled (csms.authentication), and the new password must still work.
    settings.LOGIN_FAILURES_PER_USER = 5
    settings.LOGIN_THROTTLE_WINDOW = 900
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    ensure_admin()
    client = Client(REMOTE_ADDR="198.51.100.30")
    for _ in range(5):
        client.post("/admin/login/", {"username": "admin", "password": "a-wrong-guess"})

    new = printed_password(ensure_admin("--reset-password"))

    page = client.post("/admin/login/?next=/admin/", {"username": "admin", "password": new})
    assert "Too many failed log-ins" not in page.content.decode()
    assert "_auth_user_id" in client.session
