from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from tests.factories import make_token, make_user

FIXTURES = Path(__file__).parent / "fixtures"
_cache_ids = itertools.count()


def load_frame(name: str) -> Any:
    """A real OCPP frame from tests/fixtures/ocpp/<name>.json."""
    return json.loads((FIXTURES / "ocpp" / f"{name}.json").read_text())


@pytest.fixture(autouse=True)
def _fast_settings(settings: Any) -> None:
    settings.OCPP_ALLOW_UNKNOWN_CHARGE_POINTS = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # A cache of its own per test: throttling counters (csms.throttling) from one test must not
    # refuse the next one's handshakes or log-ins, and the Redis cache of a run with REDIS_URL
    # is never touched.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-{next(_cache_ids)}",
        }
    }


# --- Personas ---------------------------------------------------------------------------------


def _client_for(user: Any | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(user)}")
    return client


@pytest.fixture
def operator(db: Any) -> Any:
    return make_user(username="olivia-operator", role="operator")


@pytest.fixture
def support(db: Any) -> Any:
    return make_user(username="sam-support", role="support")


@pytest.fixture
def driver(db: Any) -> Any:
    return make_user(username="dana-driver")


@pytest.fixture
def operator_api(operator: Any) -> APIClient:
    return _client_for(operator)


@pytest.fixture
def support_api(support: Any) -> APIClient:
    return _client_for(support)


@pytest.fixture
def driver_api(driver: Any) -> APIClient:
    return _client_for(driver)


@pytest.fixture
def anonymous_api() -> APIClient:
    return APIClient()


# --- WebSocket ------------------------------------------------------------------------------


class Station:
    """A charge point driven through Channels' WebsocketCommunicator."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self._ids = 0

    async def call(self, action: str, payload: Any, message_id: str | None = None) -> list[Any]:
        """Send a CALL and return the decoded answer frame."""
        self._ids += 1
        await self.communicator.send_to(
            text_data=json.dumps([2, message_id or f"m{self._ids}", action, payload])
        )
        return await self.receive()

    async def send_text(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def receive(self, timeout: float = 5) -> list[Any]:  # noqa: ASYNC109
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def receive_nothing(self, timeout: float = 0.3) -> bool:  # noqa: ASYNC109
        return await self.communicator.receive_nothing(timeout=timeout)


def communicator_for(
    identity: str,
    *,
    subprotocols: list[str] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> WebsocketCommunicator:
    from csms.asgi import application

    return WebsocketCommunicator(
        application,
        f"/ocpp/{identity}",
        subprotocols=["ocpp1.6"] if subprotocols is None else subprotocols,
        headers=headers or [],
    )


@pytest.fixture
async def connect_station() -> AsyncIterator[Any]:
    """``station = await connect_station("CP1")``: connected (asserts the handshake succeeded),
    disconnected and drained at teardown."""
    opened: list[WebsocketCommunicator] = []

    async def _connect(identity: str, **kwargs: Any) -> Station:
        communicator = communicator_for(identity, **kwargs)
        connected, _ = await communicator.connect(timeout=5)
        assert connected, f"handshake for {identity} was refused"
        opened.append(communicator)
        return Station(communicator)

    yield _connect
    from ocpp_gateway.committer import get_committer

    for communicator in opened:
        await communicator.disconnect()
    await get_committer().drain()


@pytest.fixture(scope="session", autouse=True)
def _close_db_thread_connections(django_db_setup: Any) -> Any:
    """Async tests reach the database from asgiref's single sync thread; close that thread's
    connections before the test database is dropped (PostgreSQL refuses while one is open)."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture(autouse=True)
def _forget_verified_transactions() -> None:
    """Test databases reuse ids; production ids never repeat, so the cache never needs this."""
    from csms.services import transactions

    transactions._owned_transactions.clear()
