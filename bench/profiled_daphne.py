"""Run daphne under cProfile, every thread profiled, stats written when it exits.

    python bench/profiled_daphne.py OUT_PREFIX -b 127.0.0.1 -p 18504 ... csms.asgi:application

Under Channels the work of one process is split over two threads that share the GIL: the
event loop (daphne/Twisted, the consumers, schema validation, JSON) and the single
thread-sensitive database thread where every ``database_sync_to_async`` call runs (the ORM,
psycopg). A plain ``cProfile.run`` would only see the first, so each thread gets its own
profiler (installed by ``threading.setprofile`` on the thread's first event) and its stats go
to ``OUT_PREFIX.<n>.<thread name>.pstats``. Stop the process with SIGTERM or SIGINT: daphne
then returns from its reactor and the stats are written.
"""

from __future__ import annotations

import cProfile
import marshal
import re
import sys
import threading

_profilers: list[tuple[str, cProfile.Profile]] = []
_lock = threading.Lock()


def _start_thread_profiler(frame: object, event: str, arg: object) -> None:
    profiler = cProfile.Profile()
    with _lock:
        _profilers.append((threading.current_thread().name, profiler))
    # Replaces this Python-level hook with cProfile's C-level one for this thread.
    profiler.enable()


def _dump(prefix: str) -> None:
    with _lock:
        profilers = list(_profilers)
    for n, (name, profiler) in enumerate(profilers):
        # snapshot_stats() reads a profiler that may still be enabled in its own thread;
        # disable() would act on the calling thread, not the profiled one.
        profiler.snapshot_stats()
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:40]
        with open(f"{prefix}.{n}.{safe}.pstats", "wb") as f:
            marshal.dump(profiler.stats, f)  # type: ignore[attr-defined]


def main() -> None:
    prefix, daphne_args = sys.argv[1], sys.argv[2:]
    threading.setprofile(_start_thread_profiler)
    main_profiler = cProfile.Profile()
    with _lock:
        _profilers.append(("MainThread", main_profiler))
    from daphne.cli import CommandLineInterface

    main_profiler.enable()
    try:
        CommandLineInterface().run(daphne_args)
    finally:
        main_profiler.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        _dump(prefix)


if __name__ == "__main__":
    main()
