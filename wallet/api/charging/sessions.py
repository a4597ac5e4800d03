"""App API: app sessions.

- ``POST /api/v1/app/sessions/ {"connector_code": ...}`` (Idempotency-Key optional: a retry
  returns the same session, 200): 201 with the session (``starting``). Refusals are 4xx with
  ``{"code", "detail"}``: see ``wallet.services.sessions.app_session_start``.
- ``GET /api/v1/app/sessions/``, ``GET .../<id>/``, ``POST .../<id>/stop/``.
- Live figures: WebSocket ``/ws/app/sessions/<id>/?token=<access>`` (wallet.consumers).
"""

from __future__ import annotations

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

from wallet.api.common import AppApiView, idempotency_key, idempotency_key_param, request_wallet
from wallet.models import AppSession
from wallet.selectors.sessions import (
    app_session_get,
    app_session_list,
    app_session_snapshot,
    app_session_snapshots,
)
from wallet.services.sessions import SessionRefused, app_session_start, app_session_stop


class Refused(exceptions.APIException):
    """A SessionRefused as an API error: ``{"code", "detail"}`` with its status."""

    def __init__(self, error: SessionRefused) -> None:
        self.status_code = error.status_code
        super().__init__(detail={"code": error.code, "detail": error.message})


# --- Serializers (the shapes; the selectors build the dicts) ---------------------------------


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


class SessionPagination(LimitOffsetPagination):
    default_limit = 20
    max_limit = 100


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
