"""The OpenAPI pieces the account endpoints share: their tag, the error answers of the app
API (``errors``), and the examples of more than one endpoint."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

TAG = "App: account"
STAFF_REFUSED = (
    "This is the driver app: staff accounts have no wallet. Use the operations API or the admin."
)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


BALANCES_EXAMPLE = {"currency": "EUR", "available": "12.50", "held": "0.00", "owed": "0.00"}


def example(name: str, value: Any, **kwargs: Any) -> OpenApiExample:
    return OpenApiExample(name, value=value, **kwargs)


def errors(*codes: int, **descriptions: str) -> dict[int, OpenApiResponse]:
    texts = {
        400: "A field is invalid; its name is the key.",
        401: "Missing, invalid or expired token (or credentials).",
        403: STAFF_REFUSED,
        404: "Not one of the driver's.",
        409: "Conflicts with the current state (the message says why).",
        429: "Too many requests from this address: see Retry-After.",
    }
    return {code: OpenApiResponse(DetailSerializer, description=texts[code]) for code in codes}
