"""``python manage.py simulate``: simulated OCPP 1.6J charge points against a central system
(this platform or any other, by ``--url``). The simulator itself (the top-level
``simulator`` package) does not touch Django; only the tag seeding here writes to this
platform's database.

Drivers present idTags, and a central system only lets known tags charge: against this platform
on this machine (a loopback URL, the default) the drivers' tags are registered as Accepted first,
so ``manage.py simulate --count 20`` charges out of the box. ``--no-seed-tags`` skips that,
``--seed-tags`` forces it (e.g. the platform is reached through a host name).
"""

from __future__ import annotations

import argparse
import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError

from simulator.cli import add_arguments, configure_logging, fleet_from_options, run


class Command(BaseCommand):
    help = (
        "Run N simulated OCPP 1.6J charge points: boot, status, heartbeats, charging sessions "
        "with meter values, and answers to every central-system operation. Ctrl-C switches "
        "them off cleanly (open sessions end with reason PowerLoss); Ctrl-C twice aborts."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        add_arguments(parser)
        parser.add_argument(
            "--seed-tags",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="register the drivers' idTags as Accepted in THIS platform's database "
            "(default: only when --url is a loopback address, i.e. this platform)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        configure_logging(options["log_level"], install_handler=False)
        try:
            fleet = fleet_from_options(options)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        seed = options["seed_tags"]
        if seed is None:
            seed = is_loopback(fleet.station.url)
        if seed:
            created = seed_tags(fleet.all_tags())
            self.stdout.write(f"{created} idTag(s) registered for the simulated drivers.")
        summary = run(fleet)
        if summary is None:
            raise CommandError("aborted: open sessions were not reported", returncode=130)
        self.stdout.write(str(summary))


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def seed_tags(tags: list[str]) -> int:
    """Accepted IdTags for the simulated drivers; existing tags are left as they are."""
    from csms.models import IdTag

    existing = set(
        IdTag.objects.filter(key__in=[IdTag.normalize(t) for t in tags]).values_list(
            "key", flat=True
        )
    )
    missing = [tag for tag in dict.fromkeys(tags) if IdTag.normalize(tag) not in existing]
    IdTag.objects.bulk_create(
        [IdTag(id_tag=tag, key=IdTag.normalize(tag), note="simulated driver") for tag in missing],
        ignore_conflicts=True,
    )
    return len(missing)
