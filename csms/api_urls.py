"""Core read/registration API, mounted under /api/v1/ (see csms.apis)."""

from __future__ import annotations

from django.urls import path

from csms import apis

urlpatterns = [
    path("charge-points/", apis.ChargePointListApi.as_view(), name="charge-point-list"),
    path(
        "charge-points/<str:identity>/",
        apis.ChargePointDetailApi.as_view(),
        name="charge-point-detail",
    ),
    path(
        "charge-points/<str:identity>/messages/",
        apis.ChargePointMessageLogApi.as_view(),
        name="charge-point-messages",
    ),
    path(
        "charge-points/<str:identity>/status-history/",
        apis.ChargePointStatusHistoryApi.as_view(),
        name="charge-point-status-history",
    ),
    path(
        "charge-points/<str:identity>/connection-attempts/",
        apis.ChargePointConnectionAttemptApi.as_view(),
        name="charge-point-connection-attempts",
    ),
    path(
        "connection-attempts/",
        apis.ConnectionAttemptListApi.as_view(),
        name="connection-attempt-list",
    ),
    path(
        "connection-attempts/<int:pk>/register/",
        apis.ConnectionAttemptRegisterApi.as_view(),
        name="connection-attempt-register",
    ),
    path("id-tags/", apis.IdTagListApi.as_view(), name="id-tag-list"),
    path("id-tags/<str:id_tag>/", apis.IdTagDetailApi.as_view(), name="id-tag-detail"),
    path("transactions/", apis.TransactionListApi.as_view(), name="transaction-list"),
    path("transactions/<int:pk>/", apis.TransactionDetailApi.as_view(), name="transaction-detail"),
    path(
        "transactions/<int:pk>/meter-values/",
        apis.TransactionMeterValueApi.as_view(),
        name="transaction-meter-values",
    ),
]
