"""How a simulated station reacts to each central-system-initiated OCPP 1.6 operation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call

from tests.simulator.conftest import FakeCentralSystem


def at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def statuses(central: FakeCentralSystem, connector_id: int) -> list[str]:
    return [
        p["status"] for p in central.of("StatusNotification") if p["connectorId"] == connector_id
    ]


async def charging(central: FakeCentralSystem, connector_id: int, count: int = 1) -> None:
    await central.wait_for(
        "StatusNotification",
        lambda p: p["connectorId"] == connector_id and p["status"] == "Charging",
        count=count,
    )


# --- Remote start / stop ----------------------------------------------------------------------


async def test_remote_start_authorizes_and_starts_on_the_requested_connector(
    central, start_station
):
    await start_station()

    answer = await central.call(
        "SIM001", call.RemoteStartTransaction(id_tag="APP-1", connector_id=2)
    )
    start = await central.wait_for("StartTransaction")

    assert answer.status == "Accepted"
    assert central.of("Authorize") == [{"idTag": "APP-1"}]
    assert start["connectorId"] == 2 and start["idTag"] == "APP-1"
    await charging(central, 2)


async def test_remote_start_skips_authorize_when_authorize_remote_tx_requests_is_false(
    central, start_station
):
    station = await start_station()
    station.keys.change("AuthorizeRemoteTxRequests", "false")

    await central.call("SIM001", call.RemoteStartTransaction(id_tag="APP-1"))
    start = await central.wait_for("StartTransaction")

    assert central.of("Authorize") == []
    assert start["connectorId"] == 1  # no connector asked: the first free one


async def test_remote_start_on_a_busy_connector_is_rejected(central, start_station):
    await start_station(connectors=1)
    await central.call("SIM001", call.RemoteStartTransaction(id_tag="APP-1", connector_id=1))
    await charging(central, 1)

    busy = await central.call("SIM001", call.RemoteStartTransaction(id_tag="APP-2", connector_id=1))
    anywhere = await central.call("SIM001", call.RemoteStartTransaction(id_tag="APP-2"))
    unknown = await central.call(
        "SIM001", call.RemoteStartTransaction(id_tag="APP-2", connector_id=7)
    )

    assert (busy.status, anywhere.status, unknown.status) == ("Rejected", "Rejected", "Rejected")
    assert len(central.of("StartTransaction")) == 1


async def test_remote_stop_ends_the_transaction_with_reason_remote(central, start_station):
    station = await start_station()
    station.present_tag(1, "TAG-ONE")
    start = await central.wait_for("StartTransaction")
    await charging(central, 1)

    unknown = await central.call("SIM001", call.RemoteStopTransaction(transaction_id=999))
    answer = await central.call("SIM001", call.RemoteStopTransaction(transaction_id=100))
    stop = await central.wait_for("StopTransaction")

    assert unknown.status == "Rejected"
    assert answer.status == "Accepted"
    assert stop["transactionId"] == 100 and stop["reason"] == "Remote"
    assert stop["meterStop"] >= start["meterStart"]
    assert "idTag" not in stop


# --- Reset, unlock, availability --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Soft", "Hard"])
async def test_reset_stops_sessions_disconnects_reconnects_and_boots_again(
    central, start_station, kind
):
    station = await start_station()
    station.present_tag(1, "TAG-ONE")
    await charging(central, 1)

    answer = await central.call("SIM001", call.Reset(type=kind))
    await central.wait_for("BootNotification", count=2)
    await central.wait_for("StatusNotification", lambda p: p["connectorId"] == 2, count=2)

    assert answer.status == "Accepted"
    (stop,) = central.of("StopTransaction")
    assert stop["reason"] == f"{kind}Reset"
    assert central.connections == 2
    actions = central.actions()
    assert actions.index("StopTransaction") < len(actions) - actions[::-1].index("BootNotification")
    assert statuses(central, 1)[-1] == "Available"
    assert station.stats["boots"] == 2


async def test_unlock_connector_stops_its_session_and_answers_unlocked(central, start_station):
    station = await start_station()
    station.present_tag(2, "TAG-TWO")
    await charging(central, 2)

    answer = await central.call("SIM001", call.UnlockConnector(connector_id=2))
    stop = await central.wait_for("StopTransaction")
    idle = await central.call("SIM001", call.UnlockConnector(connector_id=1))
    unknown = await central.call("SIM001", call.UnlockConnector(connector_id=9))

    assert answer.status == "Unlocked"
    assert stop["reason"] == "UnlockCommand"
    assert idle.status == "Unlocked"
    assert unknown.status == "NotSupported"


async def test_change_availability_of_an_idle_connector_is_reported_at_once(central, start_station):
    station = await start_station()

    answer = await central.call(
        "SIM001", call.ChangeAvailability(connector_id=2, type="Inoperative")
    )
    await central.wait_for(
        "StatusNotification", lambda p: p["connectorId"] == 2 and p["status"] == "Unavailable"
    )
    refused = await central.call("SIM001", call.RemoteStartTransaction(id_tag="A", connector_id=2))
    back = await central.call("SIM001", call.ChangeAvailability(connector_id=2, type="Operative"))
    await central.wait_for(
        "StatusNotification",
        lambda p: p["connectorId"] == 2 and p["status"] == "Available",
        count=2,
    )

    assert answer.status == "Accepted" and back.status == "Accepted"
    assert refused.status == "Rejected"
    assert station.present_tag(1, "TAG") is not None  # the other connector is untouched


async def test_change_availability_of_a_busy_connector_is_scheduled_until_the_session_ends(
    central, start_station
):
    station = await start_station()
    station.present_tag(1, "TAG-ONE")
    await charging(central, 1)

    answer = await central.call(
        "SIM001", call.ChangeAvailability(connector_id=0, type="Inoperative")
    )
    await central.wait_for(
        "StatusNotification", lambda p: p["connectorId"] == 2 and p["status"] == "Unavailable"
    )
    assert statuses(central, 1)[-1] == "Charging"
    station.stop_session(1)
    await central.wait_for(
        "StatusNotification", lambda p: p["connectorId"] == 1 and p["status"] == "Unavailable"
    )

    assert answer.status == "Scheduled"
    assert statuses(central, 0)[-1] == "Unavailable"


# --- Configuration ----------------------------------------------------------------------------


async def test_get_configuration_lists_the_standard_keys_with_readonly_flags(
    central, start_station
):
    await start_station(connectors=2)

    everything = await central.call("SIM001", call.GetConfiguration())
    some = await central.call(
        "SIM001", call.GetConfiguration(key=["heartbeatinterval", "NoSuchKey"])
    )

    keys = {entry["key"]: entry for entry in everything.configuration_key}
    for name in (
        "HeartbeatInterval",
        "MeterValueSampleInterval",
        "MeterValuesSampledData",
        "ConnectionTimeOut",
        "LocalAuthListEnabled",
        "LocalAuthListMaxLength",
        "SendLocalListMaxLength",
        "AuthorizeRemoteTxRequests",
        "NumberOfConnectors",
        "SupportedFeatureProfiles",
        "ChargeProfileMaxStackLevel",
    ):
        assert name in keys
    assert keys["NumberOfConnectors"] == {
        "key": "NumberOfConnectors",
        "readonly": True,
        "value": "2",
    }
    assert keys["HeartbeatInterval"]["readonly"] is False
    assert [e["key"] for e in some.configuration_key] == ["HeartbeatInterval"]
    assert some.unknown_key == ["NoSuchKey"]


async def test_change_configuration_answers_per_key_and_heartbeat_interval_takes_effect(
    central, start_station
):
    await start_station()

    unknown = await central.call("SIM001", call.ChangeConfiguration(key="Nope", value="1"))
    readonly = await central.call(
        "SIM001", call.ChangeConfiguration(key="NumberOfConnectors", value="4")
    )
    wrong_type = await central.call(
        "SIM001", call.ChangeConfiguration(key="HeartbeatInterval", value="soon")
    )
    reboot = await central.call(
        "SIM001", call.ChangeConfiguration(key="WebSocketPingInterval", value="30")
    )
    accepted = await central.call(
        "SIM001", call.ChangeConfiguration(key="HeartbeatInterval", value="1")
    )
    await central.wait_for("Heartbeat", timeout=3)
    read_back = await central.call("SIM001", call.GetConfiguration(key=["HeartbeatInterval"]))

    assert unknown.status == "NotSupported"
    assert readonly.status == "Rejected"
    assert wrong_type.status == "Rejected"
    assert reboot.status == "RebootRequired"
    assert accepted.status == "Accepted"
    assert read_back.configuration_key[0]["value"] == "1"


async def test_meter_value_sample_interval_and_sampled_data_take_effect(central, start_station):
    station = await start_station(meter_interval=0)
    station.present_tag(1, "TAG-ONE")
    await charging(central, 1)

    soc_on_ac = await central.call(
        "SIM001", call.ChangeConfiguration(key="MeterValuesSampledData", value="SoC")
    )
    measurands = await central.call(
        "SIM001",
        call.ChangeConfiguration(
            key="MeterValuesSampledData", value="Energy.Active.Import.Register,Power.Offered"
        ),
    )
    interval = await central.call(
        "SIM001", call.ChangeConfiguration(key="MeterValueSampleInterval", value="1")
    )
    meter_values = await central.wait_for("MeterValues", timeout=3)

    assert soc_on_ac.status == "Rejected"
    assert (measurands.status, interval.status) == ("Accepted", "Accepted")
    sent = [v["measurand"] for v in meter_values["meterValue"][0]["sampledValue"]]
    assert sent == ["Energy.Active.Import.Register", "Power.Offered"]


# --- Local authorization list -----------------------------------------------------------------


async def test_send_local_list_full_and_differential_with_version_checks(central, start_station):
    station = await start_station()
    accepted = {"status": "Accepted"}

    full = await central.call(
        "SIM001",
        call.SendLocalList(
            list_version=3,
            update_type="Full",
            local_authorization_list=[
                {"idTag": "LOCAL-1", "idTagInfo": accepted},
                {"idTag": "LOCAL-2", "idTagInfo": accepted},
            ],
        ),
    )
    version = await central.call("SIM001", call.GetLocalListVersion())
    stale = await central.call(
        "SIM001",
        call.SendLocalList(list_version=3, update_type="Differential", local_authorization_list=[]),
    )
    differential = await central.call(
        "SIM001",
        call.SendLocalList(
            list_version=4,
            update_type="Differential",
            local_authorization_list=[
                {"idTag": "LOCAL-1"},
                {"idTag": "LOCAL-3", "idTagInfo": {"status": "Blocked"}},
            ],
        ),
    )
    version_after = await central.call("SIM001", call.GetLocalListVersion())

    assert full.status == "Accepted" and version.list_version == 3
    assert stale.status == "VersionMismatch"
    assert differential.status == "Accepted" and version_after.list_version == 4
    assert station.local_list == {"LOCAL-2": accepted, "LOCAL-3": {"status": "Blocked"}}


async def test_a_disabled_local_list_is_not_supported(central, start_station):
    station = await start_station()
    station.keys.change("LocalAuthListEnabled", "false")

    answer = await central.call(
        "SIM001",
        call.SendLocalList(list_version=1, update_type="Full", local_authorization_list=[]),
    )
    version = await central.call("SIM001", call.GetLocalListVersion())

    assert answer.status == "NotSupported"
    assert version.list_version == -1


async def test_a_tag_in_the_local_list_starts_without_authorize_when_pre_authorized(
    central, start_station
):
    station = await start_station()
    await central.call("SIM001", call.ChangeConfiguration(key="LocalPreAuthorize", value="true"))
    await central.call(
        "SIM001",
        call.SendLocalList(
            list_version=1,
            update_type="Full",
            local_authorization_list=[{"idTag": "LOCAL-1", "idTagInfo": {"status": "Accepted"}}],
        ),
    )

    station.present_tag(1, "local-1")
    await central.wait_for("StartTransaction")

    assert central.of("Authorize") == []


async def test_clear_cache_forgets_authorized_tags(central, start_station):
    station = await start_station()
    await asyncio.wait_for(station.present_tag(1, "TAG-ONE", minutes=0.001), 5)
    assert "TAG-ONE" in station.auth_cache

    answer = await central.call("SIM001", call.ClearCache())

    assert answer.status == "Accepted"
    assert station.auth_cache == {}


# --- Reservations -----------------------------------------------------------------------------


async def test_a_reservation_holds_the_connector_for_its_tag(central, start_station):
    station = await start_station()

    answer = await central.call(
        "SIM001",
        call.ReserveNow(connector_id=1, expiry_date=at(60), id_tag="RES-TAG", reservation_id=7),
    )
    await central.wait_for(
        "StatusNotification", lambda p: p["connectorId"] == 1 and p["status"] == "Reserved"
    )
    stranger = station.present_tag(1, "SOMEONE-ELSE")
    remote_stranger = await central.call(
        "SIM001", call.RemoteStartTransaction(id_tag="SOMEONE-ELSE", connector_id=1)
    )
    holder = await central.call("SIM001", call.RemoteStartTransaction(id_tag="res-tag"))
    start = await central.wait_for("StartTransaction")

    assert answer.status == "Accepted"
    assert stranger is None and remote_stranger.status == "Rejected"
    assert holder.status == "Accepted"
    assert start["connectorId"] == 1 and start["reservationId"] == 7
    assert station.connectors[1].reservation is None


async def test_reserve_now_answers_occupied_unavailable_and_rejected(central, start_station):
    station = await start_station(connectors=2)
    station.present_tag(1, "TAG-ONE")
    await charging(central, 1)
    await central.call("SIM001", call.ChangeAvailability(connector_id=2, type="Inoperative"))

    occupied = await central.call(
        "SIM001", call.ReserveNow(connector_id=1, expiry_date=at(60), id_tag="R", reservation_id=1)
    )
    unavailable = await central.call(
        "SIM001", call.ReserveNow(connector_id=2, expiry_date=at(60), id_tag="R", reservation_id=2)
    )
    connector_zero = await central.call(
        "SIM001", call.ReserveNow(connector_id=0, expiry_date=at(60), id_tag="R", reservation_id=3)
    )

    assert occupied.status == "Occupied"
    assert unavailable.status == "Unavailable"
    assert connector_zero.status == "Rejected"


async def test_cancel_reservation_and_expiry_free_the_connector(central, start_station):
    await start_station()
    await central.call(
        "SIM001", call.ReserveNow(connector_id=1, expiry_date=at(60), id_tag="R", reservation_id=1)
    )
    await central.call(
        "SIM001", call.ReserveNow(connector_id=2, expiry_date=at(0.5), id_tag="R", reservation_id=2)
    )

    cancelled = await central.call("SIM001", call.CancelReservation(reservation_id=1))
    unknown = await central.call("SIM001", call.CancelReservation(reservation_id=99))
    for connector_id in (1, 2):
        await central.wait_for(
            "StatusNotification",
            lambda p, n=connector_id: p["connectorId"] == n and p["status"] == "Available",
            count=2,
            timeout=3,
        )

    assert cancelled.status == "Accepted"
    assert unknown.status == "Rejected"
    assert statuses(central, 1) == ["Available", "Reserved", "Available"]
    assert statuses(central, 2) == ["Available", "Reserved", "Available"]


# --- Remote trigger ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "action", "expected"),
    [
        ("BootNotification", "BootNotification", {"chargePointVendor": "OCPP-Sim"}),
        ("Heartbeat", "Heartbeat", {}),
        ("StatusNotification", "StatusNotification", {"connectorId": 1, "status": "Available"}),
        ("FirmwareStatusNotification", "FirmwareStatusNotification", {"status": "Idle"}),
        ("DiagnosticsStatusNotification", "DiagnosticsStatusNotification", {"status": "Idle"}),
        ("MeterValues", "MeterValues", {"connectorId": 1}),
    ],
)
async def test_trigger_message_sends_the_requested_message_after_accepting(
    central, start_station, requested, action, expected
):
    await start_station()
    before = len(central.of(action))

    answer = await central.call(
        "SIM001", call.TriggerMessage(requested_message=requested, connector_id=1)
    )
    payload = await central.wait_for(action, count=before + 1)

    assert answer.status == "Accepted"
    assert expected.items() <= payload.items()
    if action == "MeterValues":
        contexts = {v["context"] for v in payload["meterValue"][0]["sampledValue"]}
        assert contexts == {"Trigger"}


async def test_trigger_message_for_an_unknown_connector_is_rejected(central, start_station):
    await start_station(connectors=2)

    answer = await central.call(
        "SIM001", call.TriggerMessage(requested_message="StatusNotification", connector_id=5)
    )

    assert answer.status == "Rejected"


# --- Firmware and diagnostics -----------------------------------------------------------------


async def test_update_firmware_reports_each_stage_then_reboots_with_the_new_version(
    central, start_station
):
    station = await start_station()

    await central.call(
        "SIM001",
        call.UpdateFirmware(location="https://fw.example.com/sim-2.0.0.bin", retrieve_date=at(0)),
    )
    await central.wait_for("BootNotification", count=2, timeout=5)

    stages = [p["status"] for p in central.of("FirmwareStatusNotification")]
    assert stages == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert central.of("BootNotification")[1]["firmwareVersion"] == "sim-2.0.0"
    assert station.firmware_version == "sim-2.0.0"
    assert station.firmware_status == "Idle"


async def test_update_firmware_installs_only_after_the_running_session(central, start_station):
    station = await start_station()
    station.present_tag(1, "TAG-ONE")
    await charging(central, 1)

    await central.call(
        "SIM001", call.UpdateFirmware(location="http://fw.example/a.bin", retrieve_date=at(0))
    )
    await central.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Downloaded")
    refused = station.present_tag(2, "TAG-TWO")
    await asyncio.sleep(0.2)
    assert "Installing" not in [p["status"] for p in central.of("FirmwareStatusNotification")]
    station.stop_session(1)
    await central.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Installed")
    await central.wait_for("BootNotification", count=2)

    assert refused is None
    actions = central.actions()
    assert actions.index("StopTransaction") < actions.index("BootNotification", 1)


async def test_a_reset_while_an_update_waits_loses_no_firmware_status(central, start_station):
    station = await start_station()
    station.present_tag(1, "TAG-ONE")
    await charging(central, 1)
    await central.call(
        "SIM001", call.UpdateFirmware(location="http://fw.example/b-3.bin", retrieve_date=at(0))
    )
    await central.wait_for("FirmwareStatusNotification", lambda p: p["status"] == "Downloaded")

    await central.call("SIM001", call.Reset(type="Soft"))
    await central.wait_for("BootNotification", count=3, timeout=5)

    stages = [p["status"] for p in central.of("FirmwareStatusNotification")]
    # At least once: one sent just as the connection went down is sent again after the reboot.
    distinct = [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s]
    assert distinct == ["Downloading", "Downloaded", "Installing", "Installed"]
    boots = [p["firmwareVersion"] for p in central.of("BootNotification")]
    assert boots == ["1.0.0", "1.0.0", "b-3"]
    assert central.connections == 3
    await station.wait_ready(5)
    assert station.firmware_version == "b-3"


@dataclass
class Upload:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class UploadServer:
    status: int = 200
    uploads: list[Upload] = field(default_factory=list)
    url: str = ""


@pytest.fixture
async def upload_server() -> AsyncIterator[UploadServer]:
    """A minimal HTTP server on 127.0.0.1 that records what is uploaded to it."""
    state = UploadServer()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode()
        headers = {}
        while (line := (await reader.readline()).decode().strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        method, path, _ = request_line.split(" ", 2)
        state.uploads.append(Upload(method, path, headers, body))
        writer.write(f"HTTP/1.1 {state.status} X\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    yield state
    server.close()
    await server.wait_closed()


async def test_get_diagnostics_uploads_the_file_by_post_and_reports_progress(
    central, start_station, upload_server
):
    await start_station()

    answer = await central.call(
        "SIM001", call.GetDiagnostics(location=f"{upload_server.url}/diagnostics?token=abc")
    )
    await central.wait_for("DiagnosticsStatusNotification", count=2)

    assert answer.file_name.startswith("SIM001-diagnostics-")
    assert [p["status"] for p in central.of("DiagnosticsStatusNotification")] == [
        "Uploading",
        "Uploaded",
    ]
    (upload,) = upload_server.uploads
    assert (upload.method, upload.path) == ("POST", "/diagnostics?token=abc")
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert f'filename="{answer.file_name}"'.encode() in upload.body
    assert b"station SIM001" in upload.body


async def test_get_diagnostics_by_put_appends_the_file_name_to_a_folder(
    central, start_station, upload_server
):
    await start_station(upload_method="PUT")

    answer = await central.call(
        "SIM001", call.GetDiagnostics(location=f"http://u:p@{upload_server.url[7:]}/logs/")
    )
    await central.wait_for("DiagnosticsStatusNotification", count=2)

    (upload,) = upload_server.uploads
    assert (upload.method, upload.path) == ("PUT", f"/logs/{answer.file_name}")
    assert upload.headers["authorization"] == "Basic dTpw"
    assert upload.body.startswith(b"station SIM001\n")


async def test_get_diagnostics_reports_upload_failed_after_its_retries(
    central, start_station, upload_server
):
    upload_server.status = 500
    await start_station()

    await central.call(
        "SIM001",
        call.GetDiagnostics(location=f"{upload_server.url}/d", retries=1, retry_interval=0),
    )
    await central.wait_for("DiagnosticsStatusNotification", count=2)
    await central.call("SIM001", call.GetDiagnostics(location="ftp://ftp.example.com/logs/"))
    await central.wait_for("DiagnosticsStatusNotification", count=4)

    assert [p["status"] for p in central.of("DiagnosticsStatusNotification")] == [
        "Uploading",
        "UploadFailed",
        "Uploading",
        "UploadFailed",
    ]
    assert len(upload_server.uploads) == 2  # the first try and one retry; ftp never connects


async def test_data_transfer_answers_unknown_vendor(central, start_station):
    await start_station()

    answer = await central.call("SIM001", call.DataTransfer(vendor_id="com.example", data="x"))

    assert answer.status == "UnknownVendorId"


async def test_an_operation_outside_ocpp_1_6_core_profiles_gets_a_call_error(
    central, start_station
):
    from ocpp.exceptions import NotImplementedError as OcppNotImplemented

    await start_station()

    with pytest.raises(OcppNotImplemented):
        await central.call(
            "SIM001",
            call.GetLog(log={"remoteLocation": "x"}, log_type="DiagnosticsLog", request_id=1),
        )


def test_every_operation_with_follow_up_work_releases_it_once_answered():
    """Follow-ups wait for the answer to leave (the @after hook opens their gate); without
    the hook they would only start after a 2 s grace period."""
    import inspect

    from simulator import SimulatedStation
    from tests.simulator.conftest import fast_config

    station = SimulatedStation(fast_config("ws://127.0.0.1:9/ocpp"))
    gated = [
        action
        for action, route in station.route_map.items()
        if "_on_action" in route
        and any(m in inspect.getsource(route["_on_action"]) for m in ("_follow_up(", "_gate("))
    ]

    assert len(gated) >= 10
    assert [a for a in gated if "_after_action" not in station.route_map[a]] == []
