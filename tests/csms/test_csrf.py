"""The CSRF failure page says why when secure cookies meet plain HTTP (a fresh docker-compose
deployment tried over http://), instead of a bare 403."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _login(client: Client, **extra) -> object:
    client.get("/admin/login/", **extra)
    # Over plain HTTP a browser drops the Secure csrftoken cookie: the POST comes without it.
    client.cookies.clear()
    return client.post("/admin/login/", {"username": "admin", "password": "x"}, **extra)


def test_it_explains_a_login_over_plain_http_with_secure_cookies(settings):
    settings.CSRF_COOKIE_SECURE = True
    settings.SESSION_COOKIE_SECURE = True

    response = _login(Client(enforce_csrf_checks=True))

    assert response.status_code == 403
    page = response.content.decode()
    assert "SECURE_COOKIES" in page and "plain HTTP" in page
    assert "SECURE_COOKIES=false" in page and "https://" in page


def test_any_other_csrf_failure_gets_djangos_own_page(settings):
    settings.CSRF_COOKIE_SECURE = True

    response = _login(Client(enforce_csrf_checks=True), secure=True)

    assert response.status_code == 403
    assert "CSRF verification failed" in response.content.decode()
    assert "SECURE_COOKIES" not in response.content.decode()
