"""The local authorization list and the authorization cache (ocpp_gateway.operations.local_list):
SendLocalList, GetLocalListVersion and ClearCache, through the API to a simulated station and
back, and what each answer leaves in our state."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from csms.models import ChargePoint
from tests.factories import make_id_tag
from tests.remote_ops.conftest import answer_call, api_get, api_post, round_trip

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


@pytest.mark.parametrize(
    "sent_version,mismatch_before,reported,mismatch",
    [
        pytest.param(4, True, 4, False, id="the version we sent: the mismatch is cleared"),
        pytest.param(4, False, 2, True, id="another version than we sent: flagged"),
        pytest.param(4, False, 0, True, id="an empty list though we sent one: flagged"),
        pytest.param(None, False, 0, False, id="an empty list, and we never sent one: agreed"),
        # OCPP 1.6 §5.10: -1 is the station's word for "no local list support", not an error.
        pytest.param(None, False, -1, False, id="no local list support, none sent: agreed"),
        pytest.param(4, False, -1, True, id="no local list support though we sent one: flagged"),
    ],
)
async def test_it_compares_the_reported_version_with_the_one_we_sent(
    online_station, operator_api, sent_version, mismatch_before, reported, mismatch
):
    station = await online_station(
        "CP1", local_list_version=sent_version, local_list_mismatch=mismatch_before
    )
    response, _ = await round_trip(
        operator_api, station, "CP1", "GetLocalListVersion", {}, {"listVersion": reported}
    )

    assert response.json()["response"] == {"listVersion": reported}
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.local_list_reported_version == reported
    assert cp.local_list_mismatch is mismatch
    assert cp.local_list_checked_at is not None
    shown = await api_get(operator_api, "/api/v1/charge-points/CP1/local-list/")
    assert shown.json() == {
        "charge_point": "CP1",
        "local_list_version": sent_version,
        "local_list_reported_version": reported,
        "local_list_checked_at": shown.json()["local_list_checked_at"],
        "local_list_mismatch": mismatch,
    }


async def test_it_sends_the_whole_registry_as_a_full_list(online_station, operator_api):
    station = await online_station("CP1", local_list_version=2)
    await db(make_id_tag)(id_tag="04A2B3C4")
    await db(make_id_tag)(id_tag="04BLOCK1", status="Blocked")
    await db(make_id_tag)(id_tag="04EXPIRE", expiry_date=timezone.now() - timedelta(days=1))

    request = asyncio.ensure_future(
        api_post(operator_api, "/api/v1/charge-points/CP1/local-list/", {"update_type": "Full"})
    )
    frame = await answer_call(station, {"status": "Accepted"}, action="SendLocalList")
    response = await request

    assert response.status_code == 200, response.json()
    sent = frame[3]
    assert sent["listVersion"] == 3
    assert sent["updateType"] == "Full"
    by_tag = {entry["idTag"]: entry["idTagInfo"] for entry in sent["localAuthorizationList"]}
    assert by_tag["04A2B3C4"] == {"status": "Accepted"}
    assert by_tag["04BLOCK1"] == {"status": "Blocked"}
    assert by_tag["04EXPIRE"]["status"] == "Expired"
    assert by_tag["04EXPIRE"]["expiryDate"].endswith("Z")
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.local_list_version == 3
    assert cp.local_list_mismatch is False


async def test_it_sends_a_differential_list_that_removes_unregistered_tags(
    online_station, operator_api
):
    station = await online_station("CP1", local_list_version=7)
    await db(make_id_tag)(id_tag="04A2B3C4", status="Blocked")

    request = asyncio.ensure_future(
        api_post(
            operator_api,
            "/api/v1/charge-points/CP1/local-list/",
            {"update_type": "Differential", "id_tags": ["04a2b3c4", "GONE0001"]},
        )
    )
    frame = await answer_call(station, {"status": "Accepted"}, action="SendLocalList")
    response = await request

    assert response.json()["state"] == "answered"
    assert frame[3] == {
        "listVersion": 8,
        "updateType": "Differential",
        "localAuthorizationList": [
            {"idTag": "04A2B3C4", "idTagInfo": {"status": "Blocked"}},
            {"idTag": "GONE0001"},
        ],
    }
    assert (await ChargePoint.objects.aget(identity="CP1")).local_list_version == 8


@pytest.mark.parametrize(
    "status,version,mismatch",
    [
        pytest.param("VersionMismatch", None, True, id="VersionMismatch: not taken, flagged"),
        pytest.param("Accepted", 1, False, id="Accepted: the version is the station's"),
    ],
)
async def test_it_fills_in_the_version_and_the_list_on_the_generic_endpoint(
    online_station, operator_api, status, version, mismatch
):
    station = await online_station("CP1")
    await db(make_id_tag)(id_tag="TAG1")
    response, frame = await round_trip(
        operator_api,
        station,
        "CP1",
        "SendLocalList",
        {"updateType": "Full"},
        {"status": status},
    )

    assert frame[3] == {
        "updateType": "Full",
        "listVersion": 1,
        "localAuthorizationList": [{"idTag": "TAG1", "idTagInfo": {"status": "Accepted"}}],
    }
    assert response.json()["response"] == {"status": status}
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.local_list_version == version  # None unless accepted
    assert cp.local_list_mismatch is mismatch


async def test_it_clears_the_cache_for_support_staff(online_station, support_api):
    station = await online_station("CP1")
    response, frame = await round_trip(
        support_api, station, "CP1", "ClearCache", {}, {"status": "Accepted"}
    )

    assert frame[2:] == ["ClearCache", {}]
    assert response.json()["state"] == "answered"
    assert response.json()["issued_by"] == "sam-support"
