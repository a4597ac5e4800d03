"""Staff API: a connector's QR code for printing,
``GET /api/v1/charge-points/<identity>/connectors/<n>/qr.svg`` / ``qr.png`` (the admin's
"Print QR codes" action prints them all). It encodes ``<PUBLIC_BASE_URL>/app/c/<code>``.
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from csms.api.common import charge_point_or_404
from wallet.selectors.qr import connector_qr_png, connector_qr_svg

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
