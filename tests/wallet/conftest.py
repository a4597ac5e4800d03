"""Personas of the driver app: a driver with a wallet, another driver, and the staff and
anonymous personas of tests/conftest.py."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.wallet.factories import app_client, make_driver


@pytest.fixture(autouse=True)
def _sandbox_allowed(settings: Any) -> None:
    """pytest-django runs every test with DEBUG off (whatever the environment says), which
    switches the sandbox off (wallet.payments.sandbox): these tests are a trial, so it is
    allowed. The tests of that switch set PAYMENT_SANDBOX_ALLOWED back to False."""
    settings.PAYMENT_SANDBOX_ALLOWED = True


@pytest.fixture
def app_driver(db: Any) -> Any:
    return make_driver(email="dana@example.com", first_name="Dana", last_name="Driver")


@pytest.fixture
def other_driver(db: Any) -> Any:
    return make_driver(email="otto@example.com", first_name="Otto", last_name="Other")


@pytest.fixture
def driver_app(app_driver: Any) -> APIClient:
    return app_client(app_driver)


@pytest.fixture
def other_driver_app(other_driver: Any) -> APIClient:
    return app_client(other_driver)


@pytest.fixture
def operator_app(operator: Any) -> APIClient:
    """An operator with a JWT (the app API still refuses them: they have no wallet)."""
    return app_client(operator)


@pytest.fixture
def anonymous_app() -> APIClient:
    return APIClient()
