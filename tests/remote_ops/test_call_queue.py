"""Calls to one station go out one at a time (OCPP-J), callers queue, and a station that goes
away fails what was waiting for it instead of leaving it pending."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from csms.models import ChargePoint, Command
from ocpp_gateway import calls
from ocpp_gateway.committer import get_committer
from tests.factories import make_charge_point
from tests.remote_ops.conftest import answer_call, api_post, command_url, in_worker_thread

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_second_call_goes_out_only_after_the_first_is_answered(
    online_station, operator_api, support_api
):
    station = await online_station("CP1")

    first = asyncio.ensure_future(
        api_post(operator_api, command_url("CP1"), {"action": "ClearCache", "payload": {}})
    )
    call1 = await station.receive()
    second = asyncio.ensure_future(
        api_post(support_api, command_url("CP1"), {"action": "Reset", "payload": {"type": "Soft"}})
    )
    # The second command is queued behind the first: nothing reaches the station yet.
    assert await station.receive_nothing(0.5)
    assert call1[2] == "ClearCache"
    await station.send_text(json.dumps([3, call1[1], {"status": "Accepted"}]))
    call2 = await answer_call(station, {"status": "Accepted"}, action="Reset")
    responses = await asyncio.gather(first, second)

    assert [r.json()["state"] for r in responses] == ["answered", "answered"]
    assert call1[1] != call2[1]
    first_command = await Command.objects.aget(action="ClearCache")
    second_command = await Command.objects.aget(action="Reset")
    assert second_command.sent_at >= first_command.completed_at


async def test_a_station_disconnecting_fails_the_waiting_and_the_queued_commands(
    online_station, operator_api, support_api
):
    station = await online_station("CP1")
    first = asyncio.ensure_future(
        api_post(operator_api, command_url("CP1"), {"action": "ClearCache", "payload": {}})
    )
    await station.receive()
    second = asyncio.ensure_future(
        api_post(support_api, command_url("CP1"), {"action": "Reset", "payload": {"type": "Soft"}})
    )
    await asyncio.sleep(0.3)  # let the second reach the station's queue

    await station.communicator.disconnect()
    responses = await asyncio.wait_for(asyncio.gather(first, second), timeout=4)

    bodies = sorted((r.json() for r in responses), key=lambda b: b["action"])
    assert [(b["action"], b["state"]) for b in bodies] == [
        ("ClearCache", "failed"),
        ("Reset", "failed"),
    ]
    assert bodies[0]["error_description"] == "The station disconnected before answering."
    assert bodies[1]["error_description"] == "The station disconnected before the call was sent."
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.connected is False


async def test_async_code_sends_with_acommand_send(online_station):
    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")

    sending = asyncio.ensure_future(
        calls.acommand_send(
            charge_point=cp, action="GetLocalListVersion", payload={}, source="task"
        )
    )
    await answer_call(station, {"listVersion": 0}, action="GetLocalListVersion")
    command = await sending

    assert command.state == Command.State.ANSWERED
    assert command.response == {"listVersion": 0}
    assert command.source == "task"
    assert command.issued_by_id is None


async def test_sending_without_waiting_returns_the_queued_command(online_station):
    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")

    command = await in_worker_thread(
        calls.command_send, charge_point=cp, action="ClearCache", payload={}, wait=False
    )

    assert command.state == Command.State.QUEUED
    await answer_call(station, {"status": "Accepted"}, action="ClearCache")
    for _ in range(100):  # the gateway stores the answer a moment after it arrives
        await get_committer().drain()
        await command.arefresh_from_db()
        if command.is_final:
            break
        await asyncio.sleep(0.02)
    assert command.state == Command.State.ANSWERED


async def test_a_command_sent_inside_a_transaction_leaves_after_commit(online_station):
    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")

    def send_in_transaction():
        with transaction.atomic():
            command = calls.command_send(
                charge_point=cp, action="ClearCache", payload={}, wait=False
            )
            # Waiting inside a transaction would deadlock: the gateway cannot see the row.
            with pytest.raises(RuntimeError):
                calls.command_send(charge_point=cp, action="ClearCache", payload={})
            return command

    command = await in_worker_thread(send_in_transaction)
    frame = await answer_call(station, {"status": "Accepted"}, action="ClearCache")

    assert frame[1] == str(command.pk)
    assert await Command.objects.acount() == 1


async def test_one_operation_to_several_stations_at_once(online_station):
    station1 = await online_station("CP1")
    station2 = await online_station("CP2")
    await database_sync_to_async(ChargePoint.objects.create)(identity="CP3")  # offline
    stations = [cp async for cp in ChargePoint.objects.order_by("identity")]

    sending = asyncio.ensure_future(
        in_worker_thread(
            calls.command_send_many,
            targets=[(cp, {"type": "Soft"}) for cp in stations],
            action="Reset",
            timeout=2,
        )
    )
    await answer_call(station2, {"status": "Rejected"}, action="Reset")
    await answer_call(station1, {"status": "Accepted"}, action="Reset")
    outcomes = await sending

    summary = [
        (
            o.charge_point.identity,
            o.command.response if o.command else None,
            type(o.error).__name__ if o.error else None,
        )
        for o in outcomes
    ]
    assert summary == [
        ("CP1", {"status": "Accepted"}, None),
        ("CP2", {"status": "Rejected"}, None),
        ("CP3", None, "StationOffline"),
    ]


async def test_a_gateway_that_never_reports_leaves_the_command_timed_out(operator_api, settings):
    """The station's socket is held by a process that died: the event goes nowhere."""
    settings.OCPP_COMMAND_TIMEOUT = 0.5
    await database_sync_to_async(make_charge_point)(
        identity="CP1",
        connected=True,
        ws_channel_name="specific.inmemory!deadprocess",
        last_seen=timezone.now(),
    )

    response = await api_post(operator_api, command_url("CP1"), {"action": "ClearCache"})

    assert response.status_code == 504
    command = await Command.objects.aget()
    assert command.state == Command.State.TIMED_OUT
    assert command.error_description == "The station's gateway did not report an answer in time."


async def test_a_command_sent_to_a_connection_that_is_gone_fails_within_a_second(operator_api):
    await database_sync_to_async(make_charge_point)(
        identity="CP1",
        connected=True,
        ws_channel_name="specific.inmemory!closing",
        last_seen=timezone.now(),
    )
    started = time.monotonic()
    request = asyncio.ensure_future(
        api_post(operator_api, command_url("CP1"), {"action": "ClearCache"})
    )
    for _ in range(500):  # until the command is stored and its call event sent
        if await Command.objects.aexists():
            break
        await asyncio.sleep(0.01)
    # The station reconnects elsewhere before the old consumer could take the call.
    await ChargePoint.objects.filter(identity="CP1").aupdate(
        ws_channel_name="specific.inmemory!newsocket"
    )
    response = await request

    assert time.monotonic() - started < 2.5
    assert response.json()["state"] == "failed"
    assert response.json()["error_description"] == (
        "The station disconnected before the call was sent."
    )


async def test_a_management_command_sends_through_the_same_path(online_station):
    from io import StringIO

    from django.core.management import call_command

    station = await online_station("CP1")
    out = StringIO()

    sending = asyncio.ensure_future(
        in_worker_thread(
            call_command, "ocpp_command", "CP1", "Reset", '{"type": "Hard"}', stdout=out
        )
    )
    frame = await answer_call(station, {"status": "Accepted"}, action="Reset")
    await sending

    assert frame[3] == {"type": "Hard"}
    printed = json.loads(out.getvalue())
    assert (printed["state"], printed["response"]) == ("answered", {"status": "Accepted"})
    command = await Command.objects.aget()
    assert command.source == "cli"
