"""Hot-path writes collected per gateway batch (csms.batching)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from csms import batching
from csms.models import MeterValue, Transaction
from csms.services.transactions import meter_values_record
from tests.factories import make_charge_point, make_transaction

pytestmark = pytest.mark.django_db(transaction=True)


def _sample(at, wh, power=None):
    sampled = [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
    if power is not None:
        sampled.append({"value": str(power), "measurand": "Power.Active.Import", "unit": "W"})
    return {"timestamp": at, "sampledValue": sampled}


def test_it_writes_every_station_of_a_batch_in_one_go():
    now = timezone.now()
    first, second = make_charge_point(), make_charge_point()
    tx1 = make_transaction(charge_point=first, started_at=now - timedelta(minutes=5))
    tx2 = make_transaction(charge_point=second, started_at=now - timedelta(minutes=5))

    with transaction.atomic(), batching.collecting() as writes:
        meter_values_record(
            charge_point=first,
            connector_id=1,
            transaction_id=tx1.pk,
            meter_values=[_sample(now, 1500, power=7200)],
        )
        meter_values_record(
            charge_point=second,
            connector_id=1,
            transaction_id=tx2.pk,
            meter_values=[_sample(now, 2500)],
        )
        assert MeterValue.objects.count() == 0  # collected, not yet written
        writes.flush()

    assert MeterValue.objects.filter(transaction=tx1).count() == 2
    assert MeterValue.objects.filter(transaction=tx2).count() == 1
    tx1.refresh_from_db()
    tx2.refresh_from_db()
    assert (tx1.last_meter_wh, tx1.last_power_w, tx1.last_meter_at) == (
        1500,
        Decimal("7200.0"),
        now,
    )
    assert (tx2.last_meter_wh, tx2.last_power_w) == (2500, None)


def test_it_orders_the_live_view_by_arrival_and_never_touches_a_stopped_session():
    now = timezone.now()
    station = make_charge_point()
    # A reading stamped an hour ahead (a wrong clock) must not hold the view.
    running = make_transaction(
        charge_point=station, last_meter_wh=5000, last_meter_at=now + timedelta(hours=1)
    )
    stopped = make_transaction(
        charge_point=station, connector_id=2, stopped_at=now, meter_stop=9000, last_meter_wh=9000
    )

    with transaction.atomic(), batching.collecting() as writes:
        for tx in (running, stopped):
            meter_values_record(
                charge_point=station,
                connector_id=tx.connector_id,
                transaction_id=tx.pk,
                meter_values=[_sample(now, 6000)],
            )
        writes.flush()

    running.refresh_from_db()
    stopped.refresh_from_db()
    assert (running.last_meter_wh, running.last_meter_at) == (6000, now)
    assert stopped.last_meter_wh == 9000
    assert MeterValue.objects.count() == 2


def test_the_last_message_of_a_batch_sets_the_live_view():
    now = timezone.now()
    station = make_charge_point()
    tx = make_transaction(charge_point=station)

    with transaction.atomic(), batching.collecting() as writes:
        for offset, wh, power in ((1, 2000, 7000), (2, 3000, None)):  # stamped later, then earlier
            meter_values_record(
                charge_point=station,
                connector_id=1,
                transaction_id=tx.pk,
                meter_values=[_sample(now - timedelta(seconds=offset), wh, power=power)],
            )
        writes.flush()

    tx.refresh_from_db()
    assert tx.last_meter_wh == 3000
    assert tx.last_meter_at == now - timedelta(seconds=2)
    assert tx.last_power_w == Decimal("7000.0")  # what the last message did not carry stays


def test_it_does_not_link_samples_to_another_stations_transaction():
    station, other = make_charge_point(), make_charge_point()
    foreign = make_transaction(charge_point=other)

    meter_values_record(
        charge_point=station,
        connector_id=1,
        transaction_id=foreign.pk,
        meter_values=[_sample(timezone.now(), 100)],
    )

    sample = MeterValue.objects.get()
    assert sample.transaction_id is None
    assert Transaction.objects.get(pk=foreign.pk).last_meter_wh is None
