"""A whole session through the real gateway (WebsocketCommunicator, group committer, real
OCPP frames): the tariff is frozen at StartTransaction, the cost so far shows while it runs,
and StopTransaction's commit bills it into the expected order. Late meter values re-price it
through an adjustment line."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from billing.models import Order, SessionPricing
from csms.models import Transaction
from tests.billing.orders.support import make_tariff, publish
from tests.factories import make_charge_point, make_id_tag, make_token, make_user
from tests.ocpp_gateway.support import assert_result, db, drain, frame, send

pytestmark = pytest.mark.django_db(transaction=True)

TAG = "04E91C5A123A80"


def meter_values(transaction_id: int, timestamp: str, kwh: str) -> list:
    built = frame("meter_values", transactionId=transaction_id)
    built[3]["meterValue"][0]["timestamp"] = timestamp
    built[3]["meterValue"][0]["sampledValue"][0]["value"] = kwh
    return built


async def test_it_bills_a_real_session_into_the_expected_order(connect_station, eager_celery):
    tariff = await db(make_tariff)(energy="0.40", time="1.20", vat="21")
    dana = await db(make_user)(username="dana-driver")
    await db(make_id_tag)(id_tag=TAG, user=dana)
    await db(make_charge_point)(identity="CP-BILL")
    station = await connect_station("CP-BILL")

    started = assert_result(await send(station, "start_transaction"))
    tx_id = started["transactionId"]
    await drain()
    snapshot = await SessionPricing.objects.aget(transaction_id=tx_id)
    assert snapshot.taken == SessionPricing.Taken.START and snapshot.currency == "EUR"
    assert snapshot.timezone == "UTC" and "default tariff" in snapshot.reason

    # The operator raises the price mid-session: this session keeps the price it started with.
    await db(publish)(tariff, energy="0.99", time="9.00", vat="21")
    # The fixture's samples are in kWh (the station's meterStart is in Wh).
    assert_result(await send(station, meter_values(tx_id, "2024-05-14T10:17:31Z", "1290.512")))

    operator = await db(make_user)(username="olivia-operator", role="operator")
    token = await db(make_token)(operator)
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    live = (await db(client.get)(f"/api/v1/transactions/{tx_id}/")).json()
    # 5.302 kWh at 0.40 and 15 min at 1.20/h: 2.1208 + 0.30.
    assert live["cost_so_far"] == {"excl_vat": "2.42", "incl_vat": "2.93", "currency": "EUR"}

    assert_result(await send(station, "stop_transaction", transactionId=tx_id))
    await drain()

    order = await Order.objects.select_related("driver").aget(transaction_id=tx_id)
    # 16.665 kWh over 1 h 9 min 30.908 s of charging.
    assert order.driver == dana and order.energy_kwh == Decimal("16.665")
    by_dimension = {line.dimension: line async for line in order.lines.all()}
    assert by_dimension["ENERGY"].amount_excl_vat == Decimal("6.67")  # 16.665 * 0.40 = 6.666
    assert by_dimension["ENERGY"].unit_price == Decimal("0.40")
    assert by_dimension["TIME"].unit_price == Decimal("1.20")
    assert order.state == Order.State.PENDING and order.currency == "EUR"
    assert order.total_excl_vat == Decimal(order.priced["total_cost"]["excl_vat"])
    assert order.total_excl_vat == Decimal("8.06")  # 6.666 + 1.389636 (1.158 h at 1.20)

    detail = (await db(client.get)(f"/api/v1/orders/{order.pk}/")).json()
    assert {line["dimension"] for line in detail["lines"]} == {"ENERGY", "TIME"}
    stopped = (await db(client.get)(f"/api/v1/transactions/{tx_id}/")).json()
    assert stopped["cost_so_far"]["excl_vat"] == "8.06"

    # The station flushes a queued reading after the stop: one order, an adjustment if any.
    late = meter_values(tx_id, "2024-05-14T10:40:00Z", "1295.000")
    assert_result(await send(station, late))
    await drain()
    assert await Order.objects.filter(transaction_id=tx_id).acount() == 1
    order = await Order.objects.aget(transaction_id=tx_id)
    assert order.priced_through_sample > 0
    lines = [line async for line in order.lines.all()]
    assert sum(line.amount_excl_vat for line in lines) == order.total_excl_vat


async def test_it_starts_the_session_when_billing_fails(connect_station, eager_celery, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("billing database is on fire")

    monkeypatch.setattr("billing.services.orders.frozen_tariff_at_start", broken)
    await db(make_charge_point)(identity="CP-BROKEN")
    station = await connect_station("CP-BROKEN")

    started = assert_result(await send(station, "start_transaction"))
    await drain()

    assert started["idTagInfo"]["status"] in ("Accepted", "Invalid")
    assert await Transaction.objects.filter(pk=started["transactionId"]).aexists()
    assert not await SessionPricing.objects.filter(
        transaction_id=started["transactionId"]
    ).aexists()
    answer = await send(station, "stop_transaction", transactionId=started["transactionId"])
    assert answer[0] == 3
    # The order failed too (no snapshot could be taken): recorded for the retry, not raised.
    await drain()
    from billing.models import BillingFailure

    assert await BillingFailure.objects.filter(transaction_id=started["transactionId"]).aexists()
    json.dumps(answer)
