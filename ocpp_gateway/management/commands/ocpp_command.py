"""Send an OCPP operation to a station from the command line, through the same path as the API:

    manage.py ocpp_command CP1 Reset '{"type": "Soft"}'
    manage.py ocpp_command CP1 GetConfiguration --user olivia --timeout 10
    manage.py ocpp_command CP1 ClearCache --no-wait

Needs the Redis channel layer (REDIS_URL) to reach a station held by a server process: this
command runs in a process of its own. Prints the command record as JSON; exits 1 when the
command was refused, failed or timed out.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from csms.models import ChargePoint
from csms.models import Command as OcppCommand
from ocpp_gateway import calls


class Command(BaseCommand):
    help = "Send an OCPP 1.6 operation to a connected station and print its answer."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("identity")
        parser.add_argument("action", help="e.g. Reset, GetConfiguration, RemoteStartTransaction")
        parser.add_argument("payload", nargs="?", default="{}", help="JSON object")
        parser.add_argument("--user", help="attribute the command to this username")
        parser.add_argument("--timeout", type=float, help="seconds to wait for the answer")
        parser.add_argument("--no-wait", action="store_true", help="return once queued")

    def handle(self, *args: Any, **options: Any) -> None:
        charge_point = ChargePoint.objects.filter(identity=options["identity"]).first()
        if charge_point is None:
            raise CommandError(f"No charge point {options['identity']!r}.")
        try:
            payload = json.loads(options["payload"])
        except ValueError as exc:
            raise CommandError(f"payload is not JSON: {exc}") from None
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user {options['user']!r}.")
        try:
            command = calls.command_send(
                charge_point=charge_point,
                action=options["action"],
                payload=payload,
                issued_by=user,
                source="cli",
                timeout=options["timeout"],
                wait=not options["no_wait"],
            )
        except calls.CommandError as exc:
            raise CommandError(exc.message) from None
        record = {
            "id": str(command.pk),
            "charge_point": charge_point.identity,
            "action": command.action,
            "request": command.request,
            "state": command.state,
            "response": command.response,
            "error_code": command.error_code,
            "error_description": command.error_description,
        }
        self.stdout.write(json.dumps(record, indent=2))
        if command.state in (OcppCommand.State.FAILED, OcppCommand.State.TIMED_OUT):
            raise CommandError(f"{command.action} {command.state}")
