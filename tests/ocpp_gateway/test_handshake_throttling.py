"""Failed handshakes are throttled per source address and per identity (csms.throttling):
past the limit every handshake is refused without checking anything, and a flood of refusals
costs one aggregated ConnectionAttempt row, not one row per attempt."""

from __future__ import annotations

import base64

import pytest
from channels.testing import WebsocketCommunicator
from django.core.cache.backends.locmem import LocMemCache

from csms import throttling
from csms.models import ConnectionAttempt
from tests.factories import make_charge_point
from tests.ocpp_gateway.support import db

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "s3cret-station-key-0001"
ATTACKER = "203.0.113.66"
STATION_SITE = "198.51.100.20"


def basic(user: str, password: str) -> list[tuple[bytes, bytes]]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [(b"authorization", f"Basic {token}".encode())]


async def handshake(identity: str, address: str, password: str | None = None) -> bool:
    from csms.asgi import application

    headers = basic(identity, password) if password is not None else []
    communicator = WebsocketCommunicator(
        application, f"/ocpp/{identity}", subprotocols=["ocpp1.6"], headers=headers
    )
    communicator.scope["client"] = (address, 40000)
    try:
        connected, _ = await communicator.connect(timeout=5)
        return connected
    finally:
        await communicator.disconnect()


async def rows() -> list[tuple[str, str, str, int]]:
    return [
        (a.identity, a.reason, a.remote_address, a.count)
        async for a in ConnectionAttempt.objects.order_by("id")
    ]


@pytest.fixture
def limits(settings):
    settings.OCPP_AUTH_FAILURES_PER_ADDRESS = 3
    settings.OCPP_AUTH_FAILURES_PER_IDENTITY = 5
    settings.OCPP_AUTH_THROTTLE_WINDOW = 60
    settings.OCPP_CONNECTION_ATTEMPT_AGGREGATE_SECONDS = 60
    return settings


async def test_it_refuses_every_handshake_from_an_address_past_its_failure_limit(limits):
    await db(make_charge_point)(identity="CP-SEC", password=PASSWORD)
    for _ in range(3):
        assert not await handshake("CP-SEC", ATTACKER, "guess-" + "x" * 16)

    # Even the right password: a throttled client must not learn which guess was right.
    assert not await handshake("CP-SEC", ATTACKER, PASSWORD)
    assert await handshake("CP-SEC", STATION_SITE, PASSWORD)


async def test_it_refuses_an_identity_past_its_failure_limit_from_any_address(limits):
    await db(make_charge_point)(identity="CP-SEC", password=PASSWORD)
    await db(make_charge_point)(identity="CP-OTHER", password=PASSWORD)
    for n in range(5):  # a distributed guesser: a new address each time
        assert not await handshake("CP-SEC", f"203.0.113.{n}", "guess-" + "x" * 16)

    assert not await handshake("CP-SEC", STATION_SITE, PASSWORD)
    assert await handshake("CP-OTHER", STATION_SITE, PASSWORD)


async def test_a_flood_of_refusals_writes_one_aggregated_row(limits, monkeypatch):
    limits.OCPP_AUTH_THROTTLE_WINDOW = 600
    limits.OCPP_CONNECTION_ATTEMPT_AGGREGATE_SECONDS = 60
    monkeypatch.setattr(throttling, "_clock", lambda: 999_600.0)  # a window's first second
    await db(make_charge_point)(identity="CP-SEC", password=PASSWORD)

    for _ in range(25):
        assert not await handshake("CP-SEC", ATTACKER, "guess-" + "x" * 16)

    # Three refusals counted in one row; the 22 throttled ones cost one write, made for the
    # first of them, the rest waiting in the cache for the next period.
    assert await rows() == [
        ("CP-SEC", ConnectionAttempt.Reason.BAD_CREDENTIALS, ATTACKER, 3),
        ("CP-SEC", ConnectionAttempt.Reason.THROTTLED, ATTACKER, 1),
    ]

    monkeypatch.setattr(throttling, "_clock", lambda: 999_660.0)  # same window, next period
    assert not await handshake("CP-SEC", ATTACKER, PASSWORD)

    assert (await rows())[1] == ("CP-SEC", ConnectionAttempt.Reason.THROTTLED, ATTACKER, 23)


async def test_repeated_refusals_of_a_station_share_one_row(limits):
    # A station retrying with a stale password every few seconds is one row, counted.
    await db(make_charge_point)(identity="CP-SEC", password=PASSWORD)

    for _ in range(2):
        assert not await handshake("CP-SEC", STATION_SITE, "stale-" + "x" * 16)

    assert await rows() == [("CP-SEC", ConnectionAttempt.Reason.BAD_CREDENTIALS, STATION_SITE, 2)]


async def test_the_throttle_window_ends(limits, monkeypatch):
    monkeypatch.setattr(throttling, "_clock", lambda: 999_960.0)
    await db(make_charge_point)(identity="CP-SEC", password=PASSWORD)
    for _ in range(3):
        await handshake("CP-SEC", ATTACKER, "guess-" + "x" * 16)
    assert not await handshake("CP-SEC", ATTACKER, PASSWORD)

    monkeypatch.setattr(throttling, "_clock", lambda: 1_000_020.0)

    assert await handshake("CP-SEC", ATTACKER, PASSWORD)


async def test_malformed_and_unknown_identities_count_against_the_address(limits):
    await db(make_charge_point)(identity="CP-SEC", password=PASSWORD)
    assert not await handshake("bad%20id", ATTACKER)
    assert not await handshake("NEW-1", ATTACKER)
    assert not await handshake("NEW-2", ATTACKER)

    assert not await handshake("CP-SEC", ATTACKER, PASSWORD)


async def test_with_the_cache_unreachable_it_does_not_throttle(limits, monkeypatch):
    # The cache is a guard, not a dependency: with Redis down stations still connect.
    def unreachable(*args, **kwargs):
        raise ConnectionError("redis is down")

    for method in ("get_many", "add", "incr"):
        monkeypatch.setattr(LocMemCache, method, unreachable)
    await db(make_charge_point)(identity="CP-SEC", password=PASSWORD)
    for _ in range(4):
        assert not await handshake("CP-SEC", ATTACKER, "guess-" + "x" * 16)

    assert await handshake("CP-SEC", ATTACKER, PASSWORD)


async def test_a_zero_limit_disables_throttling(limits):
    limits.OCPP_AUTH_FAILURES_PER_ADDRESS = 0
    limits.OCPP_AUTH_FAILURES_PER_IDENTITY = 0
    await db(make_charge_point)(identity="CP-SEC", password=PASSWORD)
    for _ in range(12):
        assert not await handshake("CP-SEC", ATTACKER, "guess-" + "x" * 16)

    assert await handshake("CP-SEC", ATTACKER, PASSWORD)


async def test_connected_stations_share_one_cache_client(limits, monkeypatch):
    # django.core.cache.cache is context-local (asgiref Local): under Channels every
    # connection's context would build its own client (with Redis, a connection pool and a
    # socket per station, kept for the life of the connection: ~12 KiB each at 10,000).
    made = []
    original = LocMemCache.__init__

    def counting(self, *args, **kwargs):
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(LocMemCache, "__init__", counting)
    for n in range(5):
        await db(make_charge_point)(identity=f"CP-{n}", password=PASSWORD)
        assert await handshake(f"CP-{n}", STATION_SITE, PASSWORD)

    assert len(made) <= 1
