"""``manage.py periodic``: the Celery beat schedule (settings.CELERY_BEAT_SCHEDULE) run in
this process, each job executed in place. ``make run`` has no broker, so neither beat nor a
worker runs; runplatform starts this beside daphne instead, so a newcomer's platform times out
commands, expires reservations, closes stale sessions and purges old rows like a deployment.

Jobs are named, not imported (csms does not import the apps built on it): every installed
app's ``tasks`` module is imported, as Celery's autodiscovery does. A failing job is logged
and tried again at its next due time; it never stops the others. Each job first runs at
start-up, like a fresh beat.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from django.utils.module_loading import autodiscover_modules

logger = logging.getLogger("csms.periodic")


def _seconds(schedule: Any) -> float:
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    if isinstance(schedule, int | float):
        return float(schedule)
    # A crontab would need beat's own scheduler; the platform's schedule has none.
    raise CommandError(f"periodic runs interval schedules only, not {schedule!r}")


class Command(BaseCommand):
    help = "Run the Celery beat schedule in this process, without a broker (make run)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="Run every job once and exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        from csms.celery import app

        # Every app's tasks module, as Celery's autodiscovery would import it (without its
        # side effect of setting Django up again, which resets logging).
        autodiscover_modules("tasks")
        # Celery logs every run at INFO (a dozen lines a minute in `make run`'s console) and
        # every failure; failures are logged below, once, with the job's name.
        logging.getLogger("celery.app.trace").setLevel(logging.CRITICAL)
        jobs = {
            name: (app.tasks[entry["task"]], _seconds(entry["schedule"]), entry)
            for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
        }
        due = dict.fromkeys(jobs, time.monotonic())
        try:
            while True:
                for name, (task, every, entry) in jobs.items():
                    if due[name] > time.monotonic():
                        continue
                    result = task.apply(
                        args=entry.get("args", ()), kwargs=entry.get("kwargs", {}), throw=False
                    )
                    if result.failed():
                        logger.error("periodic job %s failed:\n%s", name, result.traceback)
                    else:
                        logger.debug("periodic job %s: %r", name, result.result)
                    due[name] = time.monotonic() + every
                if options["once"]:
                    return
                time.sleep(max(0.5, min(due.values()) - time.monotonic()))
                # Between rounds, as a Celery worker does between tasks: a connection the
                # database dropped while we slept (a restart, CONN_MAX_AGE) is replaced.
                close_old_connections()
        except KeyboardInterrupt:
            return
