"""Factories: plain functions with sensible defaults; pass what the test cares about."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.authtoken.models import Token

from csms.models import ChargePoint, Connector, IdTag, Reservation, Transaction
from csms.permissions import OPERATORS, SUPPORT
from csms.services.stations import charge_point_set_password_hash

_seq = itertools.count(1)


def make_user(*, username: str | None = None, role: str | None = None, **extra: Any) -> Any:
    """role: 'operator', 'support', or None (a driver / outsider)."""
    User = get_user_model()
    user = User.objects.create_user(
        username=username or f"user{next(_seq)}", password="pw-for-tests-123", **extra
    )
    if role == "operator":
        user.is_staff = True
        user.save()
        user.groups.add(Group.objects.get_or_create(name=OPERATORS)[0])
    elif role == "support":
        user.is_staff = True
        user.save()
        user.groups.add(Group.objects.get_or_create(name=SUPPORT)[0])
    return user


def make_token(user: Any) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def make_charge_point(
    *, identity: str | None = None, password: str | None = None, **fields: Any
) -> ChargePoint:
    charge_point = ChargePoint(identity=identity or f"CP{next(_seq):04d}", **fields)
    if password:
        charge_point_set_password_hash(charge_point=charge_point, password=password)
    charge_point.save()
    return charge_point


def make_connector(*, charge_point: ChargePoint, connector_id: int = 1, **fields: Any) -> Connector:
    fields.setdefault("status", "Available")
    fields.setdefault("error_code", "NoError")
    return Connector.objects.create(charge_point=charge_point, connector_id=connector_id, **fields)


def make_id_tag(*, id_tag: str | None = None, **fields: Any) -> IdTag:
    tag = IdTag(id_tag=id_tag or f"TAG{next(_seq):05d}", **fields)
    tag.save()
    return tag


def make_transaction(
    *,
    charge_point: ChargePoint | None = None,
    connector_id: int = 1,
    id_tag: str = "TAG",
    meter_start: int = 1000,
    started_at: datetime | None = None,
    **fields: Any,
) -> Transaction:
    return Transaction.objects.create(
        charge_point=charge_point or make_charge_point(),
        connector_id=connector_id,
        id_tag=id_tag,
        meter_start=meter_start,
        started_at=started_at or timezone.now(),
        **fields,
    )


def make_reservation(
    *,
    charge_point: ChargePoint,
    connector_id: int = 1,
    id_tag: str = "T",
    expires_in: timedelta = timedelta(hours=1),
    state: str = Reservation.State.ACTIVE,
    **fields: Any,
) -> Reservation:
    """A reservation the station holds (Active) until ``expires_in`` from now."""
    return Reservation.objects.create(
        charge_point=charge_point,
        connector_id=connector_id,
        id_tag=id_tag,
        expiry_date=timezone.now() + expires_in,
        state=state,
        **fields,
    )
