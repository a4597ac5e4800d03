"""csms.selectors: the reads behind the API and the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from csms.models import ChargePoint
from csms.selectors.stations import charge_point_list, online_q
from csms.selectors.transactions import transaction_list
from tests.factories import make_charge_point, make_transaction

pytestmark = pytest.mark.django_db


def test_the_online_filter_agrees_with_is_online_for_every_interval(settings):
    settings.OCPP_HEARTBEAT_INTERVAL = 100
    now = timezone.now()
    cases = {
        # identity: (connected, heartbeat_interval, seconds since last seen)
        "DEFAULT-FRESH": (True, None, 199),
        "DEFAULT-STALE": (True, None, 201),
        "ZERO-MEANS-DEFAULT": (True, 0, 150),
        "SHORT-FRESH": (True, 30, 59),
        "SHORT-STALE": (True, 30, 61),
        "LONG-FRESH": (True, 900, 1700),
        "DISCONNECTED": (False, None, 1),
        "NEVER-SEEN": (True, None, None),
    }
    for identity, (connected, interval, silence) in cases.items():
        make_charge_point(
            identity=identity,
            connected=connected,
            heartbeat_interval=interval,
            last_seen=None if silence is None else now - timedelta(seconds=silence),
        )

    online = set(ChargePoint.objects.filter(online_q(now=now)).values_list("identity", flat=True))

    assert online == {"DEFAULT-FRESH", "ZERO-MEANS-DEFAULT", "SHORT-FRESH", "LONG-FRESH"}
    assert online == {cp.identity for cp in ChargePoint.objects.all() if cp.is_online}
    offline = charge_point_list(online=False).values_list("identity", flat=True)
    assert set(offline) == set(cases) - online


def test_transactions_match_tags_case_insensitively_and_by_state():
    station = make_charge_point(identity="CP1")
    running = make_transaction(charge_point=station, id_tag="AbC")
    make_transaction(charge_point=station, id_tag="OTHER", stopped_at=timezone.now())

    assert list(transaction_list(id_tag=" abc ")) == [running]
    assert list(transaction_list(active=True)) == [running]
    assert transaction_list(active=False).get().id_tag == "OTHER"
