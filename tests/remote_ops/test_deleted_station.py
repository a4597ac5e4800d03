from __future__ import annotations

import pytest

from csms.models import Command
from csms.services.commands import command_create
from ocpp_gateway import calls
from tests.factories import make_charge_point

pytestmark = pytest.mark.django_db


def test_an_issuer_whose_station_was_deleted_meanwhile_gets_a_clear_error_not_a_crash():
    station = make_charge_point(identity="CP-GONE")
    command = command_create(
        charge_point=station, action="Reset", request={"type": "Soft"}, source="api"
    )
    station.delete()  # the command log goes with it
    assert not Command.objects.filter(pk=command.pk).exists()

    with pytest.raises(calls.CommandGone) as raised:
        calls._finish(command)

    assert raised.value.status_code == 410
    assert "deleted" in raised.value.message
