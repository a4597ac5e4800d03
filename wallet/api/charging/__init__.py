"""App API: charging, by sub-domain: ``stations`` (stations near a point, a station, a
connector by its code, typed or scanned, and the page ``/app/c/<code>`` a QR code opens),
``sessions`` (app sessions: start, list, detail, stop) and ``qr`` (the connectors' QR codes,
for operators and support).

A QR code encodes ``<PUBLIC_BASE_URL>/app/c/<code>``: the app takes the last path segment as
the code; a phone without the app opens the page.
"""

from __future__ import annotations

from typing import Any

from django.urls import path

from wallet.api.charging.qr import ConnectorQrApi
from wallet.api.charging.sessions import AppSessionDetailApi, AppSessionListApi, AppSessionStopApi
from wallet.api.charging.stations import (
    ConnectorByCodeApi,
    StationDetailApi,
    StationListApi,
    connector_code_page,
)

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
