"""Remote-operation routes, mounted under /api/v1/ by csms/urls.py (see ocpp_gateway.api)."""

from __future__ import annotations

from django.urls import path

from ocpp_gateway.api import commands, operations

urlpatterns = [
    path(
        "charge-points/<str:identity>/commands/",
        commands.ChargePointCommandApi.as_view(),
        name="charge-point-commands",
    ),
    path(
        "charge-points/<str:identity>/local-list/",
        commands.ChargePointLocalListApi.as_view(),
        name="charge-point-local-list",
    ),
    path("commands/", commands.CommandListApi.as_view(), name="command-list"),
    path("commands/<uuid:pk>/", commands.CommandDetailApi.as_view(), name="command-detail"),
    path(
        "transactions/<int:pk>/remote-stop/",
        commands.TransactionRemoteStopApi.as_view(),
        name="transaction-remote-stop",
    ),
    path("reservations/", operations.ReservationListApi.as_view(), name="reservation-list"),
    path(
        "reservations/<int:pk>/cancel/",
        operations.ReservationCancelApi.as_view(),
        name="reservation-cancel",
    ),
    path(
        "charging-profiles/",
        operations.ChargingProfileListApi.as_view(),
        name="charging-profile-list",
    ),
    path(
        "composite-schedules/",
        operations.CompositeScheduleListApi.as_view(),
        name="composite-schedule-list",
    ),
]
