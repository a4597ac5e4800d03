"""Create the operator account ``admin`` on first start.

The password comes from DJANGO_SUPERUSER_PASSWORD, or is generated and printed exactly once.
An existing ``admin`` is left alone.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from csms.permissions import OPERATORS


class Command(BaseCommand):
    help = "Create the 'admin' operator account if it does not exist."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        username = options["username"]
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Operator account '{username}' exists.")
            return
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email="", password=password)
        group, _ = Group.objects.get_or_create(name=OPERATORS)
        user.groups.add(group)
        if os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
            self.stdout.write(f"Created operator '{username}' with DJANGO_SUPERUSER_PASSWORD.")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"\n  Created operator account '{username}' with password: {password}\n"
                    "  It is shown only this once.\n"
                )
            )
