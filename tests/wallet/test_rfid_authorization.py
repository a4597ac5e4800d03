"""A driver's tags charge only what the wallet can pay for, decided online at the station's
Authorize and StartTransaction (through the gateway, real frames): a linked card needs
WALLET_RFID_MIN_BALANCE and no debt; the virtual tag needs a live app session at that
station. Other tags are left as the registry says, a broken check never stops charging, and
the check costs one query for a user's tag and none for others."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from csms import batching
from csms.models import ChargePoint, IdTag, Transaction
from csms.services import authorization
from csms.services.authorization import (
    authorization_check_register,
    id_tag_authorize,
    id_tag_start_authorize,
    local_list_entries,
)
from tests.factories import make_charge_point, make_id_tag, make_transaction, make_user
from tests.ocpp_gateway.support import assert_result, db, send
from tests.wallet.factories import fund, make_driver
from wallet.models import AppSession, Wallet
from wallet.services.ledger import ledger_capture, wallet_accounts, wallet_lock

pytestmark = pytest.mark.django_db(transaction=True)

CARD = "04E91C5A123A80"  # the idTag of tests/fixtures/ocpp/authorize.json and start_transaction


@pytest.fixture(autouse=True)
def rfid_minimum(settings: Any) -> None:
    settings.WALLET_RFID_MIN_BALANCE = Decimal("5")


@pytest.fixture
async def station(connect_station: Any) -> Any:
    await db(make_charge_point)(identity="CP1")
    return await connect_station("CP1")


async def authorize(station: Any, id_tag: str = CARD) -> str:
    info = assert_result(await send(station, "authorize", idTag=id_tag))["idTagInfo"]
    return str(info["status"])


async def start(station: Any, id_tag: str = CARD, connector_id: int = 1) -> str:
    result = assert_result(
        await send(station, "start_transaction", idTag=id_tag, connectorId=connector_id)
    )
    tx = await Transaction.objects.aget(pk=result["transactionId"])
    assert tx.start_status == result["idTagInfo"]["status"]  # recorded whatever the answer
    return str(result["idTagInfo"]["status"])


def driver_with_card(balance: str | None) -> Any:
    driver = make_driver()
    make_id_tag(id_tag=CARD, user=driver)
    if balance is not None:
        fund(driver, balance)
    return driver


def owe(driver: Any, amount: str) -> None:
    """A session the wallet could not pay: the shortfall becomes a receivable."""
    with transaction.atomic():
        wallet = wallet_lock(wallet_id=Wallet.objects.get(user=driver).pk)
        accounts = wallet_accounts(wallet=wallet)
        capture = ledger_capture(
            wallet=wallet,
            accounts=accounts,
            total=Decimal(amount),
            vat=Decimal("0"),
            held=Decimal("0"),
            idempotency_key=f"test-debt-{driver.pk}",
            memo="A card session the wallet could not pay",
        )
    assert capture.shortfall == Decimal(amount)


def virtual_tag(driver: Any) -> str:
    return Wallet.objects.select_related("virtual_id_tag").get(user=driver).virtual_id_tag.id_tag


def app_session(driver: Any, *, identity: str = "CP1", **fields: Any) -> AppSession:
    return AppSession.objects.create(
        wallet=Wallet.objects.get(user=driver),
        charge_point=ChargePoint.objects.get(identity=identity),
        connector_id=1,
        connector_code="ABCD2345",
        start_deadline=timezone.now() + dt.timedelta(minutes=3),
        **fields,
    )


# --- A driver's card ------------------------------------------------------------------------


async def test_it_accepts_a_driver_s_card_when_the_wallet_has_the_minimum(station):
    await db(driver_with_card)("5.00")

    assert await authorize(station) == "Accepted"
    assert await start(station) == "Accepted"


async def test_it_blocks_a_driver_s_card_while_the_wallet_owes_anything(station):
    driver = await db(driver_with_card)(None)
    await db(owe)(driver, "3.20")
    await db(fund)(driver, "50.00")  # plenty available: the debt alone refuses the card

    assert await authorize(station) == "Blocked"
    assert await start(station) == "Blocked"


async def test_it_blocks_a_driver_s_card_below_the_minimum_balance(station):
    await db(driver_with_card)("4.99")

    assert await authorize(station) == "Blocked"
    assert await start(station) == "Blocked"


async def test_the_minimum_balance_is_the_operator_s_choice_down_to_zero(station, settings):
    settings.WALLET_RFID_MIN_BALANCE = Decimal("0")
    await db(driver_with_card)(None)

    assert await authorize(station) == "Accepted"  # 0 >= 0: the operator's choice
    settings.WALLET_RFID_MIN_BALANCE = Decimal("0.01")
    assert await authorize(station) == "Blocked"


async def test_a_card_is_never_refused_while_its_own_session_runs_at_that_station(
    station, settings
):
    await db(driver_with_card)("5.00")
    assert await start(station) == "Accepted"
    settings.WALLET_RFID_MIN_BALANCE = Decimal("10")  # the card would be refused now

    # Presenting the card again ends its session: money must not keep the cable locked.
    assert await authorize(station) == "Accepted"


async def test_tags_without_a_wallet_are_left_as_the_registry_says(station):
    operator = await db(make_user)(role="operator")
    await db(make_id_tag)(id_tag=CARD, user=operator)  # a user, no wallet
    await db(make_id_tag)(id_tag="FLEET-1")  # no user at all

    assert await authorize(station) == "Accepted"
    assert await authorize(station, "FLEET-1") == "Accepted"
    assert await start(station) == "Accepted"


async def test_a_registry_refusal_is_not_overridden(station):
    driver = await db(make_driver)()
    await db(fund)(driver, "50.00")
    await db(make_id_tag)(id_tag=CARD, user=driver, status="Blocked")

    assert await authorize(station) == "Blocked"


# --- The virtual tag ------------------------------------------------------------------------


async def test_the_virtual_tag_without_an_app_start_is_blocked(station):
    driver = await db(make_driver)()
    await db(fund)(driver, "50.00")
    tag = await db(virtual_tag)(driver)

    assert await authorize(station, tag) == "Blocked"
    assert await start(station, tag) == "Blocked"


async def test_the_virtual_tag_is_accepted_for_a_starting_app_session_at_that_station(station):
    driver = await db(make_driver)()
    tag = await db(virtual_tag)(driver)
    await db(app_session)(driver)

    assert await authorize(station, tag) == "Accepted"
    assert await start(station, tag) == "Accepted"


async def test_the_virtual_tag_is_blocked_at_another_station_than_the_app_start(
    station, connect_station
):
    driver = await db(make_driver)()
    tag = await db(virtual_tag)(driver)
    await db(make_charge_point)(identity="CP2")
    await db(app_session)(driver, identity="CP2")  # started from the app at CP2

    assert await authorize(station, tag) == "Blocked"  # a copy of the tag at CP1
    assert await authorize(await connect_station("CP2"), tag) == "Accepted"


async def test_the_virtual_tag_is_accepted_while_its_app_session_runs_and_not_after(station):
    driver = await db(make_driver)()
    tag = await db(virtual_tag)(driver)
    here = await ChargePoint.objects.aget(identity="CP1")
    tx = await db(make_transaction)(charge_point=here, id_tag=tag)
    session = await db(app_session)(driver, state="charging", transaction=tx)

    assert await authorize(station, tag) == "Accepted"  # e.g. the idTag of its StopTransaction

    await Transaction.objects.filter(pk=tx.pk).aupdate(stopped_at=timezone.now(), meter_stop=2000)
    await AppSession.objects.filter(pk=session.pk).aupdate(state="stopping")
    assert await authorize(station, tag) == "Blocked"  # stopped, not yet settled: no new start


async def test_the_virtual_tag_of_a_start_that_timed_out_is_taken_as_a_late_start(station):
    driver = await db(make_driver)()
    tag = await db(virtual_tag)(driver)
    await db(app_session)(driver, state="failed")

    # The driver plugged in late: the session links it (with a new hold, or stops it).
    assert await start(station, tag) == "Accepted"


async def test_the_virtual_tag_of_a_canceled_or_old_failed_start_is_blocked(station):
    driver = await db(make_driver)()
    tag = await db(virtual_tag)(driver)
    canceled = await db(app_session)(driver, state="failed", stop_cause="driver")
    assert await authorize(station, tag) == "Blocked"

    await AppSession.objects.filter(pk=canceled.pk).aupdate(
        stop_cause="", created_at=timezone.now() - dt.timedelta(hours=2)
    )
    assert await authorize(station, tag) == "Blocked"


# --- A broken check fails open ------------------------------------------------------------


@pytest.fixture
def broken_check() -> Iterator[list[int]]:
    """A second check that raises (a bug in an app); yields the tags it was asked about."""
    asked: list[int] = []

    def check(*, tag: IdTag, now: Any, charge_point_id: int | None) -> str | None:
        asked.append(tag.pk)
        raise RuntimeError("a bug in the check")

    authorization_check_register("test-broken", check)
    yield asked
    authorization._CHECKS.pop("test-broken")


async def test_a_check_that_raises_is_logged_and_the_tag_accepted(station, broken_check, caplog):
    caplog.set_level(logging.ERROR, logger="csms.services.authorization")
    await db(driver_with_card)("20.00")

    assert await authorize(station) == "Accepted"
    assert await start(station) == "Accepted"

    assert len(broken_check) == 2
    assert "authorization check test-broken failed for tag 04E91C5A123A80" in caplog.text
    assert "a bug in the check" in caplog.text


@pytest.fixture
def failing_query_check() -> Iterator[None]:
    """A check whose query fails in the database (a missing table: a migration not applied)."""

    def check(*, tag: IdTag, now: Any, charge_point_id: int | None) -> str | None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM wallet_no_such_table")
        return "Blocked"

    authorization_check_register("test-bad-query", check)
    yield
    authorization._CHECKS.pop("test-bad-query")


async def test_a_check_whose_query_fails_does_not_fail_the_station_s_message(
    station, failing_query_check, caplog
):
    # On PostgreSQL the failed query aborts the batch's transaction: the batch is replayed
    # with a savepoint per message, where the check's error is contained.
    caplog.set_level(logging.ERROR, logger="csms.services.authorization")
    await db(driver_with_card)("20.00")

    assert await start(station) == "Accepted"
    assert await Transaction.objects.filter(id_tag=CARD).acount() == 1
    assert "authorization check test-bad-query failed" in caplog.text


# --- Query counts on the hot path ---------------------------------------------------------


@pytest.mark.parametrize("owner", ["nobody", "driver"])
def test_the_check_adds_one_query_for_a_user_s_tag_and_none_for_others(
    owner, django_assert_num_queries
):
    driver = make_driver()
    fund(driver, "20.00")
    make_id_tag(id_tag=CARD, user=driver if owner == "driver" else None)
    extra = 1 if owner == "driver" else 0
    station = make_charge_point(identity="CP1")

    # As the gateway runs them: inside its batch's transaction.
    with transaction.atomic(), batching.collecting():
        with django_assert_num_queries(1 + extra):  # the registry's row
            _, info = id_tag_authorize(id_tag=CARD, charge_point_id=station.pk)
        assert info["status"] == "Accepted"
        with django_assert_num_queries(2 + extra):  # the locked row, the session count
            _, info = id_tag_start_authorize(id_tag=CARD, charge_point_id=station.pk)
        assert info["status"] == "Accepted"


def test_a_refused_card_is_not_counted_for_concurrent_sessions(django_assert_num_queries):
    driver_with_card("1.00")
    with transaction.atomic(), batching.collecting():
        with django_assert_num_queries(2):  # the locked row, the check; no session count
            _, info = id_tag_start_authorize(id_tag=CARD)
    assert info["status"] == "Blocked"


# --- Local authorization lists --------------------------------------------------------------


def test_a_driver_s_tags_are_never_sent_in_a_local_list():
    driver = driver_with_card("50.00")
    operator = make_user(role="operator")
    make_id_tag(id_tag="OPS-CARD", user=operator)
    make_id_tag(id_tag="FLEET-1")

    sent = [entry["idTag"] for entry in local_list_entries(update_type="Full")]

    # Decided online at each use (the wallet's balance): offline, a station would accept
    # them from its list whatever the driver owes.
    assert sent == ["FLEET-1", "OPS-CARD"]
    assert virtual_tag(driver) not in sent


def test_naming_a_driver_s_tag_in_a_full_list_is_refused_and_a_differential_one_removes_it():
    driver_with_card("50.00")
    make_id_tag(id_tag="FLEET-1")

    with pytest.raises(ValidationError) as refused:
        local_list_entries(update_type="Full", id_tags=["FLEET-1", CARD.lower()])
    assert "Checked online at every use, never sent in a local list: 04E91C5A123A80" in str(
        refused.value
    )

    entries = local_list_entries(update_type="Differential", id_tags=["FLEET-1", CARD])
    assert entries == [
        {"idTag": "FLEET-1", "idTagInfo": {"status": "Accepted"}},
        {"idTag": CARD},  # no idTagInfo: the station deletes what it cached from an old list
    ]
