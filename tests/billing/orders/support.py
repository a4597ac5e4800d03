"""Builders for billing's session tests: tariffs stored as the admin/API would store them,
sessions with their samples, and running billing's on-commit work."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction

from billing.models import Tariff
from billing.pricing.ocpi import tariff_from_ocpi
from billing.services import tariff_create, tariff_update
from csms.models import ChargePoint, MeterValue, Transaction
from tests.factories import make_charge_point, make_transaction

START = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)  # a Monday


def ocpi_tariff(
    *,
    energy: str | None = "0.30",
    flat: str | None = None,
    time: str | None = None,
    parking: str | None = None,
    vat: str | None = "20",
    currency: str = "EUR",
    **extra: Any,
) -> dict[str, Any]:
    components = []
    for kind, price in (
        ("ENERGY", energy),
        ("FLAT", flat),
        ("TIME", time),
        ("PARKING_TIME", parking),
    ):
        if price is not None:
            component: dict[str, Any] = {"type": kind, "price": price, "step_size": 1}
            if vat is not None:
                component["vat"] = vat
            components.append(component)
    return {"currency": currency, "elements": [{"price_components": components}], **extra}


def make_tariff(name: str = "Standard", *, is_default: bool = True, **prices: Any) -> Tariff:
    with transaction.atomic():  # the services lock rows: callers own the transaction
        return tariff_create(
            name=name, pricing=tariff_from_ocpi(ocpi_tariff(**prices)), is_default=is_default
        )


def publish(tariff: Tariff, **prices: Any) -> None:
    """A new version of ``tariff`` (what an operator's edit does)."""
    with transaction.atomic():
        tariff_update(tariff=tariff, pricing=tariff_from_ocpi(ocpi_tariff(**prices)))


def add_samples(
    tx: Transaction,
    readings: list[tuple[int, int]],
    *,
    unit: str = "Wh",
    power_w: int | None = None,
) -> None:
    """Energy register samples: (minutes after the start, register in ``unit``)."""
    rows = []
    for minutes, value in readings:
        at = tx.started_at + dt.timedelta(minutes=minutes)
        rows.append(
            MeterValue(
                charge_point=tx.charge_point,
                connector_id=tx.connector_id,
                transaction=tx,
                timestamp=at,
                value=str(value),
                value_decimal=Decimal(value),
                measurand="Energy.Active.Import.Register",
                unit=unit,
            )
        )
        if power_w is not None:
            rows.append(
                MeterValue(
                    charge_point=tx.charge_point,
                    connector_id=tx.connector_id,
                    transaction=tx,
                    timestamp=at,
                    value=str(power_w),
                    value_decimal=Decimal(power_w),
                    measurand="Power.Active.Import",
                    unit="W",
                )
            )
    MeterValue.objects.bulk_create(rows)


def stopped_session(
    *,
    charge_point: ChargePoint | None = None,
    minutes: int = 60,
    energy_wh: int = 10_000,
    meter_start: int = 1000,
    samples: bool = True,
    started_at: dt.datetime = START,
    **fields: Any,
) -> Transaction:
    """A session of ``minutes`` that delivered ``energy_wh`` evenly, stopped, with a sample
    every 15 minutes."""
    tx = make_transaction(
        charge_point=charge_point or make_charge_point(),
        meter_start=meter_start,
        started_at=started_at,
        **fields,
    )
    if samples:
        add_samples(
            tx,
            [(m, meter_start + energy_wh * m // minutes) for m in range(15, minutes, 15)],
        )
    tx.stopped_at = started_at + dt.timedelta(minutes=minutes)
    tx.meter_stop = meter_start + energy_wh
    tx.energy_wh = energy_wh
    tx.stop_reason = "Local"
    tx.save()
    return tx
