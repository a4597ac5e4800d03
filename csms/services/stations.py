"""Station writes: registration and credentials, connection state, boot, connector status,
operator edits and deletion."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, ProtectedError
from django.utils import timezone

from csms import signals
from csms.models import (
    ChargePoint,
    Command,
    ConnectionAttempt,
    Connector,
    GatewayProcess,
    RegistrationStatus,
    StatusNotification,
    Transaction,
)
from csms.station_auth import MIN_PASSWORD_LENGTH, hash_station_password, verify_station_password

logger = logging.getLogger(__name__)

# Standard BootNotification fields → ChargePoint columns.
BOOT_FIELDS = {
    "chargePointVendor": "vendor",
    "chargePointModel": "model",
    "chargePointSerialNumber": "charge_point_serial_number",
    "chargeBoxSerialNumber": "charge_box_serial_number",
    "firmwareVersion": "firmware_version",
    "iccid": "iccid",
    "imsi": "imsi",
    "meterType": "meter_type",
    "meterSerialNumber": "meter_serial_number",
}


def charge_point_register(
    *,
    identity: str,
    name: str = "",
    password: str | None = None,
    registration_status: str = RegistrationStatus.ACCEPTED,
    **fields: Any,
) -> ChargePoint:
    """Create a station. Validates the identity; raises django ValidationError when it is bad."""
    charge_point = ChargePoint(
        identity=identity, name=name, registration_status=registration_status, **fields
    )
    if password:
        charge_point_set_password_hash(charge_point=charge_point, password=password)
    charge_point.full_clean()
    charge_point.save()
    return charge_point


def charge_point_set_password_hash(*, charge_point: ChargePoint, password: str | None) -> None:
    """Set (or with None/empty, clear) the station's Basic-auth password. Does not save. An
    operator's password wins over one a ChangeConfiguration AuthorizationKey left pending."""
    charge_point.password_hash_next = ""
    if not password:
        charge_point.password_hash = ""
        return
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            {"password": f"Station passwords must be at least {MIN_PASSWORD_LENGTH} characters."}
        )
    charge_point.password_hash = hash_station_password(password)


def charge_point_authenticate(*, charge_point: ChargePoint, password: bytes | None) -> bool:
    """Check the Basic-auth ``password`` of a handshake (None: no credentials). True when it
    may connect: it matches the current password, or the pending one (which then becomes the
    password, ending the old one), or the station has no password yet.

    Writes only when a login teaches us something: a pending password used for the first time,
    or a hash of an earlier scheme or SECRET_KEY remade now (one UPDATE, guarded by the hash it
    replaces so a concurrent change by an operator wins). Each check is a few HMACs: this runs
    on every reconnect."""
    current, pending = charge_point.password_hash, charge_point.password_hash_next
    if pending and password is not None:
        matches, _ = verify_station_password(password, pending)
        if matches:
            ChargePoint.objects.filter(
                pk=charge_point.pk, password_hash=current, password_hash_next=pending
            ).update(password_hash=pending, password_hash_next="")
            charge_point.password_hash, charge_point.password_hash_next = pending, ""
            logger.info("%s connected with its new password; the old one ends", charge_point)
            return True
    if not current:
        return True
    if password is None:
        return False
    matches, rehash = verify_station_password(password, current)
    if matches and rehash:
        upgraded = hash_station_password(password)
        ChargePoint.objects.filter(pk=charge_point.pk, password_hash=current).update(
            password_hash=upgraded
        )
        charge_point.password_hash = upgraded
    return matches


def charge_point_password_offer(*, charge_point_id: int, password_hash: str) -> None:
    """The station accepted a new password (ChangeConfiguration AuthorizationKey): keep it
    beside the current one until the station first connects with it."""
    charge_point_state_update(charge_point_id=charge_point_id, password_hash_next=password_hash)


def connection_attempt_record(
    *,
    identity: str,
    reason: str,
    remote_address: str = "",
    detail: str = "",
    count: int = 1,
    timestamp: datetime | None = None,
) -> ConnectionAttempt:
    """Record ``count`` refused handshakes. Within OCPP_CONNECTION_ATTEMPT_AGGREGATE_SECONDS of
    the last one with the same identity, address and reason, they are added to its row (count,
    last_at, latest detail) instead of a new one: a station retrying with a stale password
    every few seconds, or a guesser, leaves one row, not thousands."""
    now = timestamp or timezone.now()
    identity, remote_address, detail = identity[:200], remote_address[:100], detail[:255]
    window = settings.OCPP_CONNECTION_ATTEMPT_AGGREGATE_SECONDS
    if window > 0:
        recent = (
            ConnectionAttempt.objects.filter(
                identity=identity,
                reason=reason,
                remote_address=remote_address,
                last_at__gte=now - timedelta(seconds=window),
            )
            .order_by("-last_at")
            .first()
        )
        if recent is not None:
            ConnectionAttempt.objects.filter(pk=recent.pk).update(
                count=F("count") + count, last_at=now, detail=detail
            )
            recent.count += count
            recent.last_at, recent.detail = now, detail
            return recent
    return ConnectionAttempt.objects.create(
        identity=identity,
        reason=reason,
        remote_address=remote_address,
        detail=detail,
        count=count,
        created_at=now,
        last_at=now,
    )


def connection_attempts_purge(*, older_than_days: int | None = None) -> int:
    """Delete refused-handshake rows whose latest attempt is past the retention
    (OCPP_CONNECTION_ATTEMPT_RETENTION_DAYS, 0 keeps everything); a row still being counted
    stays. Returns the number deleted."""
    days = (
        settings.OCPP_CONNECTION_ATTEMPT_RETENTION_DAYS
        if older_than_days is None
        else older_than_days
    )
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = ConnectionAttempt.objects.filter(last_at__lt=cutoff).delete()
    return deleted


def charge_point_register_from_attempt(*, attempt: ConnectionAttempt) -> ChargePoint:
    """One-step registration of a refused station; clears its refused attempts."""
    charge_point, _ = ChargePoint.objects.get_or_create(identity=attempt.identity)
    ConnectionAttempt.objects.filter(
        identity=attempt.identity, reason=ConnectionAttempt.Reason.UNKNOWN
    ).delete()
    return charge_point


def charge_point_connected(
    *,
    charge_point: ChargePoint,
    channel_name: str,
    remote_address: str,
    timestamp: datetime,
    gateway_process: str = "",
) -> str:
    """Mark the station online on this channel, held by the GatewayProcess ``gateway_process``.
    Returns the channel of a connection it replaces ('' if none), which the caller must
    close."""
    previous = (
        ChargePoint.objects.select_for_update()
        .filter(pk=charge_point.pk)
        .values_list("ws_channel_name", flat=True)
        .first()
    )
    ChargePoint.objects.filter(pk=charge_point.pk).update(
        connected=True,
        ws_channel_name=channel_name,
        gateway_process=gateway_process,
        connected_at=timestamp,
        last_seen=timestamp,
        remote_address=remote_address[:100],
    )
    return previous if previous and previous != channel_name else ""


def charge_point_disconnected(
    *, charge_point_id: int, channel_name: str, timestamp: datetime
) -> bool:
    """Mark offline, unless a newer connection has already taken the station over."""
    updated = ChargePoint.objects.filter(pk=charge_point_id, ws_channel_name=channel_name).update(
        connected=False, ws_channel_name="", gateway_process="", disconnected_at=timestamp
    )
    return bool(updated)


def gateway_process_beat(*, process_id: str, host: str, pid: int, timestamp: datetime) -> bool:
    """Record that the gateway process ``process_id`` is alive. Returns False when it had no
    row: its first beat, or another process took it for dead and reaped its stations (the
    caller then reclaims the connections it still holds, see charge_points_reclaim)."""
    if GatewayProcess.objects.filter(pk=process_id).update(heartbeat_at=timestamp):
        return True
    GatewayProcess.objects.create(
        id=process_id, host=host[:255], pid=pid, started_at=timestamp, heartbeat_at=timestamp
    )
    return False


def gateway_processes_reap(*, process_ids: Iterable[str], timestamp: datetime) -> int:
    """The gateway processes ``process_ids`` are dead: mark the stations they held offline,
    fail their commands still queued or in flight (no answer can be recorded for them now)
    and delete the processes' rows. Returns how many stations were marked offline. A station
    that has reconnected to another process meanwhile names that process, so it is kept.
    Runs in its own transaction (a savepoint inside the caller's)."""
    dead = list(process_ids)
    if not dead:
        return 0
    with transaction.atomic():
        return _reap(dead, timestamp)


def _reap(dead: list[str], timestamp: datetime) -> int:
    from csms.services.commands import command_fail

    # Locked, so a station reconnecting meanwhile is either cleared before it names its new
    # process or not at all.
    held = ChargePoint.objects.select_for_update().filter(gateway_process__in=dead)
    station_ids = list(held.values_list("pk", flat=True))
    open_commands = Command.objects.filter(
        charge_point_id__in=station_ids, state__in=[Command.State.QUEUED, Command.State.SENT]
    ).values_list("pk", flat=True)
    for command_id in list(open_commands):
        command_fail(
            command_id=command_id,
            description="The gateway process holding the station's connection stopped.",
        )
    cleared = ChargePoint.objects.filter(pk__in=station_ids).update(
        connected=False, ws_channel_name="", gateway_process="", disconnected_at=timestamp
    )
    GatewayProcess.objects.filter(pk__in=dead).delete()
    if cleared:
        logger.warning(
            "gateway process(es) %s stopped without closing: %d station(s) marked offline",
            ", ".join(dead),
            cleared,
        )
    return cleared


def charge_points_reclaim(*, gateway_process: str, channels: dict[int, str]) -> int:
    """The live process ``gateway_process`` was taken for dead (its heartbeat lapsed: a long
    database outage) while it still holds these connections, ``{charge_point_id: channel}``:
    mark them connected again, except stations that have connected elsewhere since."""
    reclaimed = 0
    for charge_point_id, channel_name in channels.items():
        reclaimed += ChargePoint.objects.filter(pk=charge_point_id, ws_channel_name="").update(
            connected=True, ws_channel_name=channel_name, gateway_process=gateway_process
        )
    return reclaimed


def charge_points_touch(*, last_seen: dict[int, datetime]) -> None:
    """Batch 'last seen' update for many stations (one statement)."""
    if not last_seen:
        return
    # One plain UPDATE with the batch's latest time: a batch spans milliseconds, and
    # bulk_update's CASE per station cost ~8 ms per batch in the profile (bench/README.md).
    ChargePoint.objects.filter(pk__in=list(last_seen)).update(last_seen=max(last_seen.values()))


def charge_point_boot(
    *, charge_point: ChargePoint, payload: dict[str, Any], timestamp: datetime
) -> tuple[str, int]:
    """Store BootNotification device data; returns (registration status, interval)."""
    charge_point.refresh_from_db(fields=["registration_status", "heartbeat_interval"])
    values: dict[str, Any] = {column: payload.get(key, "") for key, column in BOOT_FIELDS.items()}
    extras = {k: v for k, v in payload.items() if k not in BOOT_FIELDS}
    values["vendor_extras"] = extras
    values["last_boot_at"] = timestamp
    values["last_seen"] = timestamp
    ChargePoint.objects.filter(pk=charge_point.pk).update(**values)
    for attr, value in values.items():
        setattr(charge_point, attr, value)
    return charge_point.registration_status, charge_point.effective_heartbeat_interval


# Network delay and batching make two readings of the same clock differ by a second or two;
# a move smaller than this is not worth a write on the hot path.
CLOCK_JITTER_SECONDS = 5
_MAX_OFFSET = 2**31 - 1  # ChargePoint.clock_offset_seconds is an integer column


def charge_point_clock_observe(
    *,
    charge_point: ChargePoint,
    station_time: datetime,
    received_at: datetime,
    may_be_queued: bool = False,
) -> None:
    """Measure the station's clock from a timestamp it just sent (``received_at`` on ours).

    Cheap: one UPDATE only when the offset moves by more than CLOCK_JITTER_SECONDS, compared
    with the value held on ``charge_point`` (the connection's instance, refreshed on commit).
    ``may_be_queued`` marks transaction messages, which a station keeps while offline and
    sends later: there a timestamp far behind ours means a late delivery, not a slow clock, so
    it is not taken as a reading (one ahead of ours is, whatever the delay)."""
    seconds = round((station_time - received_at).total_seconds())
    offset = max(-_MAX_OFFSET, min(_MAX_OFFSET, seconds))
    if may_be_queued and offset < -settings.OCPP_CLOCK_SKEW_TOLERANCE:
        return
    stored = charge_point.clock_offset_seconds
    if stored is not None and abs(offset - stored) <= CLOCK_JITTER_SECONDS:
        return
    ChargePoint.objects.filter(pk=charge_point.pk).update(
        clock_offset_seconds=offset, clock_offset_at=received_at
    )
    if stored is None or abs(stored) <= settings.OCPP_CLOCK_SKEW_TOLERANCE < abs(offset):
        logger.warning("%s: clock is off by %+d s", charge_point.identity, offset)

    def remember() -> None:
        # Only once committed: a rolled-back batch is replayed and must write again.
        charge_point.clock_offset_seconds = offset
        charge_point.clock_offset_at = received_at

    transaction.on_commit(remember)


def connector_status_update(
    *,
    charge_point: ChargePoint,
    connector_id: int,
    status: str,
    error_code: str,
    info: str = "",
    vendor_id: str = "",
    vendor_error_code: str = "",
    timestamp: datetime | None,
) -> Connector:
    """Record a StatusNotification: history row plus the connector's current state.

    The current state is the last notification to *arrive*: OCPP-J delivers a station's
    messages one at a time in the order it sends them, while its clock may be hours off (a
    wrong clock, local time read as UTC), so comparing its timestamps could freeze the
    connector. The station's timestamp is kept as data (``status_timestamp``, the history);
    ``status_since`` is when the current status arrived on our clock."""
    now = timezone.now()
    StatusNotification.objects.create(
        charge_point=charge_point,
        connector_id=connector_id,
        status=status,
        error_code=error_code,
        info=info,
        vendor_id=vendor_id,
        vendor_error_code=vendor_error_code,
        timestamp=timestamp,
        received_at=now,
    )
    state = {
        "status": status,
        "error_code": error_code,
        "info": info,
        "vendor_id": vendor_id,
        "vendor_error_code": vendor_error_code,
        "status_timestamp": timestamp or now,
    }
    connector, created = Connector.objects.get_or_create(
        charge_point=charge_point,
        connector_id=connector_id,
        defaults={**state, "status_since": now},
    )
    if not created:
        # A repeat of the same status does not move status_since: the stale-session rule
        # counts from when the connector became Available, not from its last report.
        if connector.status != status or connector.status_since is None:
            connector.status_since = now
        for name, value in state.items():
            setattr(connector, name, value)
        connector.save()
    return connector


CHARGE_POINT_EDITABLE_FIELDS = frozenset(
    {"name", "description", "location", "registration_status", "heartbeat_interval", "site"}
)


class ChargePointInUse(Exception):
    """The station has transactions: charging history is kept (Transaction FK is PROTECT)."""


def charge_point_update(*, charge_point: ChargePoint, **fields: Any) -> ChargePoint:
    """Change operator-editable fields. ``password`` sets the Basic-auth password (None or ''
    clears it). The identity is what the station connects with and cannot change here.

    Saves only the fields it changes: the gateway writes connection state on the same row
    concurrently, and a full save would roll last_seen / connected back."""
    unknown = set(fields) - CHARGE_POINT_EDITABLE_FIELDS - {"password"}
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    update_fields = ["updated_at"]
    if "password" in fields:
        charge_point_set_password_hash(charge_point=charge_point, password=fields.pop("password"))
        update_fields += ["password_hash", "password_hash_next"]
    for name, value in fields.items():
        setattr(charge_point, name, value)
        update_fields.append(name)
    charge_point.full_clean(validate_unique=False, validate_constraints=False)
    charge_point.save(update_fields=update_fields)
    return charge_point


def charge_point_delete(*, charge_point: ChargePoint) -> None:
    """Delete a station and what hangs off it (connectors, logs, history). Refused with
    ChargePointInUse when it has transactions. Sends ``charge_point_deleted``: a connected
    station's socket is closed after commit (by the gateway), so it cannot keep writing for a
    row that no longer exists."""
    count = Transaction.objects.filter(charge_point=charge_point).count()
    if count:
        raise ChargePointInUse(
            f"Charge point {charge_point.identity} has {count} transaction(s); charging history "
            "is kept, so it cannot be deleted. Set its registration_status to Rejected to stop "
            "it from operating instead."
        )
    charge_point_id, channel = charge_point.pk, charge_point.ws_channel_name
    try:
        with transaction.atomic():
            charge_point.delete()
    except ProtectedError as exc:  # a transaction started meanwhile
        raise ChargePointInUse(
            f"Charge point {charge_point.identity} has transactions and cannot be deleted."
        ) from exc
    signals.charge_point_deleted.send(
        sender=ChargePoint,
        charge_point_id=charge_point_id,
        identity=charge_point.identity,
        channel_name=channel,
    )


def charge_point_state_update(*, charge_point_id: int, **values: Any) -> None:
    """Set station state learnt from a command's answer (configuration snapshot, local list
    version, reboot flag). update(), never save(): the gateway writes last_seen/connected on
    this row concurrently."""
    ChargePoint.objects.filter(pk=charge_point_id).update(updated_at=timezone.now(), **values)
