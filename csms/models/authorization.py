"""Authorization: the id-tag registry (RFID cards and app tokens)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models


class IdTag(models.Model):
    """An RFID card or app token. OCPP IdToken is case-insensitive: ``key`` is the upper-cased
    form that every lookup uses, unique so two spellings of one tag cannot coexist."""

    class Status(models.TextChoices):
        ACCEPTED = "Accepted"
        BLOCKED = "Blocked"
        EXPIRED = "Expired"
        INVALID = "Invalid"

    id_tag = models.CharField(max_length=20)
    key = models.CharField(max_length=20, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACCEPTED)
    expiry_date = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="id_tags",
        help_text="The driver this tag belongs to (wallet, orders).",
    )
    max_concurrent_sessions = models.PositiveIntegerField(
        default=1,
        help_text="How many sessions the tag may run at once (StartTransaction answers "
        "ConcurrentTx beyond that); 0 = no limit.",
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id_tag"]
        verbose_name = "id tag"

    def __str__(self) -> str:
        return self.id_tag

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.key = self.normalize(self.id_tag)
        super().save(*args, **kwargs)

    def status_at(self, when: datetime) -> str:
        """The status a station is told at ``when``: an Accepted tag past its expiry date is
        Expired (the registry keeps what the operator set)."""
        if self.status == self.Status.ACCEPTED and self.expiry_date and self.expiry_date <= when:
            return self.Status.EXPIRED.value
        return str(self.status)

    @staticmethod
    def normalize(value: str) -> str:
        return value.strip().upper()
