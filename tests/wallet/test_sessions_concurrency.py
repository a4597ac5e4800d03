"""Starts racing on PostgreSQL: two drivers scanning one connector at the same moment get one
session (the one-start-per-connector constraint backs the check), and one driver's retries of
one Idempotency-Key make one session and one hold. Needs PostgreSQL's row locks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

from tests.wallet.factories import fund, make_driver
from tests.wallet.test_sessions_helpers import code_of, online_station, priced
from wallet.models import AppSession, JournalEntry, Wallet
from wallet.selectors.ledger import ledger_mismatches
from wallet.services.sessions import SessionRefused, app_session_start

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
        reason="needs PostgreSQL (row locks, concurrent transactions)",
    ),
]


def race(jobs: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], Any]) -> Any:
        try:
            barrier.wait(5)
            return job()
        except SessionRefused as exc:
            return exc.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return [f.result(timeout=30) for f in [pool.submit(run, job) for job in jobs]]


def test_two_drivers_on_one_connector_get_one_session() -> None:
    priced()
    code = code_of(online_station())
    wallets = []
    for n in range(4):
        driver = make_driver(email=f"racer{n}@example.com")
        fund(driver, "30.00")
        wallets.append(Wallet.objects.get(user=driver))

    results = race([lambda w=w: app_session_start(wallet=w, connector_code=code) for w in wallets])

    started = [r for r in results if isinstance(r, tuple)]
    assert len(started) == 1
    assert sorted(r for r in results if isinstance(r, str)) == ["connector_occupied"] * 3
    assert AppSession.objects.count() == 1
    assert JournalEntry.objects.filter(kind="hold").count() == 1
    assert ledger_mismatches() == []


def test_retries_of_one_key_make_one_session() -> None:
    priced()
    code = code_of(online_station())
    driver = make_driver(email="retry@example.com")
    fund(driver, "30.00")
    wallet = Wallet.objects.get(user=driver)

    results = race(
        [lambda: app_session_start(wallet=wallet, connector_code=code, idempotency_key="k")] * 3
    )

    assert len({r[0].pk for r in results}) == 1
    assert sorted(r[1] for r in results) == [False, False, True]
    assert JournalEntry.objects.filter(kind="hold").count() == 1
