"""DataTransfer from a station: stored, and answered by vendor handlers from a registry."""

from __future__ import annotations

import pytest

from csms.models import DataTransfer
from ocpp_gateway import handlers
from ocpp_gateway.handlers import register_data_transfer_handler
from tests.factories import make_charge_point
from tests.ocpp_gateway.support import assert_result, db, send

pytestmark = pytest.mark.django_db(transaction=True)

VENDOR = "com.example.chargers"  # as in tests/fixtures/ocpp/data_transfer.json


@pytest.fixture(autouse=True)
def registry(monkeypatch):
    """A registry of our own, so handlers registered here do not leak into other tests."""
    fresh: dict = {}
    monkeypatch.setattr(handlers, "DATA_TRANSFER_HANDLERS", fresh)
    return fresh


@pytest.fixture
async def station(connect_station):
    await db(make_charge_point)(identity="CP1")
    return await connect_station("CP1")


async def test_an_unknown_vendor_is_answered_unknown_vendor_id_and_stored(station):
    result = assert_result(await send(station, "data_transfer"), "9001")

    assert result == {"status": "UnknownVendorId"}
    stored = await DataTransfer.objects.select_related("charge_point").aget()
    assert stored.charge_point.identity == "CP1"
    assert stored.direction == "in"
    assert stored.vendor_id == VENDOR
    assert stored.message_id == "TempReport"
    assert stored.data == '{"board":41.5,"plug":33.0}'
    assert stored.response_status == "UnknownVendorId"


async def test_a_registered_handler_answers_with_its_status_and_data(station):
    seen = []

    @register_data_transfer_handler(VENDOR, "TempReport")
    def temperatures(ctx, message_id, data):
        seen.append((ctx.identity, message_id, data))
        return "Accepted", '{"ack":true}'

    result = assert_result(await send(station, "data_transfer"))

    assert result == {"status": "Accepted", "data": '{"ack":true}'}
    assert seen == [("CP1", "TempReport", '{"board":41.5,"plug":33.0}')]
    stored = await DataTransfer.objects.aget()
    assert (stored.response_status, stored.response_data) == ("Accepted", '{"ack":true}')


async def test_a_vendor_wide_handler_serves_every_message_id(station):
    @register_data_transfer_handler(VENDOR)
    def anything(ctx, message_id, data):
        return "Rejected", None

    result = assert_result(await send(station, "data_transfer", messageId="Other"))

    assert result == {"status": "Rejected"}


async def test_a_known_vendor_with_an_unknown_message_id_gets_unknown_message_id(station):
    @register_data_transfer_handler(VENDOR, "TempReport")
    def temperatures(ctx, message_id, data):
        return "Accepted", None

    result = assert_result(await send(station, "data_transfer", messageId="FirmwareHash"))

    assert result == {"status": "UnknownMessageId"}
    assert (await DataTransfer.objects.aget()).response_status == "UnknownMessageId"


async def test_vendor_ids_match_case_insensitively(station):
    # vendorId is a CiString255 in OCPP 1.6.
    @register_data_transfer_handler("COM.Example.Chargers", "TempReport")
    def temperatures(ctx, message_id, data):
        return "Accepted", None

    assert assert_result(await send(station, "data_transfer"))["status"] == "Accepted"


async def test_a_failing_vendor_handler_answers_rejected_and_keeps_the_message(station):
    @register_data_transfer_handler(VENDOR)
    def broken(ctx, message_id, data):
        raise RuntimeError("vendor integration is down")

    result = assert_result(await send(station, "data_transfer"))

    assert result == {"status": "Rejected"}
    stored = await DataTransfer.objects.aget()
    assert stored.response_status == "Rejected"
    assert stored.data == '{"board":41.5,"plug":33.0}'


async def test_a_data_transfer_without_message_id_or_data_is_stored(station):
    result = assert_result(await send(station, "data_transfer", messageId=..., data=...))

    assert result == {"status": "UnknownVendorId"}
    stored = await DataTransfer.objects.aget()
    assert (stored.message_id, stored.data) == ("", "")
