"""Riding out an outage of the channel layer (Redis).

The OCPP path needs only the database: the channel layer carries calls *to* stations and
nothing else. But Channels reads a consumer's channel in the same loop as its socket
(``channels.utils.await_many_dispatch``), so a channel-layer receive that raises ends the
consumer and daphne drops the station with 1011. With channels_redis every receive of a
process fails together when Redis goes away (they share one connection and one lock), so a
ten-second Redis restart dropped every station of every gateway process.

:func:`receive` is the consumer's channel receive instead: a failure marks the layer down for
the whole process (one log line, not one per station), parks every receive, and starts one
probe that retries with backoff (``PROBE_DELAYS``). Once the layer answers, the receives
resume; the messages sent to them meanwhile (by issuers in other processes, after Redis came
back) are still in Redis and are read then. Sends are not retried: a command issued during
the outage fails at once with 503 (``ocpp_gateway.calls.GatewayUnavailable``).

One watch per event loop, like the group committer: one per process under daphne.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

logger = logging.getLogger(__name__)

# Seconds between probes while the layer is down: quick at first (a restart takes seconds),
# then every second, so a command issued just after Redis returns reaches its station
# well within its timeout.
PROBE_DELAYS = (0.2, 0.5, 1.0)
# The probe is a group_discard of a channel from a group nobody uses: one round trip (ZREM of
# a missing key) that leaves nothing behind, and every layer with the groups extension has it.
PROBE_GROUP = "ocpp_gateway.layer-probe"
PROBE_CHANNEL = "ocpp_gateway.layer-probe"


class LayerWatch:
    """Whether this process's channel layer is reachable, as its receives last found it."""

    def __init__(self) -> None:
        self._up = asyncio.Event()
        self._up.set()
        self._down_since: float | None = None
        self._probe: asyncio.Task[None] | None = None
        self.outages = 0

    @property
    def is_up(self) -> bool:
        return self._up.is_set()

    async def wait_up(self) -> None:
        await self._up.wait()

    def failed(self, layer: Any, exc: BaseException) -> None:
        """A receive failed: mark the layer down (once per outage) and start probing it."""
        if not self._up.is_set():
            return
        self._up.clear()
        self._down_since = time.monotonic()
        self.outages += 1
        logger.error(
            "channel layer unreachable (%s: %s): stations stay connected and are answered; "
            "remote commands fail with 503 until it is back",
            type(exc).__name__,
            exc,
        )
        self._probe = asyncio.get_running_loop().create_task(self._until_reachable(layer))

    async def _until_reachable(self, layer: Any) -> None:
        attempt = 0
        while True:
            await asyncio.sleep(PROBE_DELAYS[min(attempt, len(PROBE_DELAYS) - 1)])
            attempt += 1
            try:
                await layer.group_discard(PROBE_GROUP, PROBE_CHANNEL)
            except Exception as exc:
                logger.debug("channel layer still unreachable: %s", exc)
                continue
            break
        down_for = time.monotonic() - (self._down_since or time.monotonic())
        logger.warning("channel layer reachable again after %.1f s", down_for)
        self._down_since = None
        self._up.set()


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LayerWatch] = (
    weakref.WeakKeyDictionary()
)


def get_layer_watch() -> LayerWatch:
    """The watch of the running event loop (one per process under daphne)."""
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None:
        watch = _watches[loop] = LayerWatch()
    return watch


async def receive(layer: Any, channel: str) -> dict[str, Any]:
    """``layer.receive(channel)`` that never raises for an unreachable layer: it waits until the
    layer is back (see the module docstring). Cancellation still ends it at once."""
    watch = get_layer_watch()
    while True:
        await watch.wait_up()
        try:
            message: dict[str, Any] = await layer.receive(channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            watch.failed(layer, exc)
            continue
        return message
