"""Failure throttling in Django's cache: station handshakes (ocpp_gateway.consumers) and
operator log-ins (csms.auth) count their failures here and are refused while over a limit.

A fixed-window counter per (limit, subject): ``limit`` failures per ``window`` seconds, then
every attempt is refused until the window ends, without looking at the credentials (otherwise
a throttled client would still learn when a guess is right). Fixed windows, not a token
bucket: one atomic ``incr`` per failure and one ``get_many`` per check, which Redis and locmem
both do without a read-modify-write race; the price is that a client may get up to twice the
limit across a window boundary, which is still a few guesses a minute instead of hundreds a
second.

The cache is Redis when REDIS_URL is set (shared by every process) and per-process locmem
otherwise (``make run`` is one process). The cache is a guard, not a store: when it cannot be
reached, throttling is off (logged) rather than every station and operator locked out.

Subjects (addresses, identities, user names) are hashed into the key: they come from the
network and may be long or contain anything.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache
from django.core.signals import setting_changed
from django.dispatch import receiver

logger = logging.getLogger(__name__)
_client: BaseCache | None = None


def _cache() -> BaseCache:
    """The process's one client of the default cache. Not ``django.core.cache.cache``: that
    proxy is context-local (asgiref ``Local``), and under Channels every connection runs in a
    context of its own, so each station's handshake built a client of its own (with Redis: a
    connection pool and a socket) kept for the life of the connection, ~12 KiB per idle
    station and a Redis connection each. Clients of both backends are thread-safe."""
    global _client
    if _client is None:
        _client = caches.create_connection(DEFAULT_CACHE_ALIAS)
    return _client


@receiver(setting_changed)
def _caches_changed(*, setting: str, **kwargs: object) -> None:
    global _client
    if setting == "CACHES":
        _client = None


_PREFIX = "csms:throttle"
# Every key carries its time window in its name, so the logic never depends on cache expiry
# (expiry only frees memory) and tests can move this clock.
_clock = time.time


@dataclass(frozen=True)
class Limit:
    """At most ``failures`` failures per ``window`` seconds for one subject; 0 disables."""

    name: str
    failures: int
    window: int

    def key(self, subject: str, now: float) -> str:
        return f"{_PREFIX}:{self.name}:{_digest(subject)}:{int(now // self.window)}"

    def seconds_left(self, now: float) -> int:
        return max(1, int(self.window - now % self.window))


Check = tuple[Limit, str]


def _digest(subject: str) -> str:
    return hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _active(checks: Iterable[Check], now: float) -> dict[str, Limit]:
    return {
        limit.key(subject, now): limit
        for limit, subject in checks
        if limit.failures > 0 and limit.window > 0 and subject
    }


def retry_after(checks: Iterable[Check], *, now: float | None = None) -> int:
    """Seconds until every subject may try again; 0 when none is throttled (or the cache is
    unreachable). One cache round trip."""
    now = _clock() if now is None else now
    keys = _active(checks, now)
    if not keys:
        return 0
    try:
        counts = _cache().get_many(list(keys))
    except Exception:
        logger.warning("throttle cache unreachable; not throttling", exc_info=True)
        return 0
    waits = [
        limit.seconds_left(now)
        for key, limit in keys.items()
        if int(counts.get(key) or 0) >= limit.failures
    ]
    return max(waits, default=0)


def failure_record(checks: Iterable[Check], *, now: float | None = None) -> None:
    """Count one failure against each subject."""
    now = _clock() if now is None else now
    for key, limit in _active(checks, now).items():
        try:
            # add() is a no-op when the key exists; incr() is atomic in Redis and locmem.
            _cache().add(key, 0, timeout=limit.window + 1)
            try:
                _cache().incr(key)
            except ValueError:  # expired between add() and incr()
                _cache().set(key, 1, timeout=limit.window + 1)
        except Exception:
            logger.warning("throttle cache unreachable; failure not counted", exc_info=True)
            return


def clear(checks: Iterable[Check], *, now: float | None = None) -> None:
    """Forget the failures counted against each subject in the current window (an operator
    gave the account a new password: the throttle must not keep it out)."""
    now = _clock() if now is None else now
    keys = list(_active(checks, now))
    if not keys:
        return
    try:
        _cache().delete_many(keys)
    except Exception:
        logger.warning("throttle cache unreachable; failures not cleared", exc_info=True)


def tally(subject: str, *, every: int, now: float | None = None) -> int:
    """Count one event for ``subject``; return how many to write down now: those counted so far
    for the first event of each ``every``-second period, else 0. So a flood costs one database
    write per subject and period, and what is left in the cache when the flood stops is at
    most one period's worth.

    With the cache unreachable every event is written (returns 1): throttling is off then too,
    and losing the record of an attack is worse than the writes."""
    now = _clock() if now is None else now
    digest = _digest(subject)
    count_key = f"{_PREFIX}:tally:{digest}"
    try:
        _cache().add(count_key, 0, timeout=24 * 3600)
        count = _cache().incr(count_key)
        if every > 0:
            period = f"{_PREFIX}:tally-written:{digest}:{int(now // every)}"
            if not _cache().add(period, 1, timeout=every + 1):
                return 0
        # decr, not delete: events counted by other processes meanwhile stay for next time.
        _cache().decr(count_key, count)
        return int(count)
    except Exception:
        logger.warning("throttle cache unreachable; tallying in the database", exc_info=True)
        return 1
