"""OCPP-J framing: message type ids, frame encoding, and reading what we can of bad frames."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

CALL = 2
CALLRESULT = 3
CALLERROR = 4
SUBPROTOCOL = "ocpp1.6"
MAX_MESSAGE_ID_LENGTH = 36
# Spellings of the 1.6 subprotocol that real firmware offers besides the spec's "ocpp1.6": the
# QuecPython OCPP client sends "ocpp1.6.0", others "OCPP1.6" or "ocpp1.6j". All mean OCPP 1.6
# over JSON; anything else (ocpp2.0.1, ocpp1.5, ...) is a protocol we do not speak.
_SUBPROTOCOL_16 = re.compile(r"ocpp1\.6(?:\.0)?j?", re.IGNORECASE)

# Reads the message id of a CALL that is not valid JSON, so it can still get a CALLERROR.
_SNIFF_ID = re.compile(r'^\s*\[\s*2\s*,\s*"([^"\\]{1,36})"')


def choose_subprotocol(offered: list[str]) -> tuple[bool, str | None]:
    """(accept, subprotocol to answer with) for the Sec-WebSocket-Protocol values offered.

    The spec's ``ocpp1.6`` is preferred; otherwise the first 1.6 spelling offered is answered
    exactly as offered (RFC 6455 §4.1: a client fails the handshake when the server selects a
    value it did not send). No value offered (no header, or an empty one) is accepted without
    a subprotocol: such chargers still speak 1.6. Only other protocols: refused."""
    values = [value.strip() for value in offered if value and value.strip()]
    if not values:
        return True, None
    if SUBPROTOCOL in values:
        return True, SUBPROTOCOL
    for value in values:
        if _SUBPROTOCOL_16.fullmatch(value):
            return True, value
    return False, None


def format_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=_default, ensure_ascii=False)


def jsonable(value: Any) -> Any:
    """A copy with datetimes as OCPP strings, for JSON columns."""
    if value is None:
        return None
    return json.loads(dumps(value))


def call_result(message_id: Any, payload: dict[str, Any]) -> str:
    return dumps([CALLRESULT, message_id, payload])


def call_error(
    message_id: Any, code: str, description: str = "", details: dict[str, Any] | None = None
) -> str:
    return dumps([CALLERROR, message_id, code, description, details or {}])


def call(message_id: str, action: str, payload: dict[str, Any]) -> str:
    return dumps([CALL, message_id, action, payload])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class UnrepresentableValue(ValueError):
    """A frame that is JSON, but holds a value no OCPP field can carry and nothing downstream
    can store: a number beyond the range of a double (``1e999`` parses to infinity, which
    JSON cannot write back and jsonb refuses) or a lone UTF-16 surrogate (``"\\ud800"`` is no
    Unicode character: UTF-8, PostgreSQL and SQLite refuse it). ``frame`` is the frame as
    parsed, bad values included, so its id and action can still be read; ``where`` is the
    path to the first bad value (list indexes and keys from the frame's top), ``what`` says
    which kind it is."""

    def __init__(self, frame: Any, where: tuple[int | str, ...], what: str) -> None:
        super().__init__(f"{what} at {describe_path(where)}")
        self.frame = frame
        self.where = where
        self.what = what


class _NotFinite(Exception):
    pass


_INFINITIES = (float("inf"), float("-inf"))
_SURROGATE = re.compile("[\ud800-\udfff]")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in _INFINITIES:
        raise _NotFinite
    return value


def loads(text: str) -> Any:
    """Parse a frame. Strict JSON: ``NaN`` / ``Infinity`` (which Python's json accepts, and
    PostgreSQL's jsonb rejects) and nesting too deep to parse are ValueErrors like any other bad
    frame, so they are answered instead of killing the connection. A number too large for a
    double or a lone surrogate raises UnrepresentableValue (with the parsed frame). NUL
    characters are removed from strings (see without_nul).

    Cost on ordinary frames: one Python call per float literal; the search for surrogates
    runs only when the text has a ``\\ud``/``\\uD`` escape (a raw one cannot arrive: the
    WebSocket layer only delivers valid UTF-8 text)."""
    try:
        try:
            frame = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
        except _NotFinite:
            frame = json.loads(text, parse_constant=_reject_constant)
            _raise_if_unrepresentable(frame)
        if "\\ud" in text or "\\uD" in text:
            _raise_if_unrepresentable(frame)
        if "\\u0000" in text:
            frame = without_nul(frame)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    return frame


def _raise_if_unrepresentable(frame: Any) -> None:
    """Raise UnrepresentableValue for the first non-finite number or lone surrogate (in a
    string or a key) in ``frame``. Iterative: the frame may be nested as deep as json allows."""
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(frame, ())]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if not value.isascii() and _SURROGATE.search(value):
                raise UnrepresentableValue(frame, where, "a lone UTF-16 surrogate")
        elif isinstance(value, float):
            if value in _INFINITIES:
                raise UnrepresentableValue(frame, where, "a number beyond the range of a double")
        elif isinstance(value, list):
            for index in range(len(value) - 1, -1, -1):  # reversed: popped in order
                stack.append((value[index], (*where, index)))
        elif isinstance(value, dict):
            for key in reversed(list(value)):
                if not key.isascii() and _SURROGATE.search(key):
                    raise UnrepresentableValue(frame, (*where, key), "a lone UTF-16 surrogate")
                stack.append((value[key], (*where, key)))


def describe_path(where: tuple[int | str, ...]) -> str:
    """``("meterValue", 0, "value")`` → ``meterValue.0.value``, with anything UTF-8 cannot
    carry escaped (see storable)."""
    return storable(".".join(str(part) for part in where))


def storable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes, so UTF-8 (the socket,
    the database) can carry it. ASCII text, nearly all of it, is returned as is at once."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def sniff_message_id(text: str) -> str | None:
    match = _SNIFF_ID.match(text)
    return match.group(1) if match else None


def message_type_of(frame: Any) -> int | None:
    """The message type id of a parsed frame, or None when it is not an OCPP-J array. Strictly
    an int: ``2.0`` or ``true`` (which equals 1 in Python) are not message types."""
    if isinstance(frame, list) and frame and type(frame[0]) is int:
        if frame[0] in (CALL, CALLRESULT, CALLERROR):
            return frame[0]
    return None


def without_nul(value: Any) -> Any:
    """``value`` with NUL characters removed from every string (keys included). PostgreSQL text
    and jsonb cannot hold U+0000, and one such string must not cost the station its message.
    loads() calls it only when the text has a ``\\u0000`` escape: normal frames pay nothing."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    return value


def loggable(text: str) -> str:
    """A frame as the message log can store it (no raw NUL characters, see without_nul)."""
    return text.replace("\x00", "\\u0000") if "\x00" in text else text


def readable_message_id(frame: list[Any]) -> str | int | None:
    """The id of a parsed-but-invalid frame, if there is one to answer to."""
    if len(frame) >= 2 and isinstance(frame[1], str | int) and not isinstance(frame[1], bool):
        return frame[1]
    return None
