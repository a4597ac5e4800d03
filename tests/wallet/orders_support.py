"""Builders for the order, invoice and settlement tests: sessions billed through billing's real
path (tariff -> stopped session -> ``order_create`` -> ``order_billed`` -> the wallet's
settlement task), from the app (an AppSession with a hold) or with the driver's own RFID card."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.core.management import call_command
from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from billing.models import Order, Site
from billing.services.orders import order_create, order_reprice
from csms.models import ChargePoint, Transaction
from tests.billing.orders.support import START, stopped_session
from tests.factories import make_charge_point, make_id_tag
from wallet.models import AppSession, Wallet
from wallet.services.ledger import ledger_hold, wallet_accounts, wallet_lock


@contextmanager
def eager_celery() -> Iterator[None]:
    """Tasks run in place (REDIS_URL runs are not eager by default)."""
    from csms.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = before


@contextmanager
def committed() -> Iterator[None]:
    """Run what the block queues on commit (billing's order_billed, the settlement task, the
    invoice render), as a real commit would, tasks eager."""
    with eager_celery(), TestCase.captureOnCommitCallbacks(execute=True):
        yield


def app_session(
    driver: Any, *, charge_point: ChargePoint | None = None, hold: str = "10.00"
) -> AppSession:
    """A session the driver started from the app: ``hold`` held for it, charging."""
    wallet = Wallet.objects.get(user=driver)
    charge_point = charge_point or make_charge_point()
    with transaction.atomic():
        wallet = wallet_lock(wallet_id=wallet.pk)
        session = AppSession.objects.create(
            wallet=wallet,
            charge_point=charge_point,
            connector_id=1,
            connector_code="ABCD2345",
            state=AppSession.State.CHARGING,
            start_deadline=timezone.now() + dt.timedelta(minutes=1),
            charging_at=timezone.now(),
        )
        if Decimal(hold) > 0:
            ledger_hold(
                wallet=wallet,
                accounts=wallet_accounts(wallet=wallet),
                amount=Decimal(hold),
                idempotency_key=f"session:{session.pk}:hold",
                session=session,
            )
            session.held = Decimal(hold)
            session.save(update_fields=["held"])
    return session


def bill(tx: Transaction) -> Order:
    """Bill the stopped session as billing's on-commit task does, and settle it."""
    with committed():
        order = order_create(transaction_id=tx.pk)
    assert order is not None
    order.refresh_from_db()
    return order


def reprice(tx: Transaction) -> Order:
    with committed():
        order = order_reprice(transaction_id=tx.pk)
    assert order is not None
    order.refresh_from_db()
    return order


def app_order(
    driver: Any,
    *,
    hold: str = "10.00",
    minutes: int = 60,
    energy_wh: int = 10_000,
    charge_point: ChargePoint | None = None,
    started_at: dt.datetime = START,
    samples: bool = True,
) -> tuple[Order, AppSession]:
    """A session started from the app with ``hold`` held, stopped and billed."""
    session = app_session(driver, charge_point=charge_point, hold=hold)
    tag = Wallet.objects.select_related("virtual_id_tag").get(user=driver).virtual_id_tag
    tx = stopped_session(
        charge_point=session.charge_point,
        minutes=minutes,
        energy_wh=energy_wh,
        id_tag=tag.id_tag,
        id_tag_ref=tag,
        started_at=started_at,
        samples=samples,
    )
    session.transaction = tx
    session.save(update_fields=["transaction"])
    order = bill(tx)
    session.refresh_from_db()
    return order, session


def rfid_order(driver: Any, *, minutes: int = 60, energy_wh: int = 10_000) -> Order:
    """A session started with the driver's own RFID card (no AppSession, nothing held)."""
    tag = make_id_tag(user=driver)
    tx = stopped_session(minutes=minutes, energy_wh=energy_wh, id_tag=tag.id_tag, id_tag_ref=tag)
    return bill(tx)


def sited_charge_point(**site_fields: Any) -> ChargePoint:
    fields: dict[str, Any] = {
        "name": "Garage Nord Straße",
        "address": "Damrak 1",
        "postal_code": "1012 LG",
        "city": "Amsterdam",
        "country": "NLD",
        "timezone": "Europe/Amsterdam",
        **site_fields,
    }
    site = Site.objects.create(**fields)
    return make_charge_point(name="Garage North 1", site=site)


def ledger_verified() -> bool:
    """``manage.py ledger_verify`` passes (it raises CommandError when it does not)."""
    call_command("ledger_verify", stdout=_Null(), stderr=_Null())
    return True


class _Null:
    def write(self, *_: Any) -> None:
        pass

    def flush(self) -> None:
        pass
