"""Sessions started from the app: the driver's view of a charging session, from the QR scan
to the settled order."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.db.models import Q

from wallet.models.ledger import LEDGER_MONEY, Wallet


class AppSession(models.Model):
    class State(models.TextChoices):
        STARTING = "starting"  # RemoteStartTransaction sent, no StartTransaction yet
        CHARGING = "charging"  # the station's StartTransaction arrived
        STOPPING = "stopping"  # a stop was requested (by the driver or auto-stop)
        FINISHED = "finished"  # the order is settled
        FAILED = "failed"  # never started: rejected, timed out, or the station went away

    ACTIVE_STATES = (State.STARTING, State.CHARGING, State.STOPPING)
    # How long after a start failed (the station silent past its deadline) its StartTransaction
    # is still taken as that session's: a driver who plugged in late.
    LATE_START_WINDOW = timedelta(hours=1)

    class StopCause(models.TextChoices):
        NONE = "", "-"
        DRIVER = "driver", "Stopped by the driver"
        BALANCE = "balance", "Stopped: the wallet balance was used up"
        STATION = "station", "Stopped at the station"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="sessions")
    charge_point = models.ForeignKey(
        "csms.ChargePoint", on_delete=models.PROTECT, related_name="app_sessions"
    )
    connector_id = models.PositiveIntegerField()
    connector_code = models.CharField(max_length=16)
    state = models.CharField(max_length=10, choices=State.choices, default=State.STARTING)
    transaction = models.OneToOneField(
        "csms.Transaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="app_session",
    )
    start_command = models.ForeignKey(
        "csms.Command", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    stop_command = models.ForeignKey(
        "csms.Command", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What is held for this session now (the sum of its holds, less what was released).
    held = models.DecimalField(**LEDGER_MONEY, default=0)
    stop_cause = models.CharField(
        max_length=10, choices=StopCause.choices, blank=True, default=StopCause.NONE
    )
    failure_reason = models.CharField(max_length=255, blank=True)
    # The client's Idempotency-Key header, when it sent one: a retried POST returns this session.
    idempotency_key = models.CharField(max_length=255, blank=True)
    start_deadline = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    charging_at = models.DateTimeField(null=True, blank=True)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "start_deadline"], name="wallet_session_deadline"),
            models.Index(fields=["wallet", "-created_at"], name="wallet_session_list"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["wallet", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="wallet_session_idempotency",
            ),
            # One app start at a time per connector: a second driver scanning the same QR code
            # while the first start is in flight is refused by the database too.
            models.UniqueConstraint(
                fields=["charge_point", "connector_id"],
                condition=Q(state="starting"),
                name="wallet_session_one_start_per_connector",
            ),
        ]

    def __str__(self) -> str:
        return f"app session {self.pk} ({self.state})"
