"""REST API (DRF) for the core domain, under /api/v1/."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus Django ValidationErrors from services as 400s; every 4xx is logged."""
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
