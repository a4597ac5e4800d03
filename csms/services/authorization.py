"""Authorization writes and decisions: the id-tag registry, idTagInfo, and the local
authorization list built from the registry.

**Extension points.** Apps built on csms (wallet) take part in authorization without csms
importing them, registering from their ``AppConfig.ready``:

- ``authorization_check_register(name, fn)``: ``fn(tag=, now=, charge_point_id=)`` -> an
  idTagInfo status ("Blocked") to answer instead of Accepted, or None. Asked by Authorize,
  StartTransaction and StopTransaction (``id_tag_authorize``, ``id_tag_start_authorize``)
  only for a tag that has a user (``tag.user_id``) and only when the registry's answer would
  be Accepted, so tags without a user cost nothing. It runs on the gateway's hot path, inside
  its group-commit batch: one query at most, no writes, no locks. A check that raises is
  logged and ignored (fail open: a bug in an app must not stop charging).
- ``local_list_exclusion_register(name, q)``: tags matching the ``Q`` (over IdTag) are never
  sent in a local authorization list (``local_list_entries``), because their answer must be
  decided online at each use (a prepaid wallet).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from csms import batching
from csms.models import (
    ChargePoint,
    IdTag,
    Transaction,
)
from csms.selectors.authorization import id_tag_get
from csms.services.common import iso_utc
from csms.services.stations import charge_point_state_update

logger = logging.getLogger(__name__)


class AuthorizationCheck(Protocol):
    def __call__(self, *, tag: IdTag, now: datetime, charge_point_id: int | None) -> str | None:
        """An idTagInfo status to answer instead of Accepted, or None to leave it Accepted.
        ``charge_point_id``: the station asking (None when not asked by a station)."""
        ...


_CHECKS: dict[str, AuthorizationCheck] = {}
_LOCAL_LIST_EXCLUSIONS: dict[str, Q] = {}


def authorization_check_register(name: str, fn: AuthorizationCheck) -> None:
    """Ask ``fn`` about every user-owned tag the registry would accept (see the module
    docstring). Registering a name again replaces it (a reloaded app)."""
    _CHECKS[name] = fn


def local_list_exclusion_register(name: str, q: Q) -> None:
    """Leave the tags matching ``q`` out of every local authorization list (see the module
    docstring). Registering a name again replaces it."""
    _LOCAL_LIST_EXCLUSIONS[name] = q


def _checked(
    tag: IdTag | None, info: dict[str, Any], *, now: datetime, charge_point_id: int | None
) -> dict[str, Any]:
    """``info`` with the registered checks' refusal, if any, for an Accepted user-owned tag."""
    if tag is None or tag.user_id is None or info["status"] != IdTag.Status.ACCEPTED:
        return info
    for name, check in list(_CHECKS.items()):
        try:
            status = _check_run(check, tag=tag, now=now, charge_point_id=charge_point_id)
        except DatabaseError:
            if batching.current() is not None:
                # The gateway's optimistic batch has no savepoints, so the failed query has
                # aborted its transaction: let the batch fail, it is replayed with a
                # savepoint per message, where the error is contained and ignored below.
                raise
            logger.exception("authorization check %s failed for tag %s; ignored", name, tag)
            continue
        except Exception:
            logger.exception("authorization check %s failed for tag %s; ignored", name, tag)
            continue
        if status is not None and status != IdTag.Status.ACCEPTED:
            return {**info, "status": str(status)}
    return info


def _check_run(
    check: AuthorizationCheck, *, tag: IdTag, now: datetime, charge_point_id: int | None
) -> str | None:
    if batching.current() is not None or not connection.in_atomic_block:
        return check(tag=tag, now=now, charge_point_id=charge_point_id)
    # In a transaction outside the optimistic batch (the batch's replay, the API): in a
    # savepoint, so that a database error in the check does not abort the caller's work.
    with transaction.atomic():
        return check(tag=tag, now=now, charge_point_id=charge_point_id)


def id_tag_info(tag: IdTag | None, *, now: datetime) -> dict[str, Any]:
    """OCPP idTagInfo of a registry tag (Invalid when unknown): status, expiry, parent. No
    ConcurrentTx: that is ``id_tag_start_authorize``'s."""
    if tag is None:
        return {"status": IdTag.Status.INVALID.value}
    info: dict[str, Any] = {"status": tag.status_at(now)}
    if tag.expiry_date:
        info["expiryDate"] = tag.expiry_date
    if tag.parent_id:
        assert tag.parent is not None
        info["parentIdTag"] = tag.parent.id_tag
    return info


def id_tag_authorize(
    *, id_tag: str, charge_point_id: int | None = None
) -> tuple[IdTag | None, dict[str, Any]]:
    """idTagInfo for a tag (case-insensitive): registry status, expiry, parent, then the
    registered checks (``authorization_check_register``) for a user's tag. Never
    ConcurrentTx: OCPP 1.6 makes that status "only relevant for the StartTransaction.req", so a
    driver charging at one station is still Accepted at another, and a station that asks to
    stop its own session is not refused (``id_tag_start_authorize`` enforces the limit).
    ``charge_point_id``: the station asking, handed to the checks."""
    now = timezone.now()
    tag = id_tag_get(id_tag=id_tag)
    info = id_tag_info(tag, now=now)
    return tag, _checked(tag, info, now=now, charge_point_id=charge_point_id)


def id_tag_start_authorize(
    *, id_tag: str, charge_point_id: int | None = None
) -> tuple[IdTag | None, dict[str, Any]]:
    """idTagInfo for a StartTransaction: ``id_tag_authorize``'s, but ConcurrentTx when the
    tag already runs ``max_concurrent_sessions`` open sessions that were started Accepted
    (0: no limit). A session we answered otherwise does not hold a slot: the driver was never
    granted it, and a station that keeps it open must not block the tag everywhere.

    Must run inside a transaction, which must go on to record the new session: it locks the
    tag's row until that transaction ends, so two simultaneous starts with one tag count one
    after the other (READ COMMITTED: the second, once it gets the lock, sees the first's
    committed session) and cannot both pass. Unknown tags lock nothing; they are Invalid.
    The registered checks run before the limit is counted (a refused tag needs no count)."""
    now = timezone.now()
    tag = (
        IdTag.objects.select_for_update(of=("self",))
        .select_related("parent")
        .filter(key=IdTag.normalize(id_tag))
        .first()
    )
    info = _checked(tag, id_tag_info(tag, now=now), now=now, charge_point_id=charge_point_id)
    if tag is None or info["status"] != IdTag.Status.ACCEPTED or not tag.max_concurrent_sessions:
        return tag, info
    limit = tag.max_concurrent_sessions
    running = Transaction.objects.filter(
        id_tag_ref=tag, stopped_at__isnull=True, start_status=IdTag.Status.ACCEPTED
    )[:limit].count()
    if running >= limit:
        info["status"] = "ConcurrentTx"
    return tag, info


def _id_tag_parent(*, parent_id_tag: str | None, own_key: str) -> IdTag | None:
    if not parent_id_tag:
        return None
    key = IdTag.normalize(parent_id_tag)
    if key == own_key:
        raise ValidationError({"parent_id_tag": "A tag cannot be its own parent."})
    parent = IdTag.objects.filter(key=key).first()
    if parent is None:
        raise ValidationError({"parent_id_tag": f"Unknown id tag {parent_id_tag!r}."})
    return parent


def _id_tag_save(tag: IdTag) -> IdTag:
    tag.key = IdTag.normalize(tag.id_tag)
    clash = IdTag.objects.filter(key=tag.key).exclude(pk=tag.pk).first()
    if clash is not None:
        raise ValidationError(
            {
                "id_tag": f"Id tag {clash.id_tag!r} already exists; tags are case-insensitive, "
                f"so {tag.id_tag!r} is the same tag."
            }
        )
    tag.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            tag.save()
    except IntegrityError as exc:  # created concurrently
        raise ValidationError({"id_tag": f"Id tag {tag.id_tag!r} already exists."}) from exc
    return tag


def id_tag_create(
    *,
    id_tag: str,
    status: str = IdTag.Status.ACCEPTED,
    expiry_date: datetime | None = None,
    parent_id_tag: str | None = None,
    max_concurrent_sessions: int = 1,
    note: str = "",
    user: Any = None,
) -> IdTag:
    """Register a tag. Unique case-insensitively; ``parent_id_tag`` names an existing tag;
    ``max_concurrent_sessions`` is how many sessions it may run at once (0: no limit)."""
    id_tag = id_tag.strip()
    parent = _id_tag_parent(parent_id_tag=parent_id_tag, own_key=IdTag.normalize(id_tag))
    tag = IdTag(
        id_tag=id_tag,
        status=status,
        expiry_date=expiry_date,
        parent=parent,
        max_concurrent_sessions=max_concurrent_sessions,
        note=note,
        user=user,
    )
    return _id_tag_save(tag)


def id_tag_update(*, tag: IdTag, **fields: Any) -> IdTag:
    """Change status, expiry_date, max_concurrent_sessions, note, user or parent
    (``parent_id_tag``: a tag string, None or '' clears). ``id_tag`` may only change its
    spelling's case: stations and transactions know the tag by its value."""
    if "id_tag" in fields:
        new = fields.pop("id_tag").strip()
        if IdTag.normalize(new) != tag.key:
            raise ValidationError(
                {"id_tag": "A tag's value cannot change (only its case); create a new tag."}
            )
        tag.id_tag = new
    if "parent_id_tag" in fields:
        tag.parent = _id_tag_parent(parent_id_tag=fields.pop("parent_id_tag"), own_key=tag.key)
    unknown = set(fields) - {"status", "expiry_date", "max_concurrent_sessions", "note", "user"}
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    for name, value in fields.items():
        setattr(tag, name, value)
    return _id_tag_save(tag)


def local_list_entries(
    *, update_type: str, id_tags: list[str] | None = None
) -> list[dict[str, Any]]:
    """SendLocalList entries from the id-tag registry, each with the registry's idTagInfo
    (status, expiry, parent; no ConcurrentTx: the list is for offline use). Tags an app
    excludes (``local_list_exclusion_register``: they are decided online, at each use) are
    never in it.

    ``id_tags`` None: every registered tag. Otherwise those tags: for a Full list an unknown
    or excluded tag is an error (ValidationError); for a Differential update either is sent
    without idTagInfo, which removes it from the station's list."""
    now = timezone.now()
    tags = IdTag.objects.select_related("parent").order_by("key")
    for q in _LOCAL_LIST_EXCLUSIONS.values():
        tags = tags.exclude(q)
    if id_tags is not None:
        wanted = {IdTag.normalize(tag): tag for tag in id_tags if tag and tag.strip()}
        tags = tags.filter(key__in=wanted)
        if _LOCAL_LIST_EXCLUSIONS and update_type == "Full":
            online = Q()
            for q in _LOCAL_LIST_EXCLUSIONS.values():
                online |= q
            excluded = sorted(
                IdTag.objects.filter(online, key__in=wanted).values_list("id_tag", flat=True)
            )
            if excluded:
                raise ValidationError(
                    {
                        "id_tags": "Checked online at every use, never sent in a local list: "
                        f"{', '.join(excluded)}."
                    }
                )
    entries: list[dict[str, Any]] = []
    found: set[str] = set()
    for tag in tags:
        found.add(tag.key)
        info = id_tag_info(tag, now=now)
        if isinstance(info.get("expiryDate"), datetime):
            info["expiryDate"] = iso_utc(info["expiryDate"])
        entries.append({"idTag": tag.id_tag, "idTagInfo": info})
    if id_tags is not None:
        missing = [wanted[key] for key in wanted if key not in found]
        if missing and update_type == "Full":
            raise ValidationError(
                {"id_tags": f"Not in the id-tag registry: {', '.join(sorted(missing))}."}
            )
        entries.extend({"idTag": tag.strip()} for tag in sorted(missing))
    return entries


def local_list_next_version(*, charge_point: ChargePoint) -> int:
    """One above the version the station last accepted (1 for its first list)."""
    current = (
        ChargePoint.objects.filter(pk=charge_point.pk)
        .values_list("local_list_version", flat=True)
        .first()
    )
    return max(current or 0, 0) + 1


def local_list_record_answer(*, charge_point_id: int, status: str, version: Any) -> None:
    """The station's SendLocalList status: Accepted makes ``version`` the one it holds;
    VersionMismatch flags the station for a Full list."""
    if status == "Accepted":
        charge_point_state_update(
            charge_point_id=charge_point_id,
            local_list_version=version,
            local_list_reported_version=version,
            local_list_checked_at=timezone.now(),
            local_list_mismatch=False,
        )
    elif status == "VersionMismatch":
        charge_point_state_update(charge_point_id=charge_point_id, local_list_mismatch=True)


def local_list_record_version(*, charge_point_id: int, reported: Any) -> None:
    """A GetLocalListVersion answer: flag a mismatch with the version it last accepted
    (-1: the station has no local list, a mismatch only if we ever sent it one)."""
    sent = (
        ChargePoint.objects.filter(pk=charge_point_id)
        .values_list("local_list_version", flat=True)
        .first()
    )
    if reported == -1:
        mismatch = sent is not None
    else:
        mismatch = reported != (sent or 0)
    charge_point_state_update(
        charge_point_id=charge_point_id,
        local_list_reported_version=reported,
        local_list_checked_at=timezone.now(),
        local_list_mismatch=mismatch,
    )
