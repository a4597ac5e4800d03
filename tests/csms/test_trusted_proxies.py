"""Forwarded headers (X-Forwarded-For/-Proto) count only when our own proxy sent them
(settings.TRUSTED_PROXIES, csms.proxy); from anyone else they are dropped."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.core.exceptions import ImproperlyConfigured

from csms.models import ChargePoint
from csms.proxy import TrustedProxyMiddleware, parse_networks
from tests.factories import make_charge_point
from tests.ocpp_gateway.support import db


async def connect_from(peer: tuple[str, int], headers: list[tuple[bytes, bytes]]) -> ChargePoint:
    from csms.asgi import application

    communicator = WebsocketCommunicator(
        application, "/ocpp/CP1", subprotocols=["ocpp1.6"], headers=headers
    )
    communicator.scope["client"] = peer  # what daphne reports: the TCP peer
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    await communicator.disconnect()
    return await ChargePoint.objects.aget(identity="CP1")


@pytest.mark.django_db(transaction=True)
async def test_it_ignores_a_forwarded_for_header_from_a_client_that_is_not_a_proxy():
    await db(make_charge_point)(identity="CP1")

    station = await connect_from(("203.0.113.9", 40000), [(b"x-forwarded-for", b"198.51.100.1")])

    assert station.remote_address == "203.0.113.9:40000"


@pytest.mark.django_db(transaction=True)
async def test_it_takes_the_client_address_from_a_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    await db(make_charge_point)(identity="CP1")

    # The client wrote the first entry itself; the proxy appended the address it saw.
    station = await connect_from(
        ("10.1.2.3", 51000), [(b"x-forwarded-for", b"6.6.6.6, 198.51.100.7")]
    )

    assert station.remote_address == "198.51.100.7"


@pytest.mark.django_db(transaction=True)
async def test_it_skips_every_trusted_hop_of_a_proxy_chain(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "127.0.0.1"]
    await db(make_charge_point)(identity="CP1")

    station = await connect_from(
        ("127.0.0.1", 51000), [(b"x-forwarded-for", b"198.51.100.7, 10.9.9.9")]
    )

    assert station.remote_address == "198.51.100.7"


async def scope_seen(peer: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope)

    middleware = TrustedProxyMiddleware(app)
    await middleware({"type": "http", "client": (peer, 1234), "headers": headers}, None, None)
    return seen


async def test_it_strips_forwarded_proto_from_an_untrusted_client(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]

    seen = await scope_seen(
        "203.0.113.9", [(b"x-forwarded-proto", b"https"), (b"host", b"csms.example.com")]
    )

    # Django's SECURE_PROXY_SSL_HEADER would otherwise call this plain-HTTP request secure.
    assert seen["headers"] == [(b"host", b"csms.example.com")]
    assert seen["client"] == ("203.0.113.9", 1234)


async def test_it_keeps_forwarded_proto_from_a_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]

    seen = await scope_seen(
        "127.0.0.1", [(b"x-forwarded-proto", b"https"), (b"x-forwarded-for", b"198.51.100.7")]
    )

    assert (b"x-forwarded-proto", b"https") in seen["headers"]
    assert seen["client"] == ("198.51.100.7", 0)


def test_it_trusts_only_loopback_by_default():
    from csms import settings as project_settings

    assert project_settings.TRUSTED_PROXIES == ["127.0.0.1", "::1"]


def test_a_malformed_trusted_proxy_stops_start_up():
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        parse_networks(["10.0.0.0/8", "not-an-address"])
