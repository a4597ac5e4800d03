"""The call queue on its own, with fakes for the socket, the committer, the command services
and the channel layer: one call in flight, answers matched by unique id, timeouts, close."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from ocpp_gateway.call_queue import CallQueue, CommandServices

# The longest a test waits for the queue to do something it should do at once.
WAIT_SECONDS = 2.0


class Fakes:
    """The queue's collaborators. ``record`` lists the command transitions in the order their
    jobs ran; ``frames`` the CALLs the station received."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[list[Any]] = asyncio.Queue()
        self.record: list[tuple[Any, ...]] = []
        self.notified: list[tuple[str, Any]] = []
        self.jobs = 0
        self.stored: dict[Any, SimpleNamespace] = {}  # what mark_sent reads, by command id
        self.final: set[Any] = set()  # commands mark_sent finds already closed
        self.send_failures: list[Exception] = []
        self.notify_failures: list[Exception] = []

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.jobs += 1
        await asyncio.sleep(0)  # the committer answers on a later loop step
        return fn(*args)

    async def send(self, text: str, action: str, message_id: str) -> None:
        if self.send_failures:
            raise self.send_failures.pop(0)
        frame = json.loads(text)
        assert (frame[1], frame[2]) == (message_id, action)
        self.frames.put_nowait(frame)

    async def notify(self, channel: str, message: dict[str, Any]) -> None:
        if self.notify_failures:
            raise self.notify_failures.pop(0)
        assert message["type"] == "ocpp.command_done"
        self.notified.append((channel, message["command_id"]))

    def services(self) -> CommandServices:
        def mark_sent(*, command_id: Any) -> Any:
            self.record.append(("sent", command_id))
            if command_id in self.final:
                return None
            return self.stored.get(command_id, SimpleNamespace(pk=command_id))

        def fail(*, command_id: Any, description: str) -> None:
            self.record.append(("failed", command_id, description))

        def mark_timed_out(*, command_id: Any) -> None:
            self.record.append(("timed_out", command_id))

        def record_answer(*, command_id: Any, **answer: Any) -> None:
            self.record.append(("answered", command_id, answer))

        return CommandServices(
            mark_sent=mark_sent,
            fail=fail,
            mark_timed_out=mark_timed_out,
            record_answer=record_answer,
        )


@pytest.fixture
async def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
async def queue(fakes: Fakes) -> AsyncIterator[CallQueue]:
    calls = CallQueue(
        name="CP1",
        run=fakes.run,
        send=fakes.send,
        notify=fakes.notify,
        commands=fakes.services(),
    )
    calls.start()
    yield calls
    await calls.close()  # stops its sender task


def event(
    command_id: int,
    action: str = "ClearCache",
    request: dict[str, Any] | None = None,
    *,
    seconds: float = 5.0,
) -> dict[str, Any]:
    """An ocpp.call event as ocpp_gateway.calls sends it, due in ``seconds``."""
    return {
        "command_id": command_id,
        "reply_channel": f"reply!{command_id}",
        "action": action,
        "request": request if request is not None else {},
        "deadline": time.time() + seconds,
    }


def result(message_id: str, payload: Any) -> tuple[list[Any], str]:
    frame = [3, message_id, payload]
    return frame, json.dumps(frame)


async def next_frame(fakes: Fakes) -> list[Any]:
    return await asyncio.wait_for(fakes.frames.get(), WAIT_SECONDS)


async def nothing_sent(fakes: Fakes, seconds: float = 0.1) -> bool:
    await asyncio.sleep(seconds)
    return fakes.frames.empty()


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the queue"
        await asyncio.sleep(0.005)


async def test_it_sends_one_call_at_a_time_in_the_order_queued(queue, fakes):
    for command_id in (1, 2, 3):
        queue.enqueue(event(command_id))

    sent = []
    for _ in range(3):
        frame = await next_frame(fakes)
        sent.append(frame[1])
        # The next call waits for this one's answer.
        assert await nothing_sent(fakes)
        assert queue.answer(*result(frame[1], {"status": "Accepted"})) == "ClearCache"

    assert sent == ["1", "2", "3"]
    await until(lambda: len(fakes.notified) == 3)
    assert fakes.notified == [("reply!1", 1), ("reply!2", 2), ("reply!3", 3)]


async def test_it_matches_an_answer_by_its_unique_id(queue, fakes):
    queue.enqueue(event(1, "Reset", {"type": "Soft"}))
    frame = await next_frame(fakes)
    assert frame == [2, "1", "Reset", {"type": "Soft"}]

    assert queue.answer(*result("2", {"status": "Rejected"})) is None
    assert queue.answer(*result("1", {"status": "Accepted"})) == "Reset"
    await until(lambda: fakes.notified == [("reply!1", 1)])

    assert fakes.record == [("sent", 1), ("answered", 1, {"response": {"status": "Accepted"}})]


async def test_it_ignores_and_logs_an_answer_no_call_is_waiting_for(queue, fakes, caplog):
    caplog.set_level(logging.WARNING, logger="ocpp_gateway.call_queue")

    assert queue.answer(*result("42", {"status": "Accepted"})) is None

    assert 'CP1 answered a call we are not waiting for: [3, "42"' in caplog.text
    await asyncio.sleep(0.05)
    assert fakes.record == []
    assert fakes.notified == []


async def test_it_times_out_a_call_and_sends_the_next(queue, fakes):
    queue.enqueue(event(1, seconds=0.1))
    queue.enqueue(event(2))

    assert (await next_frame(fakes))[1] == "1"
    assert (await next_frame(fakes))[1] == "2"  # no answer to 1 needed
    # The claim of call 2 commits while its frame goes out: wait for it, not for a loop step.
    await until(lambda: ("sent", 2) in fakes.record)

    assert fakes.record == [("sent", 1), ("timed_out", 1), ("sent", 2)]
    assert fakes.notified == [("reply!1", 1)]


async def test_it_ignores_and_logs_an_answer_that_comes_after_the_timeout(queue, fakes, caplog):
    caplog.set_level(logging.WARNING, logger="ocpp_gateway.call_queue")
    queue.enqueue(event(1, seconds=0.1))
    await next_frame(fakes)
    await until(lambda: fakes.notified == [("reply!1", 1)])

    assert queue.answer(*result("1", {"status": "Accepted"})) is None

    assert "answered a call we are not waiting for" in caplog.text
    await asyncio.sleep(0.05)
    assert fakes.record == [("sent", 1), ("timed_out", 1)]


async def test_it_does_not_send_a_call_whose_deadline_passed_while_queued(queue, fakes):
    queue.enqueue(event(1, seconds=-1))
    queue.enqueue(event(2))

    assert (await next_frame(fakes))[1] == "2"
    # The claim alone: the real command_mark_sent marks it timed out.
    assert fakes.record[0] == ("sent", 1)
    assert ("timed_out", 1) not in fakes.record
    assert fakes.notified == [("reply!1", 1)]


async def test_it_reads_the_call_from_the_command_when_the_event_lacks_it(queue, fakes):
    fakes.stored[7] = SimpleNamespace(
        action="Reset",
        request={"type": "Hard"},
        deadline=datetime.now(UTC) + timedelta(seconds=5),
    )

    queue.enqueue({"command_id": 7, "reply_channel": "reply!7"})

    assert await next_frame(fakes) == [2, "7", "Reset", {"type": "Hard"}]
    assert fakes.record == [("sent", 7)]


async def test_it_skips_a_command_already_final_when_the_event_lacks_the_call(queue, fakes):
    fakes.final.add(7)

    queue.enqueue({"command_id": 7, "reply_channel": "reply!7"})

    assert await nothing_sent(fakes)
    assert fakes.record == [("sent", 7)]
    assert fakes.notified == [("reply!7", 7)]


async def test_it_does_not_store_an_answer_to_a_command_closed_meanwhile(queue, fakes):
    fakes.final.add(1)  # e.g. the sweeper timed it out just as the call went out
    queue.enqueue(event(1))
    await next_frame(fakes)

    assert queue.answer(*result("1", {"status": "Accepted"})) == "ClearCache"

    await until(lambda: fakes.notified == [("reply!1", 1)])
    assert fakes.record == [("sent", 1)]


async def test_it_stores_a_callerror_as_the_commands_error(queue, fakes):
    queue.enqueue(event(1))
    await next_frame(fakes)

    frame = [4, "1", "NotSupported", "No cache here", {"why": "none"}]
    assert queue.answer(frame, json.dumps(frame)) == "ClearCache"

    await until(lambda: len(fakes.record) == 2)
    assert fakes.record[1] == (
        "answered",
        1,
        {
            "error_code": "NotSupported",
            "error_description": "No cache here",
            "error_details": {"why": "none"},
        },
    )


async def test_it_stores_an_answer_that_breaks_the_schema_as_an_error(queue, fakes):
    queue.enqueue(event(1))
    await next_frame(fakes)

    queue.answer(*result("1", {"status": "Bogus"}))

    await until(lambda: len(fakes.record) == 2)
    kind, command_id, answer = fakes.record[1]
    assert (kind, command_id) == ("answered", 1)
    assert answer["error_code"] == "PropertyConstraintViolation"
    assert answer["error_description"].startswith("Station answered with an invalid payload: ")
    assert answer["error_details"] == {"response": {"status": "Bogus"}}


async def test_it_fails_a_call_it_could_not_send_and_sends_the_next(queue, fakes):
    fakes.send_failures.append(ConnectionResetError("socket closed"))
    queue.enqueue(event(1))
    queue.enqueue(event(2))

    assert (await next_frame(fakes))[1] == "2"

    assert fakes.record[:2] == [
        ("sent", 1),
        ("failed", 1, "Could not send the call: socket closed"),
    ]
    assert fakes.notified == [("reply!1", 1)]


async def test_it_keeps_sending_when_an_issuer_cannot_be_told(queue, fakes, caplog):
    caplog.set_level(logging.WARNING, logger="ocpp_gateway.call_queue")
    fakes.notify_failures.append(RuntimeError("layer down"))
    queue.enqueue(event(1))
    queue.enqueue(event(2))

    queue.answer(*result((await next_frame(fakes))[1], {"status": "Accepted"}))

    assert (await next_frame(fakes))[1] == "2"
    assert "CP1: could not notify reply!1: layer down" in caplog.text


async def test_it_fails_the_call_in_flight_and_the_queued_ones_on_close(queue, fakes):
    for command_id in (1, 2, 3):
        queue.enqueue(event(command_id))
    await next_frame(fakes)
    await until(lambda: fakes.record == [("sent", 1)])
    jobs = fakes.jobs

    await queue.close(lambda: fakes.record.append(("offline",)))

    assert fakes.jobs == jobs + 1  # the caller's work and the failures commit together
    assert fakes.record[1:] == [
        ("offline",),
        ("failed", 1, "The station disconnected before answering."),
        ("failed", 2, "The station disconnected before the call was sent."),
        ("failed", 3, "The station disconnected before the call was sent."),
    ]
    assert fakes.notified == [("reply!1", 1), ("reply!2", 2), ("reply!3", 3)]
    # Nothing more goes out, and the answer to the failed call no longer counts.
    assert await nothing_sent(fakes)
    assert queue.answer(*result("1", {"status": "Accepted"})) is None


async def test_it_fails_only_the_queued_calls_on_close_when_none_is_in_flight(fakes):
    calls = CallQueue(
        name="CP1", run=fakes.run, send=fakes.send, notify=fakes.notify, commands=fakes.services()
    )
    calls.enqueue(event(1))  # never started: the socket was not accepted

    await calls.close()

    assert fakes.record == [("failed", 1, "The station disconnected before the call was sent.")]
    assert fakes.notified == [("reply!1", 1)]


async def test_it_sends_nothing_after_close(queue, fakes):
    queue.enqueue(event(1))
    queue.answer(*result((await next_frame(fakes))[1], {"status": "Accepted"}))
    await until(lambda: fakes.notified == [("reply!1", 1)])  # idle: no call in flight

    await queue.close()
    queue.enqueue(event(2))

    assert await nothing_sent(fakes)


async def test_it_fails_rather_than_sends_a_stored_call_whose_secret_was_masked(queue, fakes):
    # The database keeps an AuthorizationKey masked; only the issuer's event had it whole.
    fakes.stored[7] = SimpleNamespace(
        action="ChangeConfiguration",
        request={"key": "AuthorizationKey", "value": "***"},
        deadline=datetime.now(UTC) + timedelta(seconds=5),
    )

    queue.enqueue({"command_id": 7, "reply_channel": "reply!7"})

    assert await nothing_sent(fakes)
    assert fakes.record[0] == ("sent", 7)
    assert fakes.record[1][:2] == ("failed", 7)
