"""Create the operator account ``admin`` on first start; with ``--reset-password``, give it a
new password (the way back in when the password is lost).

The password comes from DJANGO_SUPERUSER_PASSWORD, or is generated and printed exactly once.
Without ``--reset-password`` an existing ``admin`` is left alone, so every start (``make run``,
compose's ``migrate`` service) may run it. ``manage.py changepassword admin`` also works, and
asks for the new password at the terminal instead.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from csms import throttling
from csms.authentication import login_limits
from csms.permissions import OPERATORS

LOST_PASSWORD_HINT = (
    "  Lost it? `.venv/bin/python manage.py ensure_admin --reset-password` (docker compose: "
    "`docker compose exec web python manage.py ensure_admin --reset-password`).\n"
)


class Command(BaseCommand):
    help = "Create the 'admin' operator account if it does not exist, or reset its password."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help="Give the existing account a new password (DJANGO_SUPERUSER_PASSWORD, or a "
            "generated one printed once), and make it an active operator again.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        username = options["username"]
        user = User.objects.filter(username=username).first()
        if user is not None and not options["reset_password"]:
            self.stdout.write(f"Operator account '{username}' exists.")
            return
        given = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        password = given or secrets.token_urlsafe(12)
        if user is None:
            user = User.objects.create_superuser(username=username, email="", password=password)
            done = "Created operator account"
        else:
            # Locked out for whatever reason: the account must work again after this.
            user.set_password(password)
            user.is_active = user.is_staff = user.is_superuser = True
            user.save()
            # Whoever lost the password usually tried a few first: the user name's failed
            # log-ins (csms.authentication) must not keep the new password out. The cache is
            # shared with the server under Redis; in memory (`make run`) it is the server's
            # own, which a restart clears.
            throttling.clear(login_limits(username, ""))
            done = "Reset the password of operator account"
        group, _ = Group.objects.get_or_create(name=OPERATORS)
        user.groups.add(group)
        if given:
            self.stdout.write(f"{done} '{username}': password from DJANGO_SUPERUSER_PASSWORD.")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"\n  {done} '{username}' with password: {password}\n"
                    "  It is shown only this once.\n" + LOST_PASSWORD_HINT
                )
            )
