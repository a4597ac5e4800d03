"""The station's clock against ours: measured from the timestamps its frames carry, stored
only when it moves, flagged past OCPP_CLOCK_SKEW_TOLERANCE (visible in the API and admin)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from csms.models import ChargePoint
from tests.factories import make_charge_point, make_transaction
from tests.ocpp_gateway.support import assert_result, db, send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def cp():
    return await db(make_charge_point)(identity="CP1")


@pytest.fixture
async def station(cp, connect_station):
    return await connect_station("CP1")


def _iso(delta: timedelta) -> str:
    return (timezone.now() + delta).isoformat()


async def _reload(cp):
    return await ChargePoint.objects.aget(pk=cp.pk)


async def test_a_status_notification_stamped_ahead_flags_the_station(station, cp):
    assert_result(
        await send(station, "status_notification_faulted", timestamp=_iso(timedelta(hours=2)))
    )

    cp = await _reload(cp)
    assert 7195 <= cp.clock_offset_seconds <= 7200
    assert cp.clock_skewed
    assert cp.clock_offset_at is not None


async def test_a_clock_within_the_tolerance_is_not_flagged(station, cp):
    assert_result(
        await send(station, "status_notification_faulted", timestamp=_iso(timedelta(minutes=4)))
    )

    cp = await _reload(cp)
    assert 235 <= cp.clock_offset_seconds <= 240
    assert not cp.clock_skewed


async def test_meter_values_measure_the_clock_and_a_corrected_clock_clears_the_flag(station, cp):
    tx = await db(make_transaction)(charge_point=cp)
    reading = [{"value": "1500", "measurand": "Energy.Active.Import.Register"}]
    ahead = [{"timestamp": _iso(timedelta(hours=3)), "sampledValue": reading}]
    assert_result(await send(station, "meter_values", transactionId=tx.pk, meterValue=ahead))
    assert (await _reload(cp)).clock_skewed

    # The station set its clock from our Heartbeat answer's currentTime.
    right = [{"timestamp": _iso(timedelta(0)), "sampledValue": reading}]
    assert_result(await send(station, "meter_values", transactionId=tx.pk, meterValue=right))

    cp = await _reload(cp)
    assert abs(cp.clock_offset_seconds) <= 5
    assert not cp.clock_skewed


async def test_a_start_transaction_stamped_ahead_flags_the_station(station, cp):
    assert_result(await send(station, "start_transaction", timestamp=_iso(timedelta(hours=1))))

    assert (await _reload(cp)).clock_skewed


async def test_a_status_notification_stamped_behind_flags_a_slow_clock(station, cp):
    assert_result(
        await send(station, "status_notification_faulted", timestamp=_iso(-timedelta(hours=1)))
    )

    cp = await _reload(cp)
    assert -3600 <= cp.clock_offset_seconds <= -3595
    assert cp.clock_skewed


async def test_a_transaction_message_from_the_offline_queue_does_not_flag_the_clock(station, cp):
    # A StopTransaction kept while the station was offline is old, not evidence of a slow clock.
    tx = await db(make_transaction)(charge_point=cp, started_at=timezone.now() - timedelta(hours=3))

    assert_result(
        await send(
            station,
            "stop_transaction",
            transactionId=tx.pk,
            timestamp=_iso(-timedelta(hours=2)),
            transactionData=...,
        )
    )

    cp = await _reload(cp)
    assert cp.clock_offset_seconds is None
    assert not cp.clock_skewed


async def test_the_offset_is_stored_again_only_when_it_moves(station, cp):
    assert_result(
        await send(station, "status_notification_faulted", timestamp=_iso(timedelta(hours=1)))
    )
    first = await _reload(cp)

    assert_result(
        await send(station, "status_notification_faulted", timestamp=_iso(timedelta(hours=1)))
    )

    again = await _reload(cp)
    assert again.clock_offset_at == first.clock_offset_at  # no write for the same offset
