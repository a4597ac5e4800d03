"""Send an OCPP operation to a station from the command line, through the same path as the API:

    manage.py ocpp_command CP1 Reset '{"type": "Soft"}'
    manage.py ocpp_command CP1 GetConfiguration --user olivia --timeout 10
    manage.py ocpp_command CP1 ClearCache --no-wait

Needs the Redis channel layer (REDIS_URL) to reach a station held by a server process: this
command runs in a process of its own. Without it (``make run``) the channel layer is in memory,
inside the server, so a command to a connected station fails at once, saying to use the
server's API or REDIS_URL, instead of waiting out its timeout. Prints the command record as
JSON; exits 1 when the command was refused, failed or timed out.
"""

from __future__ import annotations

import json
import os
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from csms.models import ChargePoint
from csms.models import Command as OcppCommand
from ocpp_gateway import calls, presence


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
        if charge_point.connected and _unreachable(charge_point):
            raise CommandError(_use_the_api(charge_point.identity, options["action"], payload))
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


def _unreachable(charge_point: ChargePoint) -> bool:
    """The in-memory channel layer reaches only the consumers of its own process, and this
    command is a process of its own: a station held by the server is out of its reach."""
    in_memory = isinstance(get_channel_layer(), InMemoryChannelLayer)
    return in_memory and not presence.held_here(charge_point.gateway_process)


def _use_the_api(identity: str, action: str, payload: Any) -> str:
    body = json.dumps({"action": action, "payload": payload})
    port = os.environ.get("PORT", "8000")
    return (
        f"{identity} is connected to the server, which this command cannot reach: without "
        "REDIS_URL the channel layer is in memory, inside the server's own process.\n"
        "Send the command through the server's API instead:\n"
        f"  curl -H 'Authorization: Token <token>' -H 'Content-Type: application/json' "
        f"-d '{body}' http://localhost:{port}/api/v1/charge-points/{identity}/commands/\n"
        "(a token: .venv/bin/python manage.py drf_create_token <username>), or run the server "
        "and this command with REDIS_URL set: the Redis channel layer reaches every process."
    )
