from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from csms.models import ChargePoint, MessageLog
from ocpp_gateway.schemas import parse_timestamp
from tests.factories import make_charge_point
from tests.ocpp_gateway.support import assert_error, assert_result, db, drain, send

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_stores_device_info_and_vendor_extras(connect_station):
    await database_sync_to_async(make_charge_point)(identity="CP1")
    station = await connect_station("CP1")

    answer = await station.call(
        "BootNotification",
        {
            "chargePointVendor": "XQ",
            "chargePointModel": "ocpp_ac_7kw",
            "chargePointSerialNumber": "ks0117100000008",
            "firmwareVersion": "250722",
            "iccid": "",
            "imsi": "",
            "customData": {"moduleVersion": "FC4X.250723", "networkType": "1"},
        },
    )

    assert answer[0] == 3
    assert answer[2]["status"] == "Accepted"
    assert answer[2]["interval"] == 300
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.vendor == "XQ"
    assert cp.model == "ocpp_ac_7kw"
    assert cp.charge_point_serial_number == "ks0117100000008"
    assert cp.vendor_extras == {"customData": {"moduleVersion": "FC4X.250723", "networkType": "1"}}
    assert cp.connected is True


async def test_it_stores_every_device_field_of_a_real_boot(connect_station):
    await db(make_charge_point)(identity="CP1")
    station = await connect_station("CP1")
    before = timezone.now()

    result = assert_result(await send(station, "boot_notification_xq"), "1708936171")

    assert result["status"] == "Accepted"
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert (cp.vendor, cp.model) == ("XQ", "ocpp_ac_7kw")
    assert cp.charge_point_serial_number == "ks0117100000008"
    assert cp.charge_box_serial_number == "XQ-CB-000008"
    assert cp.firmware_version == "250722"
    assert cp.iccid == "89860623500001234567"
    assert cp.imsi == "460081234567890"
    assert cp.meter_type == "DDS1262"
    assert cp.meter_serial_number == "230516001234"
    assert cp.vendor_extras == {"customData": {"moduleVersion": "FC4X.250723", "networkType": "1"}}
    assert cp.last_boot_at is not None and cp.last_boot_at >= before


async def test_it_answers_with_the_current_time_in_utc(connect_station):
    await db(make_charge_point)(identity="CP1")
    station = await connect_station("CP1")
    before = timezone.now()

    result = assert_result(await send(station, "boot_notification_minimal"))

    assert result["currentTime"].endswith("Z")
    current = parse_timestamp(result["currentTime"])
    assert before - timedelta(seconds=1) <= current <= timezone.now() + timedelta(seconds=1)


@pytest.mark.parametrize("registration", ["Accepted", "Pending", "Rejected"])
async def test_it_answers_the_stations_registration_status(connect_station, registration):
    await db(make_charge_point)(identity="CP1", registration_status=registration)
    station = await connect_station("CP1")

    result = assert_result(await send(station, "boot_notification_minimal"))

    assert result["status"] == registration
    # The device data is kept whatever the answer: an operator deciding on a pending
    # station wants to see what it is.
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.vendor == "Alfen BV"


async def test_it_answers_the_stations_own_heartbeat_interval(connect_station, settings):
    settings.OCPP_HEARTBEAT_INTERVAL = 300
    await db(make_charge_point)(identity="CP1", heartbeat_interval=45)
    station = await connect_station("CP1")

    assert assert_result(await send(station, "boot_notification_minimal"))["interval"] == 45


async def test_it_answers_the_configured_heartbeat_interval(connect_station, settings):
    settings.OCPP_HEARTBEAT_INTERVAL = 120
    await db(make_charge_point)(identity="CP1")
    station = await connect_station("CP1")

    assert assert_result(await send(station, "boot_notification_minimal"))["interval"] == 120


async def test_a_new_boot_replaces_device_fields_it_no_longer_reports(connect_station):
    await db(make_charge_point)(identity="CP1")
    station = await connect_station("CP1")
    assert_result(await send(station, "boot_notification_xq"))

    assert_result(
        await send(station, "boot_notification_xq", iccid=..., customData={"networkType": "4G"})
    )

    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.iccid == ""
    assert cp.vendor_extras == {"customData": {"networkType": "4G"}}


@pytest.mark.parametrize(
    "action,fixture",
    [
        ("Heartbeat", "heartbeat"),
        ("StatusNotification", "status_notification_connector0"),
        ("Authorize", "authorize"),
        ("StartTransaction", "start_transaction"),
        ("MeterValues", "meter_values_no_transaction"),
        ("DataTransfer", "data_transfer"),
        ("FirmwareStatusNotification", "firmware_status_notification"),
    ],
)
async def test_a_rejected_station_gets_security_error_for_anything_but_boot(
    connect_station, action, fixture
):
    await db(make_charge_point)(identity="CP1", registration_status="Rejected")
    station = await connect_station("CP1")
    assert assert_result(await send(station, "boot_notification_minimal"))["status"] == "Rejected"

    assert_error(await send(station, fixture), "SecurityError")

    from csms.models import Connector, Transaction

    assert await Connector.objects.acount() == 0
    assert await Transaction.objects.acount() == 0


async def test_a_station_accepted_after_rejection_works_after_its_next_boot(connect_station):
    cp = await db(make_charge_point)(identity="CP1", registration_status="Rejected")
    station = await connect_station("CP1")
    assert_error(await send(station, "heartbeat"), "SecurityError")

    await ChargePoint.objects.filter(pk=cp.pk).aupdate(registration_status="Accepted")
    assert assert_result(await send(station, "boot_notification_minimal"))["status"] == "Accepted"

    assert "currentTime" in assert_result(await send(station, "heartbeat"))


async def test_it_logs_the_boot_and_its_answer(connect_station):
    await db(make_charge_point)(identity="CP1")
    station = await connect_station("CP1")

    await send(station, "boot_notification_xq")
    await drain()

    rows = [
        (row.direction, row.message_type, row.action, row.message_id)
        async for row in MessageLog.objects.filter(identity="CP1").order_by("id")
    ]
    assert rows == [
        ("in", 2, "BootNotification", "1708936171"),
        ("out", 3, "BootNotification", "1708936171"),
    ]
