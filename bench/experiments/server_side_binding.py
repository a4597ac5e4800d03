"""psycopg 3 server-side parameter binding: lets psycopg prepare statements it sees often
(prepare_threshold, 5 by default), so PostgreSQL parses and plans them once."""

from __future__ import annotations

from typing import Any

from sitecustomize import after_import


def _patch(settings: Any) -> None:
    settings.DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True


after_import("csms.settings", _patch)
