"""The WebSocket handshake: subprotocol, identity, unknown stations, Basic-auth credentials."""

from __future__ import annotations

import base64

import pytest

from csms.models import ChargePoint, ConnectionAttempt
from csms.station_auth import check_station_password
from tests.conftest import communicator_for
from tests.factories import make_charge_point
from tests.ocpp_gateway.support import db

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "s3cret-station-key-0001"


def basic(user: str, password: str) -> list[tuple[bytes, bytes]]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [(b"authorization", f"Basic {token}".encode())]


async def handshake(path_identity: str, **kwargs) -> tuple[bool, object]:
    communicator = communicator_for(path_identity, **kwargs)
    try:
        return await communicator.connect(timeout=5)
    finally:
        await communicator.disconnect()


async def attempts() -> list[tuple[str, str]]:
    return [(a.identity, a.reason) async for a in ConnectionAttempt.objects.order_by("id")]


# --- Subprotocol --------------------------------------------------------------------------


async def test_it_negotiates_the_ocpp16_subprotocol():
    await db(make_charge_point)(identity="CP1")

    connected, subprotocol = await handshake("CP1", subprotocols=["ocpp2.0.1", "ocpp1.6"])

    assert connected is True
    assert subprotocol == "ocpp1.6"


async def test_it_refuses_a_client_offering_only_other_subprotocols():
    await db(make_charge_point)(identity="CP1")

    connected, _ = await handshake("CP1", subprotocols=["ocpp2.0.1", "ocpp1.5"])

    assert connected is False
    assert await attempts() == [("CP1", ConnectionAttempt.Reason.SUBPROTOCOL)]
    assert (await ChargePoint.objects.aget(identity="CP1")).connected is False


@pytest.mark.parametrize(
    "offered",
    [
        "ocpp1.6.0",  # the QuecPython OCPP client's demo (project seed 004) sends exactly this
        "OCPP1.6",
        "ocpp1.6j",
        "OCPP1.6J",
        "Ocpp1.6.0J",
    ],
)
async def test_it_accepts_the_spellings_of_ocpp16_real_firmware_sends_and_echoes_it(offered):
    # RFC 6455 §4.1: the server must answer with one of the values offered; a client that gets
    # back a spelling it did not offer fails the connection, so the form offered is echoed.
    await db(make_charge_point)(identity="CP1")

    connected, subprotocol = await handshake("CP1", subprotocols=[offered])

    assert connected is True
    assert subprotocol == offered


async def test_it_prefers_the_spec_spelling_when_several_are_offered():
    await db(make_charge_point)(identity="CP1")

    connected, subprotocol = await handshake("CP1", subprotocols=["ocpp1.6j", "ocpp1.6"])

    assert connected is True
    assert subprotocol == "ocpp1.6"


@pytest.mark.parametrize("offered", [["ocpp2.0.1"], ["ocpp1.5"], ["ocpp1.61"], ["ocpp1.6x"]])
async def test_it_still_refuses_protocols_it_does_not_speak(offered):
    await db(make_charge_point)(identity="CP1")

    connected, _ = await handshake("CP1", subprotocols=offered)

    assert connected is False
    assert await attempts() == [("CP1", ConnectionAttempt.Reason.SUBPROTOCOL)]


async def test_it_accepts_an_empty_subprotocol_header_as_none_offered():
    # daphne turns "Sec-WebSocket-Protocol: " (present, empty) into [""].
    await db(make_charge_point)(identity="CP1")

    connected, subprotocol = await handshake("CP1", subprotocols=[""])

    assert connected is True
    assert subprotocol is None


async def test_it_accepts_a_charger_that_offers_no_subprotocol():
    # Decision: lenient. Some chargers omit Sec-WebSocket-Protocol; they still speak 1.6.
    await db(make_charge_point)(identity="CP1")

    connected, subprotocol = await handshake("CP1", subprotocols=[])

    assert connected is True
    assert subprotocol is None


# --- Identity ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path_identity",
    [
        "CP 1",  # space
        "C" * 49,  # longer than CiString48
        "",  # /ocpp/
        "a/b",  # nested path
        "-CP1",  # must start with a letter or digit
        "CP1?x",  # '?' is not an identity character (a literal one, not a query)
        "CP%2F1",  # an encoded slash
    ],
)
async def test_it_refuses_a_malformed_identity_and_records_it(path_identity):
    connected, _ = await handshake(path_identity.replace("?", "%3F"))

    assert connected is False
    recorded = await attempts()
    assert len(recorded) == 1
    assert recorded[0][1] == ConnectionAttempt.Reason.MALFORMED
    assert await ChargePoint.objects.acount() == 0


async def test_it_accepts_the_longest_valid_identity():
    identity = "A" + "b.c_d:e-" * 5 + "X" * 7  # 48 characters
    assert len(identity) == 48
    await db(make_charge_point)(identity=identity)

    connected, _ = await handshake(identity)

    assert connected is True


async def test_it_refuses_a_path_outside_ocpp():
    await db(make_charge_point)(identity="CP1")
    from channels.testing import WebsocketCommunicator

    from csms.asgi import application

    communicator = WebsocketCommunicator(application, "/ws/CP1", subprotocols=["ocpp1.6"])
    connected, _ = await communicator.connect(timeout=5)
    await communicator.disconnect()

    assert connected is False
    recorded = await ConnectionAttempt.objects.aget()
    assert recorded.reason == ConnectionAttempt.Reason.MALFORMED
    assert "/ws/CP1" in f"{recorded.identity} {recorded.detail}"


# --- Unknown identities ---------------------------------------------------------------------


async def test_it_refuses_an_unknown_identity_when_unknown_stations_are_not_allowed(settings):
    settings.OCPP_ALLOW_UNKNOWN_CHARGE_POINTS = False

    connected, _ = await handshake("NEW-CP-7")

    assert connected is False
    assert await attempts() == [("NEW-CP-7", ConnectionAttempt.Reason.UNKNOWN)]
    assert not await ChargePoint.objects.filter(identity="NEW-CP-7").aexists()


async def test_it_registers_an_unknown_identity_when_unknown_stations_are_allowed(settings):
    settings.OCPP_ALLOW_UNKNOWN_CHARGE_POINTS = True

    connected, _ = await handshake("NEW-CP-7")

    assert connected is True
    station = await ChargePoint.objects.aget(identity="NEW-CP-7")
    assert station.registration_status == "Accepted"
    assert await attempts() == []


# --- Credentials (security profile 1) ------------------------------------------------------


async def _station_with_password() -> ChargePoint:
    return await db(make_charge_point)(identity="CP-SEC", password=PASSWORD)


async def test_it_accepts_correct_basic_credentials():
    await _station_with_password()

    connected, _ = await handshake("CP-SEC", headers=basic("CP-SEC", PASSWORD))

    assert connected is True
    assert await attempts() == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([], id="missing"),
        pytest.param(basic("CP-SEC", PASSWORD + "x"), id="wrong-password"),
        pytest.param(basic("CP-OTHER", PASSWORD), id="wrong-username"),
        pytest.param([(b"authorization", b"Basic !!!not-base64")], id="garbage"),
        pytest.param([(b"authorization", b"Bearer " + PASSWORD.encode())], id="other-scheme"),
    ],
)
async def test_it_refuses_and_records_bad_credentials(headers):
    await _station_with_password()

    connected, _ = await handshake("CP-SEC", headers=headers)

    assert connected is False
    assert await attempts() == [("CP-SEC", ConnectionAttempt.Reason.BAD_CREDENTIALS)]
    station = await ChargePoint.objects.aget(identity="CP-SEC")
    assert station.connected is False


async def test_it_never_stores_the_password_in_clear():
    station = await _station_with_password()

    assert PASSWORD not in station.password_hash
    assert station.has_password


async def test_a_station_without_password_connects_without_credentials():
    await db(make_charge_point)(identity="CP-OPEN")

    connected, _ = await handshake("CP-OPEN")

    assert connected is True


# --- Hashes of earlier schemes and secret keys ---------------------------------------------


def _legacy_hash(password: str) -> str:
    """What stations registered before keyed hashes have: an unkeyed, salted SHA-256."""
    import hashlib

    salt = "cd" * 16
    return f"sha256${salt}${hashlib.sha256((salt + password).encode()).hexdigest()}"


async def test_it_accepts_a_legacy_hash_and_upgrades_it_on_the_next_successful_login():
    await db(make_charge_point)(identity="CP-OLD", password_hash=_legacy_hash(PASSWORD))

    refused, _ = await handshake("CP-OLD", headers=basic("CP-OLD", PASSWORD + "x"))
    assert (await ChargePoint.objects.aget(identity="CP-OLD")).password_hash.startswith("sha256$")
    connected, _ = await handshake("CP-OLD", headers=basic("CP-OLD", PASSWORD))

    assert refused is False and connected is True
    stored = (await ChargePoint.objects.aget(identity="CP-OLD")).password_hash
    assert stored.startswith("hmac-sha256$")
    assert check_station_password(PASSWORD, stored)
    connected_again, _ = await handshake("CP-OLD", headers=basic("CP-OLD", PASSWORD))
    assert connected_again is True


async def test_it_rehashes_with_the_current_secret_a_hash_made_with_a_fallback_one(settings):
    settings.SECRET_KEY = "the-secret-before-rotation-" * 2
    await _station_with_password()
    settings.SECRET_KEY = "the-secret-after-rotation-" * 2
    settings.SECRET_KEY_FALLBACKS = ["the-secret-before-rotation-" * 2]

    connected, _ = await handshake("CP-SEC", headers=basic("CP-SEC", PASSWORD))

    assert connected is True
    settings.SECRET_KEY_FALLBACKS = []
    stored = (await ChargePoint.objects.aget(identity="CP-SEC")).password_hash
    assert check_station_password(PASSWORD, stored)
