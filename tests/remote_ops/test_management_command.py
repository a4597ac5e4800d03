"""``manage.py ocpp_command`` runs in a process of its own. Under ``make run`` (no REDIS_URL)
the channel layer is in memory, inside the server, so it cannot reach a station the server
holds: it says so at once, with what to do, instead of waiting out the command's timeout."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from csms.models import Command
from tests.factories import make_charge_point

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_fails_at_once_saying_what_to_do_when_the_server_holds_the_station(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    make_charge_point(
        identity="CP1",
        connected=True,
        ws_channel_name="specific.inmemory!held-by-the-server",
        gateway_process="0f3c9a1e2b7d4c5e8f6a7b8c9d0e1f2a",  # the server's, not this process's
        last_seen=timezone.now(),
    )

    with pytest.raises(CommandError) as refused:
        call_command("ocpp_command", "CP1", "Reset", '{"type": "Soft"}', stdout=StringIO())

    message = str(refused.value)
    assert "without REDIS_URL the channel layer is in memory" in message
    assert "http://localhost:8000/api/v1/charge-points/CP1/commands/" in message
    assert '{"action": "Reset", "payload": {"type": "Soft"}}' in message
    assert "REDIS_URL set" in message
    assert not Command.objects.exists()  # nothing queued that nobody will send


def test_an_offline_station_is_still_reported_offline(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    make_charge_point(identity="CP1")

    with pytest.raises(CommandError, match="CP1 is offline"):
        call_command("ocpp_command", "CP1", "Reset", '{"type": "Soft"}', stdout=StringIO())
