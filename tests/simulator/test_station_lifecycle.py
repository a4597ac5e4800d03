"""A simulated station's own life: boot, status, heartbeats, driver sessions with meter values,
dropped connections, switching off."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from tests.simulator.conftest import FakeCentralSystem


def samples(payload: dict[str, Any], measurand: str) -> list[dict[str, Any]]:
    return [
        value
        for meter_value in payload.get("meterValue", payload.get("transactionData", []))
        for value in meter_value["sampledValue"]
        if value["measurand"] == measurand
    ]


def statuses(central: FakeCentralSystem, connector_id: int) -> list[str]:
    return [
        p["status"] for p in central.of("StatusNotification") if p["connectorId"] == connector_id
    ]


async def test_it_boots_then_reports_every_connector_including_zero(central, start_station):
    await start_station(connectors=2, firmware_version="2.4.1")

    assert central.actions()[:4] == [
        "BootNotification",
        "StatusNotification",
        "StatusNotification",
        "StatusNotification",
    ]
    boot = central.of("BootNotification")[0]
    assert boot["chargePointVendor"] == "OCPP-Sim"
    assert boot["chargePointModel"] == "SimAC-11kW"
    assert boot["firmwareVersion"] == "2.4.1"
    reported = {(p["connectorId"], p["status"]) for p in central.of("StatusNotification")}
    assert reported == {(0, "Available"), (1, "Available"), (2, "Available")}


async def test_it_retries_boot_while_pending_or_rejected_and_stays_silent_meanwhile(
    central, start_station
):
    central.boot_answers = [("Pending", 0), ("Rejected", 0)]

    station = await start_station()

    assert central.actions()[:4] == ["BootNotification"] * 3 + ["StatusNotification"]
    assert station.registration == "Accepted"


async def test_it_sends_heartbeats_at_the_interval_the_server_gives(central, start_station):
    central.heartbeat_interval = 1
    loop = asyncio.get_running_loop()

    station = await start_station()
    began = loop.time()
    await central.wait_for("Heartbeat", count=2, timeout=4)

    assert station.keys.get("HeartbeatInterval") == "1"
    assert loop.time() - began >= 1.5


async def test_a_driver_session_authorizes_starts_meters_and_stops(central, start_station):
    station = await start_station(meter_interval=1)

    station.present_tag(1, "TAG-ONE")
    start = await central.wait_for("StartTransaction")
    first, second = (
        await central.wait_for("MeterValues", count=1),
        await central.wait_for("MeterValues", count=2),
    )
    station.stop_session(1)
    stop = await central.wait_for("StopTransaction")
    await central.wait_for("StatusNotification", lambda p: p["status"] == "Available", count=4)

    assert central.of("Authorize") == [{"idTag": "TAG-ONE"}]
    assert start["connectorId"] == 1 and start["idTag"] == "TAG-ONE"
    assert start["meterStart"] == 0
    assert first["transactionId"] == second["transactionId"] == 100
    energy = [
        int(samples(mv, "Energy.Active.Import.Register")[0]["value"]) for mv in (first, second)
    ]
    assert 0 < energy[0] < energy[1]
    assert samples(first, "Energy.Active.Import.Register")[0]["unit"] == "Wh"
    assert samples(first, "Power.Active.Import")[0] == {
        "value": "11000",
        "context": "Sample.Periodic",
        "format": "Raw",
        "measurand": "Power.Active.Import",
        "location": "Outlet",
        "unit": "W",
    }
    currents = {s["phase"]: s["value"] for s in samples(first, "Current.Import")}
    assert currents == {"L1": "15.9", "L2": "15.9", "L3": "15.9"}
    assert {s["phase"] for s in samples(first, "Voltage")} == {"L1-N", "L2-N", "L3-N"}
    assert stop["transactionId"] == 100
    assert stop["reason"] == "Local"
    assert stop["idTag"] == "TAG-ONE"
    assert stop["meterStop"] >= energy[1]
    begin, end = stop["transactionData"]
    assert begin["sampledValue"][0]["context"] == "Transaction.Begin"
    assert begin["sampledValue"][0]["value"] == "0"
    assert end["sampledValue"][0]["context"] == "Transaction.End"
    assert end["sampledValue"][0]["value"] == str(stop["meterStop"])
    assert statuses(central, 1) == ["Available", "Preparing", "Charging", "Finishing", "Available"]


async def test_the_driver_leaves_after_the_target_energy(central, start_station):
    station = await start_station(meter_interval=0)

    station.present_tag(1, "TAG-ONE", kwh=0.004)  # 4 Wh at 11 kW: about 1.3 s
    stop = await central.wait_for("StopTransaction", timeout=5)

    assert stop["reason"] == "Local"
    assert 4 <= stop["meterStop"] <= 6
    assert central.of("MeterValues") == []  # MeterValueSampleInterval 0: no periodic samples


async def test_the_driver_leaves_after_the_session_time(central, start_station):
    loop = asyncio.get_running_loop()
    station = await start_station(meter_interval=0)

    began = loop.time()
    station.present_tag(2, "TAG-TWO", minutes=0.01)
    stop = await central.wait_for("StopTransaction", timeout=5)

    assert stop["reason"] == "Local"
    assert 0.5 <= loop.time() - began < 3


async def test_a_tag_the_central_system_refuses_does_not_start_a_session(central, start_station):
    central.tags["BLOCKED-1"] = "Blocked"
    station = await start_station()

    task = station.present_tag(1, "BLOCKED-1")
    assert task is not None
    await asyncio.wait_for(task, 5)

    assert central.of("StartTransaction") == []
    assert statuses(central, 1) == ["Available", "Preparing", "Available"]
    assert station.connectors[1].session is None


async def test_a_dc_station_reports_soc_and_dc_values(central, start_station):
    station = await start_station(dc=True, power_kw=50, meter_interval=1)

    station.present_tag(1, "TAG-DC")
    meter_values = await central.wait_for("MeterValues")

    (soc,) = samples(meter_values, "SoC")
    assert soc["unit"] == "Percent" and soc["location"] == "EV"
    assert 10 <= int(soc["value"]) <= 61
    (voltage,) = samples(meter_values, "Voltage")
    assert voltage["value"] == "400.0" and "phase" not in voltage
    (current,) = samples(meter_values, "Current.Import")
    assert current["value"] == "125.0"
    assert central.of("BootNotification")[0]["chargePointModel"] == "SimDC-50kW"


async def test_after_a_dropped_connection_it_reconnects_and_reports_status_without_booting(
    central, start_station
):
    station = await start_station()

    await central.links["SIM001"]._connection.close()
    await central.wait_for("StatusNotification", lambda p: p["connectorId"] == 2, count=2)

    assert central.connections == 2
    assert len(central.of("BootNotification")) == 1
    assert station.ready


async def test_a_stop_during_a_drop_is_delivered_once_the_connection_is_back(
    central, start_station
):
    station = await start_station(meter_interval=0)
    station.present_tag(1, "TAG-ONE")
    start = await central.wait_for("StartTransaction")
    await central.wait_for("StatusNotification", lambda p: p["status"] == "Charging")

    await central.links["SIM001"]._connection.close()
    station.stop_session(1)
    stop = await central.wait_for("StopTransaction", timeout=5)

    assert central.connections == 2
    assert stop["transactionId"] == 100
    assert stop["meterStop"] >= start["meterStart"]


async def test_it_sends_basic_auth_with_its_identity_and_password(central, start_station):
    await start_station(password="correct horse battery")

    expected = base64.b64encode(b"SIM001:correct horse battery").decode()
    assert central.headers[0]["Authorization"] == f"Basic {expected}"
    assert central.headers[0]["Sec-WebSocket-Protocol"] == "ocpp1.6"


async def test_switching_it_off_ends_running_sessions_with_power_loss(central, start_station):
    station = await start_station(meter_interval=0)
    station.present_tag(1, "TAG-ONE")
    station.present_tag(2, "TAG-TWO")
    await central.wait_for("StartTransaction", count=2)

    await station.stop(timeout=3)

    reasons = sorted(p["reason"] for p in central.of("StopTransaction"))
    assert reasons == ["PowerLoss", "PowerLoss"]
    assert all("idTag" not in p for p in central.of("StopTransaction"))


async def test_automatic_drivers_charge_on_their_own(central, start_station):
    station = await start_station(
        auto_sessions=True,
        first_session_seconds=(0.0, 0.1),
        session_minutes=(0.005, 0.005),
        idle_seconds=(0.1, 0.1),
        meter_interval=0,
    )

    await central.wait_for("StopTransaction", count=2, timeout=5)

    tags = {p["idTag"] for p in central.of("StartTransaction")}
    assert tags <= {"SIM001-1", "SIM001-2"}
    assert station.stats["sessions_started"] >= 2
