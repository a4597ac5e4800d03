"""Remote-operation endpoints (commands to stations), mounted under /api/v1/."""

from __future__ import annotations

from django.urls import path

from ocpp_gateway import apis

urlpatterns = [
    path(
        "charge-points/<str:identity>/commands/",
        apis.ChargePointCommandApi.as_view(),
        name="charge-point-commands",
    ),
    path(
        "charge-points/<str:identity>/local-list/",
        apis.ChargePointLocalListApi.as_view(),
        name="charge-point-local-list",
    ),
    path("commands/", apis.CommandListApi.as_view(), name="command-list"),
    path("commands/<uuid:pk>/", apis.CommandDetailApi.as_view(), name="command-detail"),
    path(
        "transactions/<int:pk>/remote-stop/",
        apis.TransactionRemoteStopApi.as_view(),
        name="transaction-remote-stop",
    ),
    path("reservations/", apis.ReservationListApi.as_view(), name="reservation-list"),
    path(
        "reservations/<int:pk>/cancel/",
        apis.ReservationCancelApi.as_view(),
        name="reservation-cancel",
    ),
    path("charging-profiles/", apis.ChargingProfileListApi.as_view(), name="charging-profile-list"),
    path(
        "composite-schedules/",
        apis.CompositeScheduleListApi.as_view(),
        name="composite-schedule-list",
    ),
]
