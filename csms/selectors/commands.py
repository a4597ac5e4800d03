"""Command-log reads."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from csms.models import Command


def command_list(
    *,
    charge_point: str | None = None,
    action: str | None = None,
    state: str | None = None,
    issued_by: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Command]:
    """The command log, newest first, with station and issuer joined in. ``charge_point`` is
    an identity, ``issued_by`` a username."""
    commands = Command.objects.select_related("charge_point", "issued_by")
    if charge_point:
        commands = commands.filter(charge_point__identity=charge_point)
    if action:
        commands = commands.filter(action=action)
    if state:
        commands = commands.filter(state=state)
    if issued_by:
        commands = commands.filter(issued_by__username=issued_by)
    if source:
        commands = commands.filter(source=source)
    if since:
        commands = commands.filter(created_at__gte=since)
    if until:
        commands = commands.filter(created_at__lt=until)
    return commands.order_by("-created_at")
