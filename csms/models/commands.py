"""Commands: the durable record of each call the central system sends a station."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from csms.models.stations import ChargePoint


class Command(models.Model):
    """A call we send to a station, and what came of it. Durable: survives restarts, and a call
    whose answer never arrives ends as TIMED_OUT, never pending."""

    class State(models.TextChoices):
        QUEUED = "queued"
        SENT = "sent"
        ANSWERED = "answered"
        FAILED = "failed"  # CALLERROR answer, or could not be delivered
        TIMED_OUT = "timed_out"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    charge_point = models.ForeignKey(ChargePoint, on_delete=models.CASCADE, related_name="commands")
    action = models.CharField(max_length=40)
    # As sent, with secrets masked (an AuthorizationKey, credentials in a URL): the station got
    # the full request; it is never stored (ocpp_gateway.operations: Operation.redact).
    request = models.JSONField(default=dict)
    # ChangeConfiguration AuthorizationKey: the hash of the password the key sets, installed as
    # the station's next password when it accepts (the key itself is never stored).
    new_password_hash = models.CharField(max_length=200, blank=True, editable=False)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ocpp_commands",
    )
    source = models.CharField(max_length=20, default="api", help_text="api, admin, task, cli")
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    response = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_description = models.CharField(max_length=255, blank=True)
    error_details = models.JSONField(null=True, blank=True)
    timeout = models.FloatField(default=30.0)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["charge_point", "-created_at"], name="cmd_cp_time"),
            models.Index(fields=["state", "created_at"], name="cmd_state_time"),
        ]

    def __str__(self) -> str:
        return f"{self.action} → {self.charge_point_id} ({self.state})"

    @property
    def is_final(self) -> bool:
        return self.state in {self.State.ANSWERED, self.State.FAILED, self.State.TIMED_OUT}

    @property
    def deadline(self) -> datetime:
        """When an answer stops counting: created_at plus the command's timeout."""
        return self.created_at + timedelta(seconds=self.timeout)
