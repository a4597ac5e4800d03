"""Message-log rows and 'last seen' stamps start a group commit of their own as soon as they
are queued, so the answer's outgoing log row (queued right after the answer is sent) opens a
new, small batch that the next stations' messages then have to wait behind. Here they only
ride along with the next batch of real messages, or are flushed after 50 ms without one."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sitecustomize import after_import

DELAY = 0.05


def _patch(module: Any) -> None:
    committer = module.GroupCommitter

    def _kick_later(self: Any) -> None:
        if self._flusher is not None and not self._flusher.done():
            return  # the running flusher takes them with its next batch
        timer = getattr(self, "_bench_timer", None)
        if timer is None or timer.cancelled() or timer.when() < asyncio.get_running_loop().time():
            self._bench_timer = asyncio.get_running_loop().call_later(DELAY, self._kick)

    def log(self: Any, entry: Any) -> None:
        self._pending.logs.append(entry)
        _kick_later(self)

    def touch(self: Any, charge_point_id: int, when: datetime) -> None:
        self._pending.seen[charge_point_id] = when
        _kick_later(self)

    committer.log = log
    committer.touch = touch


after_import("ocpp_gateway.committer", _patch)
