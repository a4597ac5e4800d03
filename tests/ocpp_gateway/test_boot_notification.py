from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from csms.models import ChargePoint
from tests.factories import make_charge_point

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
