"""StatusNotification: current connector state plus full history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from csms.models import Connector, StatusNotification
from tests.factories import make_charge_point
from tests.ocpp_gateway.support import assert_result, db, send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def station(connect_station):
    await db(make_charge_point)(identity="CP1")
    return await connect_station("CP1")


async def test_it_records_the_state_of_connector_zero(station):
    assert assert_result(await send(station, "status_notification_connector0")) == {}

    connector = await Connector.objects.aget(charge_point__identity="CP1", connector_id=0)
    assert connector.status == "Available"
    assert connector.error_code == "NoError"
    assert connector.status_timestamp == datetime(2024, 5, 14, 8, 0, tzinfo=UTC)


async def test_it_records_every_field_of_a_connector_status(station):
    assert_result(await send(station, "status_notification_faulted"))

    connector = await Connector.objects.aget(charge_point__identity="CP1", connector_id=1)
    assert connector.status == "Faulted"
    assert connector.error_code == "GroundFailure"
    assert connector.info == "RCD tripped"
    assert connector.vendor_id == "com.abb"
    assert connector.vendor_error_code == "0x2A01"
    assert connector.status_timestamp == datetime(2024, 5, 14, 9, 30, 12, tzinfo=UTC)
    history = await StatusNotification.objects.aget(charge_point__identity="CP1")
    assert (history.connector_id, history.status, history.error_code) == (
        1,
        "Faulted",
        "GroundFailure",
    )
    assert (history.info, history.vendor_id, history.vendor_error_code) == (
        "RCD tripped",
        "com.abb",
        "0x2A01",
    )
    assert history.timestamp == datetime(2024, 5, 14, 9, 30, 12, tzinfo=UTC)


async def test_it_keeps_the_history_and_the_latest_state(station):
    for status, stamp in [
        ("Preparing", "2024-05-14T10:00:00Z"),
        ("Charging", "2024-05-14T10:00:05Z"),
        ("Finishing", "2024-05-14T11:00:00Z"),
    ]:
        assert_result(
            await send(
                station,
                "status_notification_connector0",
                connectorId=1,
                status=status,
                timestamp=stamp,
            )
        )

    connector = await Connector.objects.aget(charge_point__identity="CP1", connector_id=1)
    assert connector.status == "Finishing"
    statuses = [
        row.status async for row in StatusNotification.objects.filter(connector_id=1).order_by("id")
    ]
    assert statuses == ["Preparing", "Charging", "Finishing"]


async def test_the_latest_notification_to_arrive_is_the_current_state(station):
    # OCPP-J delivers a station's messages one at a time, in its own order: arrival is the
    # truth, whatever the station's clock says.
    assert_result(
        await send(
            station,
            "status_notification_connector0",
            connectorId=1,
            status="Charging",
            timestamp="2024-05-14T10:05:00Z",
        )
    )

    assert_result(
        await send(
            station,
            "status_notification_connector0",
            connectorId=1,
            status="Finishing",
            timestamp="2024-05-14T10:00:00Z",
        )
    )

    connector = await Connector.objects.aget(charge_point__identity="CP1", connector_id=1)
    assert connector.status == "Finishing"
    assert connector.status_timestamp == datetime(2024, 5, 14, 10, 0, tzinfo=UTC)
    history = [
        (row.status, row.timestamp)
        async for row in StatusNotification.objects.filter(connector_id=1).order_by("id")
    ]
    assert history == [
        ("Charging", datetime(2024, 5, 14, 10, 5, tzinfo=UTC)),
        ("Finishing", datetime(2024, 5, 14, 10, 0, tzinfo=UTC)),
    ]


async def test_a_future_timestamp_does_not_freeze_the_connector(station):
    now = timezone.now()
    ahead = (now + timedelta(hours=3)).isoformat()
    assert_result(
        await send(
            station,
            "status_notification_connector0",
            connectorId=1,
            status="Charging",
            timestamp=ahead,
        )
    )

    assert_result(
        await send(
            station,
            "status_notification_connector0",
            connectorId=1,
            status="Available",
            timestamp=now.isoformat(),
        )
    )

    connector = await Connector.objects.aget(charge_point__identity="CP1", connector_id=1)
    assert connector.status == "Available"
    assert connector.status_timestamp == now  # the station's own stamp, kept as data


async def test_it_records_since_when_the_connector_has_its_status_by_arrival(station):
    before = timezone.now()
    for stamp in ("2030-01-01T00:00:00Z", "2030-01-01T00:05:00Z"):  # a repeat does not move it
        assert_result(
            await send(
                station,
                "status_notification_connector0",
                connectorId=1,
                status="Available",
                timestamp=stamp,
            )
        )
    first = await Connector.objects.aget(charge_point__identity="CP1", connector_id=1)
    assert before <= first.status_since <= timezone.now()

    assert_result(
        await send(station, "status_notification_connector0", connectorId=1, status="Preparing")
    )

    changed = await Connector.objects.aget(charge_point__identity="CP1", connector_id=1)
    assert changed.status_since > first.status_since


async def test_connectors_are_kept_apart(station):
    assert_result(await send(station, "status_notification_connector0"))
    assert_result(await send(station, "status_notification_faulted"))

    states = {
        c.connector_id: c.status
        async for c in Connector.objects.filter(charge_point__identity="CP1")
    }
    assert states == {0: "Available", 1: "Faulted"}


async def test_a_notification_without_timestamp_is_stamped_on_receipt(station):
    assert_result(await send(station, "status_notification_faulted", timestamp=...))

    connector = await Connector.objects.aget(charge_point__identity="CP1", connector_id=1)
    assert connector.status == "Faulted"
    assert connector.status_timestamp is not None
