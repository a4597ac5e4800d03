"""App API: charging. Stations near a point, a connector by its code (typed or scanned), app
sessions (start, list, detail, stop), and the connectors' QR codes for operators.

- ``GET /api/v1/app/stations/?lat=&lon=&radius_km=&limit=&offset=``: stations whose site lies
  within ``radius_km`` (default 10, at most 100), nearest first, with their connectors' live
  status, availability and price. Without lat/lon: every station, by identity.
- ``GET /api/v1/app/stations/<identity>/``, ``GET /api/v1/app/connectors/<code>/`` (code
  case-insensitive; ``can_start`` and ``availability`` say whether a start can work now).
- ``POST /api/v1/app/sessions/ {"connector_code": ...}`` (Idempotency-Key optional: a retry
  returns the same session, 200): 201 with the session (``starting``). Refusals are 4xx with
  ``{"code", "detail"}``: see ``wallet.services.sessions.app_session_start``.
- ``GET /api/v1/app/sessions/``, ``GET .../<id>/``, ``POST .../<id>/stop/``.
- Live figures: WebSocket ``/ws/app/sessions/<id>/?token=<access>`` (wallet.consumers).
- Staff: ``GET /api/v1/charge-points/<identity>/connectors/<n>/qr.svg`` / ``qr.png``; the
  admin's "Print QR codes" action prints them all. A QR code encodes
  ``<PUBLIC_BASE_URL>/app/c/<code>``: the app takes the last path segment as the code;
  ``GET /app/c/<code>`` is a plain page naming the code, for a phone without the app.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from django.utils.html import escape
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from csms.api.common import charge_point_or_404, query_text
from wallet.api.common import AppApiView, idempotency_key, idempotency_key_param, request_wallet
from wallet.models import AppSession
from wallet.selectors.sessions import (
    app_session_get,
    app_session_list,
    app_session_snapshot,
    app_session_snapshots,
)
from wallet.selectors.stations import (
    connector_by_code,
    connector_detail,
    connector_qr_png,
    connector_qr_svg,
    station_by_identity,
    stations_detail,
    stations_nearby,
)
from wallet.services.sessions import SessionRefused, app_session_start, app_session_stop

RADIUS_DEFAULT_KM = Decimal(10)
RADIUS_MAX_KM = Decimal(100)


class Refused(exceptions.APIException):
    """A SessionRefused as an API error: ``{"code", "detail"}`` with its status."""

    def __init__(self, error: SessionRefused) -> None:
        self.status_code = error.status_code
        super().__init__(detail={"code": error.code, "detail": error.message})


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


class CostSerializer(serializers.Serializer):
    excl_vat = serializers.CharField(allow_null=True)
    incl_vat = serializers.CharField(allow_null=True, help_text="Null: VAT unknown.")
    currency = serializers.CharField()


class SessionOrderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    total_excl_vat = serializers.CharField(allow_null=True)
    total_incl_vat = serializers.CharField(allow_null=True)


class AppSessionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=AppSession.State.choices)
    station = serializers.CharField()
    connector_id = serializers.IntegerField()
    connector_code = serializers.CharField()
    transaction_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    charging_at = serializers.DateTimeField(allow_null=True)
    stop_requested_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    energy_kwh = serializers.CharField(allow_null=True)
    power_kw = serializers.CharField(allow_null=True)
    duration_seconds = serializers.IntegerField(allow_null=True)
    soc = serializers.IntegerField(allow_null=True)
    cost = CostSerializer(allow_null=True, help_text="Running cost, or the order's once billed.")
    currency = serializers.CharField()
    held = serializers.CharField(help_text="What the wallet holds for the session now.")
    stop_cause = serializers.CharField(help_text="'', driver, balance or station.")
    failure_reason = serializers.CharField()
    order = SessionOrderSerializer(allow_null=True)


class SessionStartSerializer(serializers.Serializer):
    connector_code = serializers.CharField(max_length=16)


REFUSAL = inline_serializer(
    "AppSessionRefusal",
    fields={"code": serializers.CharField(), "detail": serializers.CharField()},
)

SESSION_EXAMPLE = {
    "id": 42,
    "state": "charging",
    "station": "CP-AMS-01",
    "connector_id": 1,
    "connector_code": "K7R2M9QX",
    "transaction_id": 1234,
    "created_at": "2025-05-14T10:00:00+00:00",
    "charging_at": "2025-05-14T10:00:04+00:00",
    "stop_requested_at": None,
    "finished_at": None,
    "energy_kwh": "12.500",
    "power_kw": "11.040",
    "duration_seconds": 3600,
    "soc": None,
    "cost": {"excl_vat": "4.38", "incl_vat": "5.30", "currency": "EUR"},
    "currency": "EUR",
    "held": "20.00",
    "stop_cause": "",
    "failure_reason": "",
    "order": None,
}
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


class SessionPagination(LimitOffsetPagination):
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


# --- Sessions -------------------------------------------------------------------------------


class AppSessionListApi(AppApiView):
    @extend_schema(
        tags=["app: charging"],
        summary="My app sessions, newest first",
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, description="Page size (max 100)."),
            OpenApiParameter("offset", OpenApiTypes.INT),
        ],
        responses={200: AppSessionSerializer(many=True)},
        examples=[
            OpenApiExample(
                "Sessions",
                value={"count": 1, "next": None, "previous": None, "results": [SESSION_EXAMPLE]},
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        wallet = request_wallet(request)
        paginator = SessionPagination()
        page = paginator.paginate_queryset(app_session_list(wallet=wallet), request, view=self)
        return paginator.get_paginated_response(app_session_snapshots(page or []))

    @extend_schema(
        tags=["app: charging"],
        summary="Start charging at a connector",
        description=(
            "Holds WALLET_SESSION_HOLD (or the balance, if less) and asks the station to "
            "start (RemoteStartTransaction). The session is `starting` until the station "
            "reports the start (`charging`), refuses it or misses WALLET_START_TIMEOUT "
            "(`failed`, hold released). Refusal codes: unknown_connector (404), "
            "insufficient_balance (402), connector_offline, connector_faulted, "
            "connector_unavailable, connector_occupied, connector_reserved, session_active, "
            "tag_blocked (409), gateway_unavailable (503)."
        ),
        parameters=[idempotency_key_param(required=False)],
        request=SessionStartSerializer,
        responses={
            201: AppSessionSerializer,
            200: OpenApiResponse(AppSessionSerializer, description="A retry: the same session."),
            400: OpenApiResponse(description="No connector_code."),
            402: REFUSAL,
            404: REFUSAL,
            409: REFUSAL,
        },
        examples=[
            OpenApiExample("Start", value={"connector_code": "K7R2M9QX"}, request_only=True),
            OpenApiExample(
                "Starting",
                value={**SESSION_EXAMPLE, "state": "starting", "transaction_id": None},
                response_only=True,
                status_codes=["201"],
            ),
            OpenApiExample(
                "Refused",
                value={"code": "connector_occupied", "detail": "Someone is already charging here."},
                response_only=True,
                status_codes=["409"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        wallet = request_wallet(request)
        key = idempotency_key(request, required=False)
        body = SessionStartSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            session, created = app_session_start(
                wallet=wallet,
                connector_code=body.validated_data["connector_code"],
                idempotency_key=key,
            )
        except SessionRefused as exc:
            raise Refused(exc) from None
        session = app_session_get(wallet=wallet, pk=session.pk) or session
        return Response(
            app_session_snapshot(session),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


def _session_or_404(request: Request, pk: int) -> AppSession:
    session = app_session_get(wallet=request_wallet(request), pk=pk)
    if session is None:
        raise exceptions.NotFound("No such session.")
    return session


class AppSessionDetailApi(AppApiView):
    @extend_schema(
        tags=["app: charging"],
        summary="One of my app sessions",
        responses={200: AppSessionSerializer, 404: OpenApiResponse(description="Not yours.")},
        examples=[OpenApiExample("Charging", value=SESSION_EXAMPLE, response_only=True)],
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(app_session_snapshot(_session_or_404(request, pk)))


class AppSessionStopApi(AppApiView):
    @extend_schema(
        tags=["app: charging"],
        summary="Stop charging",
        description=(
            "A charging session: RemoteStopTransaction, state `stopping` until the order is "
            "settled (`finished`). A starting one is canceled (`failed`, hold released). "
            "Repeating the stop is harmless. 409 session_over once finished or failed; "
            "connector_offline when the station cannot be reached."
        ),
        request=None,
        responses={200: AppSessionSerializer, 404: REFUSAL, 409: REFUSAL},
        examples=[
            OpenApiExample(
                "Stopping",
                value={**SESSION_EXAMPLE, "state": "stopping", "stop_cause": "driver"},
                response_only=True,
            )
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        wallet = request_wallet(request)
        try:
            session = app_session_stop(wallet=wallet, session_id=pk)
        except SessionRefused as exc:
            raise Refused(exc) from None
        if session is None:
            raise exceptions.NotFound("No such session.")
        return Response(app_session_snapshot(_session_or_404(request, pk)))


# --- QR codes (operators and support) --------------------------------------------------------


class ConnectorQrApi(APIView):
    @extend_schema(
        tags=["charge points"],
        summary="A connector's QR code (SVG or PNG), for printing",
        description="Encodes <PUBLIC_BASE_URL>/app/c/<code>; the app reads the last segment.",
        responses={
            (200, "image/svg+xml"): OpenApiTypes.STR,
            (200, "image/png"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such station or connector."),
        },
        examples=[
            OpenApiExample("SVG", value="<svg ...>", response_only=True, media_type="image/svg+xml")
        ],
    )
    def get(self, request: Request, identity: str, connector_id: int, fmt: str) -> HttpResponse:
        if fmt not in ("svg", "png"):
            raise exceptions.NotFound("QR codes come as qr.svg or qr.png.")
        charge_point = charge_point_or_404(identity)
        connector = next(
            (c for c in charge_point.connectors.all() if c.connector_id == connector_id), None
        )
        if connector is None or connector_id < 1:
            raise exceptions.NotFound(f"{identity} has no connector {connector_id}.")
        filename = f"{identity}-{connector_id}-{connector.code}.{fmt}"
        if fmt == "svg":
            response = HttpResponse(connector_qr_svg(connector.code), content_type="image/svg+xml")
        else:
            response = HttpResponse(connector_qr_png(connector.code), content_type="image/png")
        response["Content-Disposition"] = f'inline; filename="{filename}"'
        return response


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


# Mounted at /api/v1/app/ (the driver app), /api/v1/ (operators) and / (pages) by wallet.urls.
app_urlpatterns: list[Any] = [
    path("stations/", StationListApi.as_view(), name="app-station-list"),
    path("stations/<str:identity>/", StationDetailApi.as_view(), name="app-station-detail"),
    path("connectors/<str:code>/", ConnectorByCodeApi.as_view(), name="app-connector-detail"),
    path("sessions/", AppSessionListApi.as_view(), name="app-session-list"),
    path("sessions/<int:pk>/", AppSessionDetailApi.as_view(), name="app-session-detail"),
    path("sessions/<int:pk>/stop/", AppSessionStopApi.as_view(), name="app-session-stop"),
]
staff_urlpatterns: list[Any] = [
    path(
        "charge-points/<str:identity>/connectors/<int:connector_id>/qr.<str:fmt>",
        ConnectorQrApi.as_view(),
        name="connector-qr",
    ),
]
page_urlpatterns: list[Any] = [
    path("app/c/<str:code>", connector_code_page, name="app-connector-page"),
]
