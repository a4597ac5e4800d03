"""Authorize against the id-tag registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from csms.models import ChargePoint
from ocpp_gateway.schemas import parse_timestamp
from tests.factories import make_charge_point, make_id_tag, make_transaction
from tests.ocpp_gateway.support import assert_result, db, send

pytestmark = pytest.mark.django_db(transaction=True)

TAG = "04E91C5A123A80"  # the idTag in tests/fixtures/ocpp/authorize.json


@pytest.fixture
async def station(connect_station):
    await db(make_charge_point)(identity="CP1")
    return await connect_station("CP1")


async def authorize(station, id_tag: str = TAG) -> dict:
    return assert_result(await send(station, "authorize", idTag=id_tag), "894725")["idTagInfo"]


async def test_it_accepts_a_registered_tag(station):
    await db(make_id_tag)(id_tag=TAG)

    assert await authorize(station) == {"status": "Accepted"}


async def test_it_answers_invalid_for_an_unknown_tag(station):
    assert await authorize(station) == {"status": "Invalid"}


async def test_it_answers_blocked_for_a_blocked_tag(station):
    await db(make_id_tag)(id_tag=TAG, status="Blocked")

    assert (await authorize(station))["status"] == "Blocked"


async def test_it_answers_invalid_for_a_tag_registered_as_invalid(station):
    await db(make_id_tag)(id_tag=TAG, status="Invalid")

    assert (await authorize(station))["status"] == "Invalid"


async def test_it_answers_expired_for_a_tag_whose_expiry_date_has_passed(station):
    expired_at = timezone.now() - timedelta(minutes=1)
    await db(make_id_tag)(id_tag=TAG, expiry_date=expired_at)

    info = await authorize(station)

    assert info["status"] == "Expired"
    assert abs(parse_timestamp(info["expiryDate"]) - expired_at) < timedelta(milliseconds=1)


async def test_it_answers_expired_for_a_tag_registered_as_expired(station):
    await db(make_id_tag)(id_tag=TAG, status="Expired")

    assert (await authorize(station))["status"] == "Expired"


async def test_it_returns_expiry_date_and_parent_tag(station):
    parent = await db(make_id_tag)(id_tag="FLEET-ACME")
    expiry = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)
    await db(make_id_tag)(id_tag=TAG, expiry_date=expiry, parent=parent)

    info = await authorize(station)

    assert info == {
        "status": "Accepted",
        "expiryDate": "2031-01-01T12:00:00.000Z",
        "parentIdTag": "FLEET-ACME",
    }


@pytest.mark.parametrize("sent", ["04e91c5a123a80", "04E91c5A123a80"])
async def test_it_matches_tags_case_insensitively(station, sent):
    await db(make_id_tag)(id_tag=TAG)

    assert (await authorize(station, sent))["status"] == "Accepted"


async def test_it_accepts_a_tag_that_is_charging_at_another_station(station):
    # OCPP 1.6: ConcurrentTx "is only relevant for the StartTransaction.req"; StartTransaction
    # enforces the tag's session limit, Authorize only says whether the tag is valid.
    tag = await db(make_id_tag)(id_tag=TAG)
    elsewhere = await db(make_charge_point)(identity="CP2")
    await db(make_transaction)(charge_point=elsewhere, id_tag=TAG, id_tag_ref=tag)

    assert (await authorize(station, TAG.lower()))["status"] == "Accepted"


async def test_it_accepts_the_tag_a_station_sends_to_stop_its_own_session(station):
    tag = await db(make_id_tag)(id_tag=TAG)
    here = await ChargePoint.objects.aget(identity="CP1")
    await db(make_transaction)(charge_point=here, id_tag=TAG, id_tag_ref=tag)

    assert (await authorize(station))["status"] == "Accepted"


async def test_a_stopped_transaction_does_not_make_the_tag_concurrent(station):
    tag = await db(make_id_tag)(id_tag=TAG)
    await db(make_transaction)(
        charge_point=await db(make_charge_point)(identity="CP2"),
        id_tag=TAG,
        id_tag_ref=tag,
        stopped_at=timezone.now(),
        meter_stop=2000,
    )

    assert (await authorize(station))["status"] == "Accepted"


async def test_a_blocked_tag_stays_blocked_even_when_expired(station):
    await db(make_id_tag)(
        id_tag=TAG, status="Blocked", expiry_date=timezone.now() - timedelta(days=1)
    )

    assert (await authorize(station))["status"] == "Blocked"
