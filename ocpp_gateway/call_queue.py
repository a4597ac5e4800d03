"""Calls from the central system to one station, one at a time.

OCPP-J allows one outstanding CALL per direction, so each connected station has a
:class:`CallQueue`: call events (``ocpp.call`` from ocpp_gateway.calls, any process) are queued
with :meth:`CallQueue.enqueue` and go out in arrival order; the next leaves only once the one
in flight is answered, timed out or failed.

The contract, per event ``{"command_id", "reply_channel"?, "action"?, "request"?, "deadline"?}``:

- The command is claimed (``mark_sent``) before or while its call goes out. An event that
  carries the call (action, request, deadline) is sent at once and the claim commits meanwhile;
  one without it is read from the claim first, and skipped if the command is already final.
  An event whose deadline has passed is not sent (the claim marks it timed out).
- The answer is the CALLRESULT/CALLERROR frame whose unique id is the command id, fed with
  :meth:`CallQueue.answer`; any other answer (unknown id, or late) is logged and ignored. A
  CALLERROR, or a CALLRESULT whose payload fails the action's schema, is stored as an error.
- No answer by the deadline: the command is marked timed out and the next call goes out.
  A call that could not be written to the socket is failed.
- :meth:`CallQueue.close` (the station disconnected) fails the call in flight and every queued
  one at once, in one database job, so their issuers need not wait for the deadline.
- After each call, and for each call failed by close, the issuer is told on its
  ``reply_channel`` (``ocpp.command_done``); it then reads the stored command.

Database work goes through ``run`` (the group committer's ``run``), which runs jobs in the
order they were submitted: that is what lets a claim and the answer that follows it, or an
answer and a close that follows it, be submitted without waiting for each other.
Collaborators are injected so the queue can be unit-tested without a socket or database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from csms.redaction import MASK
from csms.services.commands import (
    command_fail,
    command_mark_sent,
    command_mark_timed_out,
    command_record_answer,
)
from ocpp_gateway import protocol
from ocpp_gateway.operations import REDACTING_ACTIONS, response_redacted
from ocpp_gateway.schemas import OcppError, validate_response

logger = logging.getLogger(__name__)

# ``run(fn, *args)``: run the sync ``fn(*args)`` as a database job, return its result.
Run = Callable[..., Awaitable[Any]]
# ``send(text, action, message_id)``: write a CALL frame to the station (and log it).
Send = Callable[[str, str, str], Awaitable[None]]
# ``notify(channel, message)``: a channel-layer send, to tell an issuer its command is done.
Notify = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class CommandServices:
    """The command-lifecycle services (csms.services.commands) the queue moves a command
    through; each is called inside a ``run`` job. Fakes replace them in unit tests."""

    mark_sent: Callable[..., Any] = command_mark_sent
    fail: Callable[..., Any] = command_fail
    mark_timed_out: Callable[..., Any] = command_mark_timed_out
    record_answer: Callable[..., Any] = command_record_answer


def _call_of(event: dict[str, Any]) -> tuple[str, dict[str, Any], float] | None:
    """(action, request, deadline as epoch seconds) when the ocpp.call event carries them
    (ocpp_gateway.calls sends them, saving a database read before the call goes out)."""
    action, request, deadline = event.get("action"), event.get("request"), event.get("deadline")
    if isinstance(action, str) and isinstance(request, dict) and isinstance(deadline, float):
        return action, request, deadline
    return None


def _masked(action: str, request: dict[str, Any]) -> bool:
    """Whether a stored request had secrets masked (so it cannot be sent as it is)."""
    return action in REDACTING_ACTIONS and MASK in protocol.dumps(request)


def _nothing() -> None:
    return None


class CallQueue:
    """The outgoing calls of one station's connection. ``name`` (its identity) prefixes logs."""

    def __init__(
        self,
        *,
        name: str,
        run: Run,
        send: Send,
        notify: Notify,
        commands: CommandServices | None = None,
    ) -> None:
        self.name = name
        self._run = run
        self._send = send
        self._notify = notify
        self._commands = commands or CommandServices()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._awaiting: tuple[str, asyncio.Future[list[Any]]] | None = None
        self._awaiting_action = ""
        self._in_flight: dict[str, Any] | None = None
        self._sender: asyncio.Task[None] | None = None

    # --- Interface --------------------------------------------------------------------------

    def start(self) -> None:
        """Start sending (once the socket is accepted); events enqueued before wait for it."""
        self._sender = asyncio.get_running_loop().create_task(self._send_calls())

    def enqueue(self, event: dict[str, Any]) -> None:
        """Queue a call event. Never waits: the caller must keep reading frames (the answer
        among them) while a call is outstanding."""
        self._outbox.put_nowait(event)

    def answer(self, frame: list[Any], text: str) -> str | None:
        """Feed a CALLRESULT/CALLERROR ``frame`` (``text``: as received, for the log). Returns
        the action of the call it answers, or None when no call is waiting for its id (an
        unknown or late answer: logged and ignored)."""
        message_id = protocol.readable_message_id(frame)
        awaiting = self._awaiting
        if awaiting is not None and awaiting[0] == message_id and not awaiting[1].done():
            awaiting[1].set_result(frame)
            return self._awaiting_action
        logger.warning("%s answered a call we are not waiting for: %.200s", self.name, text)
        return None

    async def close(self, before: Callable[[], object] = _nothing) -> None:
        """The station is gone: stop sending, fail the call in flight and the queued ones, then
        tell their issuers. ``before`` is the caller's own database work (marking the station
        offline), run first in the same job so both commit, or fail, together."""
        if self._sender is not None:
            self._sender.cancel()
        if self._awaiting is not None and not self._awaiting[1].done():
            self._awaiting[1].cancel()
        # The call in flight (sent, or being claimed) and those still queued end as failed now,
        # not at their timeout: their issuers learn at once. An answer stored just before
        # makes the fail a no-op; the committer runs jobs in order, so it is seen.
        in_flight = self._in_flight
        undelivered = []
        while not self._outbox.empty():
            undelivered.append(self._outbox.get_nowait())
        fail = self._commands.fail

        def went_offline() -> None:
            before()
            if in_flight is not None:
                fail(
                    command_id=in_flight["command_id"],
                    description="The station disconnected before answering.",
                )
            for event in undelivered:
                fail(
                    command_id=event["command_id"],
                    description="The station disconnected before the call was sent.",
                )

        await self._run(went_offline)
        for event in [in_flight, *undelivered]:
            if event is not None:
                await self._notify_issuer(event)

    # --- The state machine ------------------------------------------------------------------

    async def _send_calls(self) -> None:
        # OCPP-J allows one outstanding CALL per direction: send, await answer, next.
        while True:
            event = await self._outbox.get()
            self._in_flight = event
            try:
                await self._perform_call(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The command id only: the event carries the whole request, secrets included.
                logger.exception(
                    "%s: sending command %s failed", self.name, event.get("command_id")
                )
            self._in_flight = None
            await self._notify_issuer(event)

    async def _perform_call(self, event: dict[str, Any]) -> None:
        command_id = event["command_id"]
        commands = self._commands
        sent = self._run(lambda: commands.mark_sent(command_id=command_id))
        call = _call_of(event)
        if call is None:
            # An event without the call itself: read it (claiming the command) first.
            command = await sent
            if command is None:  # already final: timed out while queued, or a duplicate
                return
            if _masked(command.action, command.request):
                # Its secrets were never stored: sending the masked copy would, say, set the
                # station's password to the mask. Only the issuer's event had them.
                reason = "The call's secrets are not stored; send the command again."
                await self._run(lambda: commands.fail(command_id=command_id, description=reason))
                return
            deadline = command.deadline.timestamp()
            call = (command.action, command.request, deadline)
            claim: asyncio.Future[Any] | None = None
        elif time.time() >= call[2]:
            await sent  # marks it timed out while queued
            return
        else:
            # The event carries the call: send it now and let the claim (state "sent") commit
            # meanwhile; the committer runs jobs in order, so the answer is stored after it.
            claim = asyncio.ensure_future(sent)
        action, request, deadline = call
        message_id = str(command_id)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._awaiting = (message_id, future)
        self._awaiting_action = action
        try:
            try:
                await self._send(protocol.call(message_id, action, request), action, message_id)
            except Exception as exc:
                logger.warning("%s: could not send %s: %s", self.name, action, exc)
                reason = f"Could not send the call: {exc}"
                if claim is not None:
                    await claim
                await self._run(lambda: commands.fail(command_id=command_id, description=reason))
                return
            answer = await asyncio.wait_for(future, timeout=max(deadline - time.time(), 0.01))
        except TimeoutError:
            if claim is not None:
                await claim
            await self._run(lambda: commands.mark_timed_out(command_id=command_id))
            return
        finally:
            self._awaiting = None
        if claim is not None and await claim is None:
            return  # closed meanwhile (timed out or failed elsewhere): the answer is late
        await self._run(self._store_answer, command_id, action, answer)

    def _store_answer(self, command_id: Any, action: str, answer: list[Any]) -> None:
        # Runs inside a database job.
        record_answer = self._commands.record_answer
        if answer[0] == protocol.CALLERROR:
            details = answer[4] if len(answer) > 4 and isinstance(answer[4], dict) else {}
            code = str(answer[2]) if len(answer) > 2 and answer[2] else "GenericError"
            record_answer(
                command_id=command_id,
                error_code=code,
                error_description=str(answer[3]) if len(answer) > 3 else "",
                error_details=details,
            )
            return
        payload = answer[2] if len(answer) > 2 else None
        try:
            validate_response(action, payload)
        except OcppError as exc:
            payload = response_redacted(action, payload)
            record_answer(
                command_id=command_id,
                error_code=exc.code,
                error_description=f"Station answered with an invalid payload: {exc.description}",
                error_details={"response": payload},
            )
            return
        # Stored, shown and applied with its secrets masked (a station that reports its
        # write-only AuthorizationKey in GetConfiguration).
        record_answer(command_id=command_id, response=response_redacted(action, payload))

    async def _notify_issuer(self, event: dict[str, Any]) -> None:
        reply_channel = event.get("reply_channel")
        if not reply_channel:
            return
        try:
            await self._notify(
                reply_channel, {"type": "ocpp.command_done", "command_id": event["command_id"]}
            )
        except Exception as exc:  # the issuer reads the stored Command at its deadline anyway
            logger.warning("%s: could not notify %s: %s", self.name, reply_channel, exc)
