"""Forwarded headers, trusted only from our own reverse proxies (settings.TRUSTED_PROXIES).

An ASGI middleware in front of HTTP and WebSocket alike. When the TCP peer is a trusted proxy,
the client's address is read from ``X-Forwarded-For`` (right to left, skipping our own proxies,
so a client cannot prepend an address of its choosing) and written to ``scope["client"]``;
``X-Forwarded-Proto`` is kept for Django's SECURE_PROXY_SSL_HEADER. When the peer is anyone
else, every forwarded header is stripped from the scope, so nothing downstream (the OCPP
consumer, Django's is_secure(), a future view) can be fooled by one.

This replaces daphne's ``--proxy-headers``, which believes those headers from any peer.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Headers only a proxy may set. Lower-case: ASGI header names are.
FORWARDED_HEADERS = frozenset(
    {
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-port",
        b"x-forwarded-host",
        b"x-real-ip",
        b"forwarded",
    }
)


def parse_networks(values: Iterable[str], *, setting: str = "TRUSTED_PROXIES") -> list[Network]:
    """``["127.0.0.1", "10.0.0.0/8", "::1"]`` → networks; a bad entry raises
    ImproperlyConfigured naming the setting (a typo must stop start-up, not trust nobody)."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{setting}: {value!r} is not an IP address or CIDR network."
            ) from None
    return networks


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:5555"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_trusted(address: str, networks: Iterable[Network]) -> bool:
    parsed = _address(address)
    return parsed is not None and any(parsed in network for network in networks)


def client_from_forwarded_for(values: list[str], networks: list[Network]) -> str | None:
    """The client a chain of our proxies saw: the right-most X-Forwarded-For entry that is not
    one of them. Entries left of it were written by the client and prove nothing."""
    hops = [hop.strip() for value in values for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return None  # garbage from a proxy we trust: keep the peer rather than guess
        if not any(address in network for network in networks):
            return str(address)
    return str(_address(hops[0])) if hops else None


@functools.lru_cache(maxsize=8)
def _trusted_networks(values: tuple[str, ...]) -> list[Network]:
    return parse_networks(values)


def trusted_networks() -> list[Network]:
    """settings.TRUSTED_PROXIES, parsed once per distinct value (settings checks it at start)."""
    return _trusted_networks(tuple(settings.TRUSTED_PROXIES))


class TrustedProxyMiddleware:
    """Wrap an ASGI app (see csms.asgi)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") in ("http", "websocket"):
            scope = self.rewrite(scope)
        return await self.app(scope, receive, send)

    def rewrite(self, scope: dict[str, Any]) -> dict[str, Any]:
        headers = list(scope.get("headers") or [])
        if not any(name.lower() in FORWARDED_HEADERS for name, _ in headers):
            return scope
        client = scope.get("client")
        peer = str(client[0]) if client else ""
        scope = dict(scope)
        networks = trusted_networks()
        if not is_trusted(peer, networks):
            logger.debug("forwarded headers from untrusted peer %s ignored", peer or "?")
            scope["headers"] = [(n, v) for n, v in headers if n.lower() not in FORWARDED_HEADERS]
            return scope
        forwarded = [v.decode("latin-1") for n, v in headers if n.lower() == b"x-forwarded-for"]
        real = client_from_forwarded_for(forwarded, networks) if forwarded else None
        if real is not None:
            # The client's port is unknown past a proxy; 0 says so rather than inventing one.
            scope["client"] = (real, 0)
        return scope
