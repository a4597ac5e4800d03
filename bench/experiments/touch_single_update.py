"""'Last seen' for every station of a batch in one plain UPDATE instead of Django's
bulk_update, which builds a CASE WHEN expression with one branch per station."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sitecustomize import after_import


def _patch(module: Any) -> None:
    from csms.models import ChargePoint

    def charge_points_touch(*, last_seen: dict[int, datetime]) -> None:
        if last_seen:
            ChargePoint.objects.filter(pk__in=list(last_seen)).update(
                last_seen=max(last_seen.values())
            )

    module.charge_points_touch = charge_points_touch


after_import("ocpp_gateway.committer", _patch)
