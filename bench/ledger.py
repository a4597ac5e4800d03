"""How fast the wallet's ledger posts, and what one hot wallet costs, on PostgreSQL.

    .venv/bin/python bench/ledger.py --database-url postgres://postgres@127.0.0.1:5432/csms_bench_ledger

Migrates that database (use one of its own: the run adds drivers and entries), then posts
balanced, idempotent top-up entries (wallet lock, entry, postings, cached balances: what a
webhook credit does) and reports entries per second:

- one thread, one wallet (the latency of a single movement);
- N threads, a wallet each (throughput; the shared clearing account's cached balance is the
  only row they all update);
- N threads, one wallet (every movement waits for the wallet's row lock);
- retries: posting the same keys again (the idempotency check's cost).

Each case is the best of 3 runs; ``ledger_verify`` must pass at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--entries", type=int, default=400, help="per case")
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections, transaction

    from wallet.services.ledger import (
        ledger_top_up_credit,
        wallet_accounts,
        wallet_create,
        wallet_lock,
    )

    call_command("migrate", verbosity=0)
    run = uuid.uuid4().hex[:8]
    User = get_user_model()

    def driver(i: int) -> int:
        with transaction.atomic():
            user = User.objects.create_user(username=f"bench-{run}-{i}@example.com")
            return wallet_create(user=user).pk

    wallets = [driver(i) for i in range(args.threads)]

    def credit(wallet_id: int, key: str) -> None:
        with transaction.atomic():
            wallet = wallet_lock(wallet_id=wallet_id)
            ledger_top_up_credit(
                wallet=wallet,
                accounts=wallet_accounts(wallet=wallet),
                amount=Decimal("1.00"),
                provider="sandbox",
                idempotency_key=key,
            )

    def timed(jobs: list[Callable[[], None]]) -> float:
        """Seconds to run ``jobs`` spread over the threads (each job one list of posts)."""
        start = time.perf_counter()
        threads = [threading.Thread(target=_run, args=(job, connections)) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - start

    def case(name: str, make: Callable[[int], list[Callable[[], None]]], total: int) -> None:
        best = min(timed(make(attempt)) for attempt in range(3))
        print(f"{name:<44} {total / best:8.0f} entries/s  ({total} in {best * 1000:.0f} ms)")

    n, per = args.entries, args.entries // args.threads

    def keys(tag: str, attempt: int, thread: int, count: int) -> list[str]:
        return [f"bench:{run}:{tag}:{attempt}:{thread}:{i}" for i in range(count)]

    def posts(wallet_id: int, ks: list[str]) -> Callable[[], None]:
        return lambda: [credit(wallet_id, k) for k in ks] and None

    case("1 thread, 1 wallet", lambda a: [posts(wallets[0], keys("one", a, 0, n))], n)
    case(
        f"{args.threads} threads, a wallet each",
        lambda a: [posts(w, keys("each", a, t, per)) for t, w in enumerate(wallets)],
        per * args.threads,
    )
    case(
        f"{args.threads} threads, 1 wallet",
        lambda a: [posts(wallets[0], keys("hot", a, t, per)) for t in range(args.threads)],
        per * args.threads,
    )
    case("retries of posted keys, 1 thread", lambda a: [posts(wallets[0], keys("one", 0, 0, n))], n)
    call_command("ledger_verify")


def _run(job: Callable[[], None], connections: object) -> None:
    try:
        job()
    finally:
        connections.close_all()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
