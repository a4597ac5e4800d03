"""DataTransfer from the central system (ocpp_gateway.operations.data_transfer), through the
API to a simulated station and back: kept as an outgoing transfer with the station's answer."""

from __future__ import annotations

import pytest

from csms.models import DataTransfer
from tests.remote_ops.conftest import round_trip

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "answer,kept",
    [
        pytest.param({"status": "Accepted", "data": "ok"}, ("Accepted", "ok"), id="Accepted"),
        pytest.param({"status": "UnknownVendorId"}, ("UnknownVendorId", ""), id="UnknownVendorId"),
    ],
)
async def test_it_keeps_the_transfer_as_outgoing_with_the_answer(
    online_station, operator_api, answer, kept
):
    station = await online_station("CP1")
    response, _ = await round_trip(
        operator_api,
        station,
        "CP1",
        "DataTransfer",
        {"vendorId": "com.example", "messageId": "SetPrice", "data": '{"price": 0.35}'},
        answer,
    )

    assert response.json()["state"] == "answered"
    stored = await DataTransfer.objects.aget()
    assert stored.direction == DataTransfer.Direction.OUT
    assert (stored.vendor_id, stored.message_id, stored.data) == (
        "com.example",
        "SetPrice",
        '{"price": 0.35}',
    )
    assert (stored.response_status, stored.response_data) == kept
