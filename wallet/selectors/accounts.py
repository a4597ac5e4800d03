"""Reads of driver accounts: the RFID cards linked to a driver."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from csms.models import IdTag


def driver_cards(*, user: Any) -> QuerySet[IdTag]:
    """The driver's RFID cards, by number: their id tags except the app's virtual one."""
    return IdTag.objects.filter(user=user, virtual_wallet__isnull=True).order_by("key")


def driver_card_get(*, user: Any, id_tag: str) -> IdTag | None:
    """One of the driver's tags (the virtual one too) by its value, case-insensitively; None
    when it is not theirs."""
    return IdTag.objects.filter(user=user, key=IdTag.normalize(id_tag)).first()
