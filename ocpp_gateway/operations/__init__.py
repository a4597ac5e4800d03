"""The 19 central-system operations of OCPP 1.6, one module per family.

Each module defines one :class:`~ocpp_gateway.operations.base.Operation` per action: what the
CSMS fills in before sending, what the station's answer does to stored state, what a call
that never completes undoes, and the examples. ``OPERATIONS`` maps every action to it; the
send path (ocpp_gateway.calls) and the command lifecycle's signals (below) are its only users.
"""

from __future__ import annotations

from typing import Any

from csms.models import Command
from ocpp_gateway.operations import (
    configuration,
    data_transfer,
    firmware_diagnostics,
    local_list,
    remote_control,
    reservations,
    smart_charging,
    trigger,
)
from ocpp_gateway.operations.base import Example, Operation, Payload

FAMILIES = (
    local_list,
    configuration,
    reservations,
    smart_charging,
    firmware_diagnostics,
    remote_control,
    trigger,
    data_transfer,
)
OPERATIONS: dict[str, Operation] = {
    operation.action: operation for family in FAMILIES for operation in family.OPERATIONS
}

# Actions whose requests or answers may carry secrets: the only ones whose frames the consumer
# reads again before logging them (a set lookup per frame for the others).
REDACTING_ACTIONS = frozenset(
    action
    for action, operation in OPERATIONS.items()
    if operation.redact is not None or operation.redact_response is not None
)

# (title, payload) per action, for the OpenAPI docs and the admin form.
EXAMPLE_PAYLOADS: dict[str, list[Example]] = {
    action: list(operation.examples) for action, operation in sorted(OPERATIONS.items())
}


def request_redacted(action: str, request: Payload) -> Payload:
    """``request`` of ``action`` as it may be stored, logged and shown (secrets masked)."""
    operation = OPERATIONS.get(action)
    if operation is None or operation.redact is None:
        return request
    return operation.redact(request)


def response_redacted(action: str, response: Any) -> Any:
    """The station's answer to ``action`` as it may be stored, logged and shown."""
    operation = OPERATIONS.get(action)
    if operation is None or operation.redact_response is None or not isinstance(response, dict):
        return response
    return operation.redact_response(response)


def command_answered(sender: Any, *, command: Command, response: Payload, **kwargs: Any) -> None:
    """Receiver of csms.signals.command_answered: the operation's effect of an answer."""
    operation = OPERATIONS.get(command.action)
    if operation is not None and operation.answered is not None:
        operation.answered(command, response)


def command_not_done(sender: Any, *, command: Command, **kwargs: Any) -> None:
    """Receiver of csms.signals.command_not_done: undo what was prepared for the call."""
    operation = OPERATIONS.get(command.action)
    if operation is not None and operation.not_done is not None:
        operation.not_done(command)


__all__ = [
    "EXAMPLE_PAYLOADS",
    "OPERATIONS",
    "REDACTING_ACTIONS",
    "Operation",
    "request_redacted",
    "response_redacted",
]
