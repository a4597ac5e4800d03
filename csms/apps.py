from __future__ import annotations

from django.apps import AppConfig


class CsmsConfig(AppConfig):
    name = "csms"
    verbose_name = "Charging stations"
