"""The periodic jobs: commands whose gateway died end timed out; reservations expire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from csms.models import Command, Reservation
from csms.services.commands import command_mark_sent, command_mark_timed_out
from ocpp_gateway import tasks
from tests.factories import make_charge_point, make_reservation

pytestmark = pytest.mark.django_db


def _command(cp, *, state, age_seconds, timeout=30.0):
    return Command.objects.create(
        charge_point=cp,
        action="Reset",
        request={"type": "Soft"},
        state=state,
        timeout=timeout,
        created_at=timezone.now() - timedelta(seconds=age_seconds),
    )


def test_it_times_out_commands_left_open_by_a_dead_gateway():
    cp = make_charge_point()
    stale_sent = _command(cp, state=Command.State.SENT, age_seconds=60)
    stale_queued = _command(cp, state=Command.State.QUEUED, age_seconds=45)
    within_timeout = _command(cp, state=Command.State.SENT, age_seconds=20)
    within_grace = _command(cp, state=Command.State.SENT, age_seconds=35)
    long_timeout = _command(cp, state=Command.State.SENT, age_seconds=60, timeout=120)
    answered = _command(cp, state=Command.State.ANSWERED, age_seconds=600)

    closed = tasks.commands_time_out_stale()

    assert closed == 2
    states = {c.pk: c.state for c in Command.objects.all()}
    assert states[stale_sent.pk] == Command.State.TIMED_OUT
    assert states[stale_queued.pk] == Command.State.TIMED_OUT
    for still_open in (within_timeout, within_grace, long_timeout):
        assert states[still_open.pk] == Command.State.SENT
    assert states[answered.pk] == Command.State.ANSWERED
    stale_sent.refresh_from_db()
    assert stale_sent.completed_at is not None
    assert "gateway" in stale_sent.error_description


def test_it_expires_open_reservations_past_their_expiry():
    cp = make_charge_point()
    now = timezone.now()

    def reservation(state, expiry):
        return Reservation.objects.create(
            charge_point=cp, connector_id=1, id_tag="T", expiry_date=expiry, state=state
        )

    past_active = reservation(Reservation.State.ACTIVE, now - timedelta(minutes=1))
    past_requested = reservation(Reservation.State.REQUESTED, now - timedelta(minutes=1))
    future_active = reservation(Reservation.State.ACTIVE, now + timedelta(minutes=5))
    past_used = reservation(Reservation.State.USED, now - timedelta(hours=1))

    assert tasks.reservations_expire() == 2

    states = {r.pk: r.state for r in Reservation.objects.all()}
    assert states[past_active.pk] == Reservation.State.EXPIRED
    assert states[past_requested.pk] == Reservation.State.EXPIRED
    assert states[future_active.pk] == Reservation.State.ACTIVE
    assert states[past_used.pk] == Reservation.State.USED


def test_both_jobs_are_scheduled():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "ocpp_gateway.tasks.commands_time_out_stale",
        "ocpp_gateway.tasks.reservations_expire",
    } <= scheduled


def _queued_reserve_now(charge_point, created_at):
    reservation = make_reservation(charge_point=charge_point, state=Reservation.State.REQUESTED)
    command = Command.objects.create(
        charge_point=charge_point,
        action="ReserveNow",
        request={"connectorId": 1, "idTag": "T", "reservationId": reservation.pk},
        timeout=5,
        created_at=created_at,
    )
    return reservation, command


def test_a_reserve_now_that_times_out_unsent_rejects_its_reservation():
    cp = make_charge_point()
    reservation, command = _queued_reserve_now(cp, timezone.now())

    command_mark_timed_out(command_id=command.pk)

    reservation.refresh_from_db()
    assert reservation.state == Reservation.State.REJECTED


def test_a_reserve_now_that_expires_in_the_station_queue_rejects_its_reservation():
    cp = make_charge_point()
    reservation, command = _queued_reserve_now(cp, timezone.now() - timedelta(seconds=10))

    assert command_mark_sent(command_id=command.pk) is None

    reservation.refresh_from_db()
    assert reservation.state == Reservation.State.REJECTED


def test_a_sent_reserve_now_that_times_out_keeps_its_reservation_open():
    cp = make_charge_point()
    reservation, command = _queued_reserve_now(cp, timezone.now())
    Command.objects.filter(pk=command.pk).update(state=Command.State.SENT)

    command_mark_timed_out(command_id=command.pk)

    reservation.refresh_from_db()
    assert reservation.state == Reservation.State.REQUESTED  # the station may have accepted
