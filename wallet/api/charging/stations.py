"""App API: stations and connectors, and the page a QR code opens.

- ``GET /api/v1/app/stations/?lat=&lon=&radius_km=&limit=&offset=``: stations whose site lies
  within ``radius_km`` (default 10, at most 100), nearest first, with their connectors' live
  status, availability and price. Without lat/lon: every station, by identity.
- ``GET /api/v1/app/stations/<identity>/``, ``GET /api/v1/app/connectors/<code>/`` (code
  case-insensitive; ``can_start`` and ``availability`` say whether a start can work now).
- ``GET /app/c/<code>``: a plain page naming the code, for a phone without the app (a QR code
  encodes ``<PUBLIC_BASE_URL>/app/c/<code>``; the app takes the last path segment as the code).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.html import escape
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

from csms.api.common import query_text
from wallet.api.common import AppApiView, request_wallet
from wallet.selectors.stations import (
    connector_by_code,
    connector_detail,
    station_by_identity,
    stations_detail,
    stations_nearby,
)

RADIUS_DEFAULT_KM = Decimal(10)
RADIUS_MAX_KM = Decimal(100)


# --- Serializers (the shapes; the selectors build the dicts) ---------------------------------


class PriceComponentSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="ENERGY, TIME, PARKING_TIME or FLAT (OCPI).")
    price_excl_vat = serializers.CharField()
    price_incl_vat = serializers.CharField(allow_null=True, help_text="Null: VAT unknown.")
    vat_rate = serializers.CharField(allow_null=True, help_text="Percent; null: unknown.")
    unit = serializers.CharField()
    conditions = serializers.ListField(child=serializers.CharField())
    text = serializers.CharField(help_text='E.g. "0.42 EUR/kWh incl. VAT (after 2 h)".')


class PriceSerializer(serializers.Serializer):
    tariff = serializers.CharField()
    currency = serializers.CharField()
    display_text = serializers.CharField(help_text="The tariff's own text (tariff_alt_text).")
    summary = serializers.CharField(help_text="The components in words, comma-separated.")
    components = PriceComponentSerializer(many=True)


class SiteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    address = serializers.CharField()
    postal_code = serializers.CharField()
    city = serializers.CharField()
    country = serializers.CharField()
    latitude = serializers.CharField(allow_null=True)
    longitude = serializers.CharField(allow_null=True)


AVAILABILITY_HELP = (
    "Whether a start can work now: available, occupied, offline, faulted, unavailable, reserved."
)


class ConnectorSerializer(serializers.Serializer):
    connector_id = serializers.IntegerField()
    code = serializers.CharField(help_text="What the driver types or scans.")
    status = serializers.CharField(allow_null=True, help_text="OCPP status last reported.")
    online = serializers.BooleanField()
    availability = serializers.CharField(help_text=AVAILABILITY_HELP)
    price = PriceSerializer(allow_null=True, help_text="Null: no tariff applies.")


class StationSerializer(serializers.Serializer):
    identity = serializers.CharField()
    name = serializers.CharField()
    site = SiteSerializer(allow_null=True)
    distance_km = serializers.CharField(allow_null=True)
    online = serializers.BooleanField()
    connectors = ConnectorSerializer(many=True)


class ConnectorDetailSerializer(ConnectorSerializer):
    can_start = serializers.BooleanField()
    station = inline_serializer(
        "ConnectorStation",
        fields={
            "identity": serializers.CharField(),
            "name": serializers.CharField(),
            "site": SiteSerializer(allow_null=True),
            "online": serializers.BooleanField(),
        },
    )


PRICE_EXAMPLE = {
    "tariff": "Standard",
    "currency": "EUR",
    "display_text": "0.35 EUR/kWh excl. VAT, 1 EUR per session",
    "summary": "0.42 EUR/kWh incl. VAT, 1.21 EUR per session incl. VAT",
    "components": [
        {
            "type": "ENERGY",
            "price_excl_vat": "0.35",
            "price_incl_vat": "0.42",
            "vat_rate": "21",
            "unit": "kWh",
            "conditions": [],
            "text": "0.42 EUR/kWh incl. VAT",
        }
    ],
}
CONNECTOR_EXAMPLE = {
    "connector_id": 1,
    "code": "K7R2M9QX",
    "status": "Available",
    "online": True,
    "availability": "available",
    "price": PRICE_EXAMPLE,
}
SITE_EXAMPLE = {
    "id": 3,
    "name": "Amsterdam Centraal P1",
    "address": "Stationsplein 1",
    "postal_code": "1012 AB",
    "city": "Amsterdam",
    "country": "NLD",
    "latitude": "52.378900",
    "longitude": "4.900300",
}
STATION_EXAMPLE = {
    "identity": "CP-AMS-01",
    "name": "Centraal 1",
    "site": SITE_EXAMPLE,
    "distance_km": "0.412",
    "online": True,
    "connectors": [CONNECTOR_EXAMPLE],
}


# --- Query parsing ----------------------------------------------------------------------------


def _query_decimal(request: Request, name: str, low: Decimal, high: Decimal) -> Decimal | None:
    raw = query_text(request, name)
    if raw is None:
        return None
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise exceptions.ValidationError({name: f"Expected a number, got {raw!r}."}) from None
    if not value.is_finite() or not low <= value <= high:
        raise exceptions.ValidationError({name: f"Expected a number from {low} to {high}."})
    return value


def _position(request: Request) -> tuple[Decimal, Decimal] | None:
    lat = _query_decimal(request, "lat", Decimal(-90), Decimal(90))
    lon = _query_decimal(request, "lon", Decimal(-180), Decimal(180))
    if (lat is None) != (lon is None):
        missing = "lon" if lon is None else "lat"
        raise exceptions.ValidationError({missing: "Give lat and lon together."})
    return None if lat is None or lon is None else (lat, lon)


def _radius(request: Request) -> Decimal:
    radius = _query_decimal(request, "radius_km", Decimal(0), RADIUS_MAX_KM)
    if radius is not None and radius <= 0:
        raise exceptions.ValidationError({"radius_km": "Must be more than 0."})
    return RADIUS_DEFAULT_KM if radius is None else radius


class StationPagination(LimitOffsetPagination):
    default_limit = 20
    max_limit = 100


# --- Stations and connectors --------------------------------------------------------------


class StationListApi(AppApiView):
    @extend_schema(
        tags=["app: charging"],
        summary="Stations near a point",
        parameters=[
            OpenApiParameter("lat", OpenApiTypes.DECIMAL, description="Latitude (-90..90)."),
            OpenApiParameter("lon", OpenApiTypes.DECIMAL, description="Longitude (-180..180)."),
            OpenApiParameter(
                "radius_km",
                OpenApiTypes.DECIMAL,
                description=f"Default {RADIUS_DEFAULT_KM}, at most {RADIUS_MAX_KM}.",
            ),
            OpenApiParameter("limit", OpenApiTypes.INT, description="Page size (max 100)."),
            OpenApiParameter("offset", OpenApiTypes.INT),
        ],
        responses={
            200: StationSerializer(many=True),
            400: OpenApiResponse(description="Bad query."),
        },
        examples=[
            OpenApiExample(
                "Nearby",
                value={"count": 1, "next": None, "previous": None, "results": [STATION_EXAMPLE]},
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        wallet = request_wallet(request)
        position = _position(request)
        radius = _radius(request)
        if position is None:
            from csms.models import ChargePoint

            found: list[tuple[int, Decimal | None]] = [
                (pk, None)
                for pk in ChargePoint.objects.order_by("identity").values_list("pk", flat=True)
            ]
        else:
            found = list(stations_nearby(lat=position[0], lon=position[1], radius_km=radius))
        paginator = StationPagination()
        page: list[tuple[int, Decimal | None]] | None = paginator.paginate_queryset(
            found,  # type: ignore[arg-type]
            request,
            view=self,
        )
        tag = wallet.virtual_id_tag.id_tag
        return paginator.get_paginated_response(stations_detail(distances=page or [], id_tag=tag))


class StationDetailApi(AppApiView):
    @extend_schema(
        tags=["app: charging"],
        summary="A station",
        responses={200: StationSerializer, 404: OpenApiResponse(description="No such station.")},
        examples=[OpenApiExample("Station", value=STATION_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, identity: str) -> Response:
        wallet = request_wallet(request)
        body = station_by_identity(identity=identity, id_tag=wallet.virtual_id_tag.id_tag)
        if body is None:
            raise exceptions.NotFound(f"No station {identity!r}.")
        return Response(body)


class ConnectorByCodeApi(AppApiView):
    @extend_schema(
        tags=["app: charging"],
        summary="A connector by its code (typed, or the last segment of its QR code's URL)",
        responses={
            200: ConnectorDetailSerializer,
            404: OpenApiResponse(description="No connector has this code."),
        },
        examples=[
            OpenApiExample(
                "Free connector",
                value={
                    **CONNECTOR_EXAMPLE,
                    "can_start": True,
                    "station": {
                        "identity": "CP-AMS-01",
                        "name": "Centraal 1",
                        "site": SITE_EXAMPLE,
                        "online": True,
                    },
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, code: str) -> Response:
        wallet = request_wallet(request)
        connector = connector_by_code(code)
        if connector is None:
            raise exceptions.NotFound(f"No connector has the code {code!r}.")
        return Response(connector_detail(connector=connector, id_tag=wallet.virtual_id_tag.id_tag))


# --- The page a QR code opens ----------------------------------------------------------------


def connector_code_page(request: HttpRequest, code: str) -> HttpResponse:
    """What a phone without the app shows after scanning (the web app will replace it)."""
    connector = connector_by_code(code)
    if connector is None:
        raise Http404("No connector has this code.")
    where = escape(connector.charge_point.name or connector.charge_point.identity)
    html = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Connector {escape(connector.code)}</title></head><body>"
        f"<h1>Connector code <code>{escape(connector.code)}</code></h1>"
        f"<p>{where}, connector {connector.connector_id}.</p>"
        "<p>Open the charging app and enter this code (or scan this QR code with it) "
        "to start charging.</p></body></html>"
    )
    return HttpResponse(html)
