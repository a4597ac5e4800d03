"""Builders for the app-session tests (no tests here): an online station with a connector,
a priced default tariff, a funded driver, and the station's side of a session (its answer to
RemoteStartTransaction, StartTransaction, MeterValues, StopTransaction) run through csms's
services exactly as the gateway runs them, with their on-commit work executed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from csms.models import ChargePoint, Command, Connector, Transaction
from csms.services.commands import command_record_answer
from csms.services.transactions import meter_values_record, transaction_start, transaction_stop
from tests.billing.orders.support import make_tariff
from tests.factories import make_charge_point, make_connector
from wallet.models import AppSession, Wallet
from wallet.selectors.ledger import Balances, wallet_balances


@contextmanager
def eager_tasks() -> Iterator[None]:
    """Tasks queued on commit run in place, with or without a broker (REDIS_URL runs are
    not eager by default)."""
    from csms.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = before


def online_station(
    identity: str = "CP-APP-1", *, connectors: int = 1, **fields: Any
) -> ChargePoint:
    fields.setdefault("connected", True)
    fields.setdefault("last_seen", timezone.now())
    fields.setdefault("ws_channel_name", "test-channel!nobody")
    station = make_charge_point(identity=identity, **fields)
    for n in range(1, connectors + 1):
        make_connector(charge_point=station, connector_id=n)
    return station


def code_of(station: ChargePoint, connector_id: int = 1) -> str:
    return Connector.objects.get(charge_point=station, connector_id=connector_id).code


def priced(**prices: Any) -> Any:
    """The default tariff: 0.30 EUR/kWh + 20% VAT unless told otherwise."""
    prices.setdefault("energy", "0.30")
    return make_tariff(**prices)


def balances(user: Any) -> Balances:
    return wallet_balances(wallet=Wallet.objects.get(user=user))


def money(value: str) -> Decimal:
    return Decimal(value)


def answer(command: Command | None, status: str) -> None:
    """The station's CALLRESULT to ``command``."""
    assert command is not None
    with transaction.atomic():
        command_record_answer(command_id=command.pk, response={"status": status})


def station_starts(session: AppSession, *, meter_start: int = 1000) -> Transaction:
    """The station's StartTransaction for the app session's connector and virtual tag."""
    wallet = Wallet.objects.select_related("virtual_id_tag").get(pk=session.wallet_id)
    with transaction.atomic():
        tx, _ = transaction_start(
            charge_point=session.charge_point,
            connector_id=session.connector_id,
            id_tag=wallet.virtual_id_tag.id_tag,
            meter_start=meter_start,
            timestamp=timezone.now() - dt.timedelta(minutes=30),
        )
    return tx


def station_meters(
    tx: Transaction, wh: int, *, power_w: int = 11_000, soc: int | None = None
) -> None:
    """One MeterValues with the energy register at ``wh`` (now), as the gateway stores it."""
    samples: list[dict[str, Any]] = [
        {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"},
    ]
    if soc is not None:
        samples.append({"value": str(soc), "measurand": "SoC", "unit": "Percent"})
    with transaction.atomic():
        meter_values_record(
            charge_point=tx.charge_point,
            connector_id=tx.connector_id,
            meter_values=[{"timestamp": timezone.now(), "sampledValue": samples}],
            transaction=tx,
        )


def station_stops(tx: Transaction, wh: int, *, reason: str = "Remote") -> None:
    with transaction.atomic():
        transaction_stop(
            charge_point=tx.charge_point,
            transaction_id=tx.pk,
            meter_stop=wh,
            timestamp=timezone.now(),
            reason=reason,
        )
