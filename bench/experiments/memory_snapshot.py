"""tracemalloc in the server: each SIGUSR2 writes a snapshot to
``$BENCH_TRACEMALLOC_PREFIX.<n>.snap`` (default /tmp/tracemalloc). Diff two snapshots taken at
two idle-connection counts to see which allocation sites grow per connection; see README.
tracemalloc itself costs memory and time: never use the RSS of such a run as a figure."""

from __future__ import annotations

import os
import signal
import tracemalloc
from typing import Any

tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "1")))
_taken = 0


def _dump(signum: int, frame: Any) -> None:
    global _taken
    snapshot = tracemalloc.take_snapshot()
    prefix = os.environ.get("BENCH_TRACEMALLOC_PREFIX", "/tmp/tracemalloc")
    snapshot.dump(f"{prefix}.{_taken}.snap")
    _taken += 1


signal.signal(signal.SIGUSR2, _dump)
