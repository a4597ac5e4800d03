"""``POST /api/v1/tariffs/preview/``: price a made-up session with a tariff, storing nothing:
how operators check a tariff before publishing it (and how the engine is tested from outside).
The tariff is OCPI JSON (``tariff``) or a stored one (``tariff_id``: its version in force now,
or ``version``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors
from billing.pricing.engine import MeterSample, PricingInputError, price_session
from billing.pricing.ocpi import TariffFormatError, tariff_from_ocpi
from billing.pricing.tariff import Tariff as PricingTariff
from csms.permissions import is_operator, is_support

# A guard for a synchronous request, not a business rule: a day of 10-second samples.
MAX_METER_VALUES = 10_000
_MAX_NUMBER = Decimal(10) ** 12


class CanPreviewTariffs(BasePermission):
    """Operators and support: pricing a made-up session reads nothing and writes nothing."""

    message = "Only operators and support staff may preview tariffs."

    def has_permission(self, request: Any, view: Any) -> bool:
        return is_operator(request.user) or is_support(request.user)


class _MeterValueSerializer(serializers.Serializer):  # the schema only; parsing is below
    timestamp = serializers.DateTimeField(help_text="ISO 8601; without a zone it is UTC.")
    energy_wh = serializers.DecimalField(
        max_digits=20, decimal_places=6, help_text="Cumulative import register, Wh."
    )
    power_w = serializers.DecimalField(
        max_digits=20, decimal_places=6, required=False, allow_null=True
    )
    current_a = serializers.DecimalField(
        max_digits=20,
        decimal_places=6,
        required=False,
        allow_null=True,
        help_text="Sum over all phases.",
    )


class TariffPreviewInputSerializer(serializers.Serializer):
    tariff = serializers.JSONField(
        required=False, help_text="An OCPI 2.2.1 Tariff object (or give tariff_id)."
    )
    tariff_id = serializers.IntegerField(required=False, help_text="A stored tariff instead.")
    version = serializers.IntegerField(
        required=False, help_text="With tariff_id: this version, not the one in force now."
    )
    timezone = serializers.CharField(
        required=False, help_text="IANA zone of the site; default: the server's TIME_ZONE."
    )
    meter_values = _MeterValueSerializer(many=True)


def _bad(field: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError({field: [message]})


def _decimal(raw: Any, field: str, *, optional: bool = False) -> Decimal | None:
    if raw is None and optional:
        return None
    # JSON numbers, or numeric strings (what Decimal-writing encoders send); not booleans.
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise _bad(field, "Expected a number.")
    try:
        value = Decimal(repr(raw) if isinstance(raw, float) else str(raw).strip())
    except InvalidOperation:
        raise _bad(field, f"Expected a number, got {raw!r}.") from None
    if not value.is_finite() or not 0 <= value < _MAX_NUMBER:
        raise _bad(field, f"Expected a number from 0 to {_MAX_NUMBER}, got {raw!r}.")
    return value


def _timestamp(raw: Any, field: str) -> dt.datetime:
    try:
        # None when malformed; ValueError when well-formed but impossible (February 30th, an
        # offset of 99 hours)
        parsed = parse_datetime(raw) if isinstance(raw, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise _bad(field, "Expected an ISO 8601 date-time.")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _meter_values(raw: Any) -> list[MeterSample]:
    if not isinstance(raw, list) or not raw:
        raise _bad("meter_values", "Expected a non-empty list of meter values.")
    if len(raw) > MAX_METER_VALUES:
        raise _bad("meter_values", f"At most {MAX_METER_VALUES} meter values.")
    found = []
    for index, value in enumerate(raw):
        path = f"meter_values[{index}]"
        if not isinstance(value, dict):
            raise _bad(path, "Expected an object.")
        if "energy_wh" not in value:
            raise _bad(f"{path}.energy_wh", "This field is required.")
        found.append(
            MeterSample(
                timestamp=_timestamp(value.get("timestamp"), f"{path}.timestamp"),
                energy_wh=_decimal(value["energy_wh"], f"{path}.energy_wh") or Decimal(0),
                power_w=_decimal(value.get("power_w"), f"{path}.power_w", optional=True),
                current_a=_decimal(value.get("current_a"), f"{path}.current_a", optional=True),
            )
        )
    return found


def _positive_int(raw: Any, field: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw < 2**31:
        raise _bad(field, "Expected a positive integer.")
    return raw


def _tariff(body: dict[str, Any]) -> PricingTariff:
    if ("tariff" in body) == ("tariff_id" in body):
        raise _bad("tariff", "Give either tariff (OCPI JSON) or tariff_id, not both.")
    if "tariff" in body:
        try:
            return tariff_from_ocpi(body["tariff"])
        except TariffFormatError as error:
            field = f"tariff.{error.field}" if error.field else "tariff"
            raise _bad(field, error.message) from None
    stored = selectors.tariff_get(pk=_positive_int(body["tariff_id"], "tariff_id"))
    if stored is None:
        raise _bad("tariff_id", f"No tariff {body['tariff_id']}.")
    if body.get("version") is not None:
        number = _positive_int(body["version"], "version")
        version = selectors.tariff_version_get(tariff=stored, number=number)
        if version is None:
            raise _bad("version", f"Tariff {stored.pk} has no version {number}.")
    else:
        version = stored.version_in_force()
        if version is None:
            raise _bad("tariff_id", f"Tariff {stored.pk} has no version in force now.")
    return version.as_pricing()


_EXAMPLE = {
    "tariff": {
        "currency": "EUR",
        "elements": [
            {"price_components": [{"type": "FLAT", "price": "0.50", "vat": 21}]},
            {"price_components": [{"type": "ENERGY", "price": "0.25", "vat": 21, "step_size": 1}]},
            {
                "price_components": [
                    {"type": "PARKING_TIME", "price": "2.00", "vat": 21, "step_size": 900}
                ]
            },
        ],
    },
    "timezone": "Europe/Amsterdam",
    "meter_values": [
        {"timestamp": "2024-07-01T08:00:00Z", "energy_wh": 0, "power_w": 11000, "current_a": 48},
        {"timestamp": "2024-07-01T10:00:00Z", "energy_wh": 22000, "power_w": 0},
        {"timestamp": "2024-07-01T10:40:00Z", "energy_wh": 22000},
    ],
}


@extend_schema(
    summary="Price a made-up session with a tariff (OCPI 2.2.1 semantics), storing nothing",
    description=(
        "The session runs from the first meter value to the last. An interval in which "
        "energy_wh rose is charging time, one in which it did not is parking time; power_w "
        "and current_a hold from their sample to the next (optional unless a restriction "
        "needs them: without power_w the interval's average power is used, without "
        "current_a a current restriction does not hold). The answer is the priced record in "
        "OCPI CDR naming, numbers as strings (billing.pricing.records). A 400 names the bad "
        "field: tariff.elements[0].price_components[1].step_size, meter_values[3].timestamp."
    ),
    request=TariffPreviewInputSerializer,
    responses={
        200: OpenApiResponse(OpenApiTypes.OBJECT, description="The priced session."),
        400: OpenApiResponse(description="A field of the body is invalid; its path is the key."),
    },
    examples=[OpenApiExample("Energy, start fee and parking", value=_EXAMPLE, request_only=True)],
)
class TariffPreviewApi(APIView):
    permission_classes = [CanPreviewTariffs]

    def post(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, dict):
            raise _bad("non_field_errors", "Expected a JSON object.")
        tariff = _tariff(body)
        timezone = body.get("timezone", settings.TIME_ZONE)
        if not isinstance(timezone, str):
            raise _bad("timezone", "Expected an IANA time zone name.")
        samples = _meter_values(body.get("meter_values"))
        try:
            priced = price_session(tariff=tariff, samples=samples, timezone=timezone)
        except PricingInputError as error:
            field = "timezone" if "time zone" in str(error) else "meter_values"
            raise _bad(field, str(error).replace("samples[", "meter_values[")) from None
        return Response(priced.to_ocpi())
