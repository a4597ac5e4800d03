"""Helpers shared by the service modules (and the gateway's operations)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

# OCPP integers are int32 unless the schema says otherwise (transactionId, reservationId).
INT32_MAX = 2**31 - 1


def iso_utc(value: datetime) -> str:
    """An aware datetime as OCPP writes it: RFC 3339 in UTC, whole seconds, ``Z``."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def stored_datetime(value: Any) -> datetime | None:
    """A date-time of a stored (JSON) request or answer; they were schema-checked already.
    None when absent; a value without a zone is read as UTC."""
    if not value:
        return None
    parsed = parse_datetime(str(value))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def stored_datetime_required(value: Any) -> datetime:
    """``stored_datetime`` for a field the schema requires; ValidationError if unreadable."""
    parsed = stored_datetime(value)
    if parsed is None:
        raise ValidationError(f"Not a date-time: {value!r}.")
    return parsed
