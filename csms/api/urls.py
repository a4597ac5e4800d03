"""Core API routes, mounted under /api/v1/ by csms/urls.py (see csms.api)."""

from __future__ import annotations

from django.urls import path

from csms.api import authorization, logs, stations, transactions

urlpatterns = [
    path("charge-points/", stations.ChargePointListApi.as_view(), name="charge-point-list"),
    path(
        "charge-points/<str:identity>/",
        stations.ChargePointDetailApi.as_view(),
        name="charge-point-detail",
    ),
    path(
        "charge-points/<str:identity>/messages/",
        logs.ChargePointMessageLogApi.as_view(),
        name="charge-point-messages",
    ),
    path(
        "charge-points/<str:identity>/status-history/",
        logs.ChargePointStatusHistoryApi.as_view(),
        name="charge-point-status-history",
    ),
    path(
        "charge-points/<str:identity>/connection-attempts/",
        stations.ChargePointConnectionAttemptApi.as_view(),
        name="charge-point-connection-attempts",
    ),
    path(
        "connection-attempts/",
        stations.ConnectionAttemptListApi.as_view(),
        name="connection-attempt-list",
    ),
    path(
        "connection-attempts/<int:pk>/register/",
        stations.ConnectionAttemptRegisterApi.as_view(),
        name="connection-attempt-register",
    ),
    path("id-tags/", authorization.IdTagListApi.as_view(), name="id-tag-list"),
    path("id-tags/<str:id_tag>/", authorization.IdTagDetailApi.as_view(), name="id-tag-detail"),
    path("transactions/", transactions.TransactionListApi.as_view(), name="transaction-list"),
    path(
        "transactions/<int:pk>/",
        transactions.TransactionDetailApi.as_view(),
        name="transaction-detail",
    ),
    path(
        "transactions/<int:pk>/meter-values/",
        transactions.TransactionMeterValueApi.as_view(),
        name="transaction-meter-values",
    ),
]
