"""Configuration keys (ocpp_gateway.operations.configuration): GetConfiguration and
ChangeConfiguration, through the API to a simulated station and back, and what each answer
leaves in the station's configuration snapshot."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from channels.db import database_sync_to_async

from csms.models import ChargePoint, Command, MessageLog
from tests.conftest import communicator_for
from tests.factories import make_charge_point
from tests.ocpp_gateway.support import drain
from tests.remote_ops.conftest import (
    api_get,
    api_post,
    command_url,
    in_worker_thread,
    round_trip,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "before,key,value,status,after,reboot_required",
    [
        pytest.param(
            {"HeartbeatInterval": {"value": "900", "readonly": False}},
            "HeartbeatInterval",
            "300",
            "Accepted",
            {"HeartbeatInterval": {"value": "300", "readonly": False}},
            False,
            id="Accepted: the snapshot has the new value",
        ),
        pytest.param(
            {},
            "WebSocketPingInterval",
            "60",
            "RebootRequired",
            {"WebSocketPingInterval": {"value": "60", "readonly": False}},
            True,
            id="RebootRequired: the new value, and the reboot is noted",
        ),
        pytest.param(
            {"X": {"value": "1", "readonly": True}},
            "X",
            "2",
            "Rejected",
            {"X": {"value": "1", "readonly": True}},
            False,
            id="Rejected: the snapshot is left as it was",
        ),
    ],
)
async def test_it_records_a_change_the_station_takes_and_not_one_it_refuses(
    online_station, operator_api, before, key, value, status, after, reboot_required
):
    station = await online_station("CP1", configuration=before)
    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "ChangeConfiguration",
        {"key": key, "value": value},
        {"status": status},
    )

    assert frame[3] == {"key": key, "value": value}
    assert response.json()["state"] == "answered"
    assert response.json()["response"] == {"status": status}
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.configuration == after
    assert cp.reboot_required is reboot_required


@pytest.mark.parametrize(
    "before,request_payload,answer,after,unknown",
    [
        # A full read replaces the snapshot: keys the station no longer has disappear.
        pytest.param(
            {"Stale": {"value": "x", "readonly": False}},
            {},
            {
                "configurationKey": [
                    {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                    {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
                    {"key": "AuthorizationKey", "readonly": False},
                ],
                "unknownKey": [],
            },
            {
                "HeartbeatInterval": {"value": "300", "readonly": False},
                "NumberOfConnectors": {"value": "2", "readonly": True},
                "AuthorizationKey": {"value": None, "readonly": False},
            },
            [],
            id="every key: the snapshot is replaced",
        ),
        pytest.param(
            {"NumberOfConnectors": {"value": "2", "readonly": True}},
            {"key": ["HeartbeatInterval", "VendorMagic"]},
            {
                "configurationKey": [
                    {"key": "HeartbeatInterval", "readonly": False, "value": "60"}
                ],
                "unknownKey": ["VendorMagic"],
            },
            {
                "NumberOfConnectors": {"value": "2", "readonly": True},
                "HeartbeatInterval": {"value": "60", "readonly": False},
            },
            ["VendorMagic"],
            id="some keys: merged, and the unknown ones noted",
        ),
    ],
)
async def test_it_stores_the_configuration_the_station_reports(
    online_station, operator_api, before, request_payload, answer, after, unknown
):
    station = await online_station("CP1", configuration=before)
    response, _ = await round_trip(
        operator_api, station, "CP1", "GetConfiguration", request_payload, answer
    )

    assert response.json()["state"] == "answered"
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.configuration == after
    assert cp.configuration_unknown_keys == unknown
    assert cp.configuration_at is not None


# --- AuthorizationKey: the station's Basic-auth password ------------------------------------

OLD_PASSWORD = "the-old-station-password"
# 20 bytes, written as 40 hex digits (OCPP 1.6 security whitepaper); the password is the bytes.
NEW_KEY = "5b1e0c9d7a3f42e8b6d1c0a9f8e7d6c5b4a39281"
NEW_PASSWORD = bytes.fromhex(NEW_KEY)


def basic(identity: str, password: str | bytes) -> list[tuple[bytes, bytes]]:
    secret = password.encode() if isinstance(password, str) else password
    token = base64.b64encode(identity.encode() + b":" + secret)
    return [(b"authorization", b"Basic " + token)]


async def handshake(identity: str, password: str | bytes) -> bool:
    communicator = communicator_for(identity, headers=basic(identity, password))
    try:
        connected, _ = await communicator.connect(timeout=5)
        return connected
    finally:
        await communicator.disconnect()
        await drain()


async def station_with_password(connect_station, identity: str = "CP1"):
    await database_sync_to_async(make_charge_point)(identity=identity, password=OLD_PASSWORD)
    return await connect_station(identity, headers=basic(identity, OLD_PASSWORD))


async def everything_stored() -> str:
    """Every row a key could end up in, as text: commands, the message log, the station."""

    def dump() -> str:
        rows = [
            *Command.objects.values(),
            *MessageLog.objects.values(),
            *ChargePoint.objects.values(),
        ]
        return json.dumps(rows, default=str)

    return await database_sync_to_async(dump)()


def leaks(text: str) -> bool:
    return NEW_KEY.lower() in text.lower() or NEW_PASSWORD.decode("latin-1") in text


async def test_it_sends_the_authorization_key_whole_but_never_stores_or_shows_it(
    connect_station, operator_api, support_api
):
    station = await station_with_password(connect_station)

    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "ChangeConfiguration",
        {"key": "AuthorizationKey", "value": NEW_KEY},
        {"status": "Accepted"},
    )
    await drain()

    assert frame[3] == {"key": "AuthorizationKey", "value": NEW_KEY}  # the station gets it
    assert response.status_code == 200, response.content
    assert response.json()["request"] == {"key": "AuthorizationKey", "value": "***"}
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.configuration["AuthorizationKey"]["value"] == "***"
    assert cp.password_change_pending
    assert not leaks(await everything_stored())
    for client in (operator_api, support_api):
        for url in (
            "/api/v1/commands/",
            "/api/v1/charge-points/CP1/messages/",
            "/api/v1/charge-points/CP1/",
        ):
            shown = await api_get(client, url)
            assert shown.status_code == 200, (url, shown.content)
            assert not leaks(shown.content.decode()), url
    logged = (
        await MessageLog.objects.filter(direction="out", action="ChangeConfiguration").aget()
    ).payload
    assert '"value":"***"' in logged


@pytest.mark.parametrize(
    "status,new_works",
    [
        pytest.param("Accepted", True, id="Accepted: both work until the new one is used"),
        pytest.param("RebootRequired", True, id="RebootRequired: likewise, after its reboot"),
        pytest.param("Rejected", False, id="Rejected: only the old one"),
        pytest.param("NotSupported", False, id="NotSupported: only the old one"),
    ],
)
async def test_it_keeps_the_old_password_until_the_station_connects_with_the_new_one(
    connect_station, operator_api, status, new_works
):
    station = await station_with_password(connect_station)
    await round_trip(
        operator_api,
        station,
        "CP1",
        "ChangeConfiguration",
        {"key": "AuthorizationKey", "value": NEW_KEY},
        {"status": status},
    )
    await drain()

    # The station may reconnect with the old password before it applies the new one.
    assert await handshake("CP1", OLD_PASSWORD) is True
    assert await handshake("CP1", NEW_PASSWORD) is new_works
    # Once it has connected with the new one, the old one is over.
    assert await handshake("CP1", OLD_PASSWORD) is (not new_works)
    if new_works:
        assert await handshake("CP1", NEW_PASSWORD) is True
        # A charger that sends the key's hex digits instead of its bytes gets in too.
        assert await handshake("CP1", NEW_KEY) is True
        cp = await ChargePoint.objects.aget(identity="CP1")
        assert not cp.password_change_pending


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("not-hex-at-all-but-long-enough-40-chars!", id="not hex"),
        pytest.param("0123456789abcdef", id="8 bytes: too short"),
        pytest.param("0123456789abcdef0123456789abcdef0", id="odd number of digits"),
    ],
)
async def test_it_refuses_an_authorization_key_that_is_not_16_to_20_bytes_in_hex(
    connect_station, operator_api, value
):
    station = await station_with_password(connect_station)

    response = await api_post(
        operator_api,
        command_url("CP1"),
        {"action": "ChangeConfiguration", "payload": {"key": "AuthorizationKey", "value": value}},
    )

    assert response.status_code == 400
    assert "hex" in response.json()["detail"]
    assert await station.receive_nothing()
    assert not await Command.objects.aexists()


async def test_it_masks_an_authorization_key_a_station_reports_in_getconfiguration(
    online_station, operator_api
):
    # The key is write-only, but a station that reports it must not have it kept or shown.
    station = await online_station("CP1")
    response, _ = await round_trip(
        operator_api,
        station,
        "CP1",
        "GetConfiguration",
        {},
        {
            "configurationKey": [
                {"key": "AuthorizationKey", "readonly": False, "value": NEW_KEY},
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            ]
        },
    )
    await drain()

    assert response.json()["response"]["configurationKey"][0]["value"] == "***"
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.configuration == {
        "AuthorizationKey": {"value": "***", "readonly": False},
        "HeartbeatInterval": {"value": "300", "readonly": False},
    }
    assert not leaks(await everything_stored())


@pytest.mark.parametrize(
    "bad_value",
    [pytest.param(r'"\ud800"', id="lone surrogate"), pytest.param("1e999", id="non-finite")],
)
async def test_a_getconfiguration_answer_with_an_unstorable_value_still_masks_the_key(
    online_station, operator_api, bad_value
):
    # A hostile value elsewhere in the answer fails the command at once (item 12), but the
    # frame is still logged: its AuthorizationKey must be masked there too (item 4).
    station = await online_station("CP1")
    request = asyncio.ensure_future(
        api_post(operator_api, command_url("CP1"), {"action": "GetConfiguration", "payload": {}})
    )
    frame = await station.receive()
    await station.send_text(
        f'[3, "{frame[1]}", {{"configurationKey": ['
        f'{{"key": "AuthorizationKey", "readonly": false, "value": "{NEW_KEY}"}}, '
        f'{{"key": "Vendor", "readonly": true, "value": {bad_value}}}]}}]'
    )
    response = await asyncio.wait_for(request, timeout=10)
    await drain()

    assert response.json()["error_code"] == "TypeConstraintViolation"
    logged = await MessageLog.objects.filter(direction="in", action="GetConfiguration").aget()
    assert "***" in logged.payload
    assert not leaks(await everything_stored())


async def test_a_password_an_operator_sets_meanwhile_replaces_the_pending_key(
    connect_station, operator_api
):
    station = await station_with_password(connect_station)
    await round_trip(
        operator_api,
        station,
        "CP1",
        "ChangeConfiguration",
        {"key": "AuthorizationKey", "value": NEW_KEY},
        {"status": "Accepted"},
    )
    shown = await api_get(operator_api, "/api/v1/charge-points/CP1/")
    assert shown.json()["password_change_pending"] is True

    typed = "an-operator-typed-this-one"
    patched = await in_worker_thread(
        operator_api.patch, "/api/v1/charge-points/CP1/", {"password": typed}, format="json"
    )

    assert patched.status_code == 200
    assert patched.json()["password_change_pending"] is False
    assert await handshake("CP1", NEW_PASSWORD) is False
    assert await handshake("CP1", typed) is True
