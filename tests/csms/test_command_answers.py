"""csms.services.commands.command_record_answer: the station's answer is kept whatever
happens to the effect that a receiver of csms.signals.command_answered applies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from csms import signals
from csms.models import ChargePoint, Command
from csms.services.commands import command_record_answer
from tests.factories import make_charge_point

pytestmark = pytest.mark.django_db


@pytest.fixture
def broken_effect() -> Iterator[None]:
    """An effect that writes, then fails halfway."""

    def effect(sender: Any, *, command: Command, **kwargs: Any) -> None:
        ChargePoint.objects.filter(pk=command.charge_point_id).update(name="half-applied")
        raise RuntimeError("effect bug")

    signals.command_answered.connect(effect, sender=Command, dispatch_uid="broken-effect")
    yield
    signals.command_answered.disconnect(sender=Command, dispatch_uid="broken-effect")


def test_it_keeps_the_answer_and_rolls_back_an_effect_that_fails(broken_effect):
    station = make_charge_point(identity="CP1", name="Depot")
    command = Command.objects.create(
        charge_point=station, action="ClearCache", request={}, timeout=5
    )

    stored = command_record_answer(command_id=command.pk, response={"status": "Accepted"})

    command.refresh_from_db()
    assert stored is not None
    assert command.state == Command.State.ANSWERED
    assert command.response == {"status": "Accepted"}
    assert command.error_description == "Answer stored; applying it failed: effect bug"
    assert ChargePoint.objects.get(pk=station.pk).name == "Depot"


def test_it_ignores_an_answer_to_a_command_that_already_ended():
    station = make_charge_point(identity="CP1")
    command = Command.objects.create(
        charge_point=station,
        action="ClearCache",
        request={},
        timeout=5,
        state=Command.State.TIMED_OUT,
    )

    command_record_answer(command_id=command.pk, response={"status": "Accepted"})

    command.refresh_from_db()
    assert command.state == Command.State.TIMED_OUT
    assert command.response is None
