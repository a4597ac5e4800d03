"""What a central-system operation is: one typed object per OCPP action.

An :class:`Operation` says everything the CSMS does around one call besides sending it
(ocpp_gateway.calls) and keeping its record (csms.services.commands):

* ``complete``: fill in what the CSMS assigns before the payload is validated (a
  SendLocalList's version and list);
* ``assigned_field`` and ``prepare``: a field the CSMS assigns while storing the command, in
  the same transaction (ReserveNow's reservationId is the Reservation made for it);
* ``answered``: what the station's CALLRESULT does to our state (run in a savepoint of the
  transaction that stores the answer);
* ``not_done``: what a call the station never acted on undoes (CALLERROR, or never sent);
* ``redact`` and ``redact_response``: the request and the answer as they may be stored, logged
  and shown, secrets masked (csms.redaction); the station gets, and sends, the originals;
* ``password_hash``: the hash of the station password a call installs (AuthorizationKey),
  kept on the command since the request itself is stored masked;
* ``examples``: payloads for the OpenAPI docs and the admin form, each valid as given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from csms.models import ChargePoint, Command

Payload = dict[str, Any]
Example = tuple[str, Payload]  # (title, payload)


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    action: str
    examples: tuple[Example, ...]
    # (charge_point, payload) -> payload, before validation. Must not write.
    complete: Callable[[ChargePoint, Payload], Payload] | None = None
    # A required field left out by the caller and assigned by ``prepare``; validation sees a
    # placeholder (0) for it.
    assigned_field: str | None = None
    # (*, charge_point, request, issued_by) -> request, in the command's transaction.
    prepare: Callable[..., Payload] | None = None
    answered: Callable[[Command, Payload], None] | None = None
    not_done: Callable[[Command], None] | None = None
    # request -> request with its secrets masked. Must not write.
    redact: Callable[[Payload], Payload] | None = None
    # response -> response with its secrets masked (also what ``answered`` sees).
    redact_response: Callable[[Payload], Payload] | None = None
    # request -> hash of the station password it installs ('' for none).
    password_hash: Callable[[Payload], str] | None = None
