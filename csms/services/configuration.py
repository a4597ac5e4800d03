"""A station's configuration as we know it: the GetConfiguration snapshot, changes it
accepted, and the reboot they may wait for."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from csms.models import ChargePoint
from csms.services.stations import charge_point_state_update


def configuration_snapshot_record(
    *, charge_point_id: int, keys: list[dict[str, Any]], unknown: list[str], partial: bool
) -> None:
    """Store a GetConfiguration answer: ``keys`` its configurationKey list, ``unknown`` its
    unknownKey list. A ``partial`` read (keys were asked for) refreshes those keys and keeps
    the rest of the snapshot; a full read replaces it."""
    charge_point = (
        ChargePoint.objects.select_for_update()
        .only("configuration", "configuration_unknown_keys")
        .get(pk=charge_point_id)
    )
    received = {
        item["key"]: {"value": item.get("value"), "readonly": bool(item.get("readonly"))}
        for item in keys
    }
    if partial:
        snapshot = {**(charge_point.configuration or {}), **received}
        unknown = sorted(
            (set(charge_point.configuration_unknown_keys or []) - set(received)) | set(unknown)
        )
        for key in unknown:
            snapshot.pop(key, None)
    else:
        snapshot = received
    charge_point_state_update(
        charge_point_id=charge_point_id,
        configuration=snapshot,
        configuration_unknown_keys=unknown,
        configuration_at=timezone.now(),
    )


def configuration_change_record(
    *, charge_point_id: int, key: str, value: str, reboot_required: bool
) -> None:
    """The station accepted a ChangeConfiguration (maybe pending a reboot): update the key in
    the snapshot."""
    charge_point = (
        ChargePoint.objects.select_for_update().only("configuration").get(pk=charge_point_id)
    )
    snapshot = dict(charge_point.configuration or {})
    entry = dict(snapshot.get(key) or {"readonly": False})
    entry["value"] = value
    snapshot[key] = entry
    values: dict[str, Any] = {"configuration": snapshot}
    if reboot_required:
        values["reboot_required"] = True
    charge_point_state_update(charge_point_id=charge_point_id, **values)


def configuration_rebooted(*, charge_point_id: int) -> None:
    """The station accepted a Reset: it applies the changes that were waiting for a reboot."""
    charge_point_state_update(charge_point_id=charge_point_id, reboot_required=False)
