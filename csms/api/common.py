"""API plumbing shared by every app's REST API (csms, ocpp_gateway, billing, wallet): the
error shape, strict query-string parsing, cursor paginations and the ``*_or_404`` lookups.

Filters are parsed strictly: a value we cannot read is a 400 naming the parameter, never a
silently ignored filter (which would return more data than the caller asked for). Text that
PostgreSQL cannot hold (NUL) is a 400 here, not a DataError (500) from the database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Choices
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from csms.models import ChargePoint, Transaction, identity_validator
from csms.selectors.stations import charge_point_get
from csms.selectors.transactions import transaction_get

logger = logging.getLogger("csms.api")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus Django ValidationErrors from services as 400s; every 4xx is logged.
    Set as REST_FRAMEWORK["EXCEPTION_HANDLER"]."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = exceptions.ValidationError(detail=detail)
    response = drf_exception_handler(exc, context)
    if response is not None and 400 <= response.status_code < 500:
        request = context.get("request")
        logger.info(
            "API %s %s -> %s: %s",
            getattr(request, "method", "?"),
            getattr(request, "path", "?"),
            response.status_code,
            response.data,
        )
    return response


# --- Query-string parsing -------------------------------------------------------------------

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _raw(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    return None if raw is None or raw == "" else raw


def query_bool(request: Request, name: str) -> bool | None:
    """true/false (also 1/0, yes/no, on/off); None when absent."""
    raw = _raw(request, name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise exceptions.ValidationError({name: f"Expected true or false, got {raw!r}."})


def query_datetime(request: Request, name: str) -> datetime | None:
    """ISO 8601 datetime (a value without a zone is UTC, as for station timestamps) or date."""
    raw = _raw(request, name)
    if raw is None:
        return None
    text = raw.strip().replace(" ", "+")  # an unescaped '+' in a query string arrives as ' '
    try:
        parsed = parse_datetime(text)
        if parsed is None:
            day = parse_date(text)
            parsed = datetime(day.year, day.month, day.day) if day else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise exceptions.ValidationError(
            {name: f"Expected an ISO 8601 datetime such as 2025-01-31T08:00:00Z, got {raw!r}."}
        )
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def query_int(request: Request, name: str) -> int | None:
    raw = _raw(request, name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise exceptions.ValidationError({name: f"Expected an integer, got {raw!r}."}) from None


def query_text(request: Request, name: str) -> str | None:
    """A free-text or exact-match filter (an identity, a username, an action name)."""
    raw = _raw(request, name)
    if raw is None:
        return None
    if "\x00" in raw:
        raise exceptions.ValidationError({name: "Null characters are not allowed."})
    return raw


def query_choice(request: Request, name: str, choices: type[Choices] | Iterable[str]) -> str | None:
    """One of ``choices`` (a Django Choices class or the allowed strings), exactly."""
    raw = _raw(request, name)
    if raw is None:
        return None
    values = choices.values if isinstance(choices, type) else choices
    allowed = [str(value) for value in values]
    if raw not in allowed:
        raise exceptions.ValidationError({name: f"Expected one of {', '.join(allowed)}."})
    return raw


def query_time_range(
    request: Request, after: str, before: str
) -> tuple[datetime | None, datetime | None]:
    """Two datetime parameters bounding a half-open range; ``before`` must be later."""
    start, end = query_datetime(request, after), query_datetime(request, before)
    if start and end and start >= end:
        raise exceptions.ValidationError({before: f"Must be later than {after}."})
    return start, end


# --- OpenAPI parameters -----------------------------------------------------------------------


def bool_param(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.BOOL, description=description)


def datetime_param(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.DATETIME, description=description)


SINCE_UNTIL = [
    datetime_param("since", "Only rows at or after this time (ISO 8601; no zone means UTC)."),
    datetime_param("until", "Only rows before this time (exclusive)."),
]


# --- Pagination -------------------------------------------------------------------------------


class NewestFirstCursorPagination(CursorPagination):
    """For append-only tables that grow without bound (message log, status history, meter
    values, commands): no COUNT(*) over millions of rows, and stable pages while rows keep
    arriving."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering: tuple[str, ...] = ("-created_at", "-id")


# --- Lookups ----------------------------------------------------------------------------------


def charge_point_or_404(identity: str) -> ChargePoint:
    """The station (connectors prefetched) by the identity in the URL. An identity no station
    could have (e.g. holding NUL or a slash) is a 400, an unknown one a 404."""
    try:
        identity_validator(identity)
    except DjangoValidationError as exc:
        raise exceptions.ValidationError({"identity": exc.messages}) from None
    charge_point = charge_point_get(identity=identity)
    if charge_point is None:
        raise exceptions.NotFound(f"No charge point with identity {identity!r}.")
    return charge_point


def transaction_or_404(transaction_id: int) -> Transaction:
    """The transaction (its station joined) by its OCPP transactionId."""
    found = transaction_get(transaction_id=transaction_id)
    if found is None:
        raise exceptions.NotFound(f"No transaction {transaction_id}.")
    return found
