#!/usr/bin/env python
from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")
    # Management commands on a developer's machine need no set-up (`manage.py simulate`,
    # `drf_create_token`, ...). Servers are unaffected: daphne (csms.asgi) and Celery do not go
    # through manage.py and keep DEBUG off unless told; docker-compose sets DEBUG=false.
    os.environ.setdefault("DEBUG", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
