"""GET/POST /api/v1/id-tags/ and GET/PATCH/DELETE /api/v1/id-tags/<tag>/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from csms.models import IdTag, Transaction
from tests.factories import make_id_tag, make_transaction

pytestmark = pytest.mark.django_db

LIST = "/api/v1/id-tags/"


def test_it_registers_a_tag_with_a_parent_named_in_any_case(operator_api):
    make_id_tag(id_tag="Fleet-A")
    expiry = (timezone.now() + timedelta(days=30)).replace(microsecond=0)

    response = operator_api.post(
        LIST,
        {
            "id_tag": "04E91C5A",
            "status": "Accepted",
            "expiry_date": expiry.isoformat(),
            "parent_id_tag": "FLEET-a",
            "note": "Dana's card",
        },
        format="json",
    )

    assert response.status_code == 201, response.data
    assert response.data["id_tag"] == "04E91C5A"
    assert response.data["parent_id_tag"] == "Fleet-A"
    assert response.data["effective_status"] == "Accepted"
    tag = IdTag.objects.get(key="04E91C5A")
    assert tag.parent.id_tag == "Fleet-A"
    assert tag.expiry_date == expiry
    assert tag.note == "Dana's card"


def test_it_refuses_a_tag_differing_only_in_case(operator_api):
    make_id_tag(id_tag="abc123")
    response = operator_api.post(LIST, {"id_tag": "ABC123"}, format="json")
    assert response.status_code == 400
    assert "case-insensitive" in str(response.data["id_tag"])
    assert IdTag.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"id_tag": "NEW", "parent_id_tag": "GHOST"}, "parent_id_tag", "Unknown id tag"),
        ({"id_tag": "NEW", "parent_id_tag": "new"}, "parent_id_tag", "its own parent"),
        ({"id_tag": "x" * 21}, "id_tag", "no more than 20"),
        ({"id_tag": "   "}, "id_tag", "may not be blank"),
        ({"id_tag": "NEW", "status": "Fine"}, "status", "valid choice"),
        ({"id_tag": "NEW", "expiry_date": "soon"}, "expiry_date", "format"),
    ],
)
def test_it_rejects_invalid_tags_with_a_clear_message(operator_api, body, field, message):
    response = operator_api.post(LIST, body, format="json")
    assert response.status_code == 400
    assert message in str(response.data[field])
    assert not IdTag.objects.exists()


def test_it_lists_and_filters_tags(support_api):
    parent = make_id_tag(id_tag="FLEET")
    make_id_tag(id_tag="CARD-1", parent=parent, note="van 7")
    make_id_tag(id_tag="CARD-2", status="Blocked")

    rows = support_api.get(LIST).data["results"]
    assert [r["id_tag"] for r in rows] == ["CARD-1", "CARD-2", "FLEET"]
    assert rows[0]["parent_id_tag"] == "FLEET" and rows[1]["parent_id_tag"] is None
    blocked = support_api.get(LIST + "?status=Blocked").data["results"]
    assert [r["id_tag"] for r in blocked] == ["CARD-2"]
    assert [r["id_tag"] for r in support_api.get(LIST + "?search=card-").data["results"]] == [
        "CARD-1",
        "CARD-2",
    ]
    assert [r["id_tag"] for r in support_api.get(LIST + "?search=VAN").data["results"]] == [
        "CARD-1"
    ]


def test_an_accepted_tag_past_its_expiry_shows_as_expired(operator_api):
    make_id_tag(id_tag="OLD", expiry_date=timezone.now() - timedelta(days=1))
    body = operator_api.get(f"{LIST}old/").data
    assert body["status"] == "Accepted"
    assert body["effective_status"] == "Expired"


def test_it_finds_a_tag_case_insensitively_and_404s_unknown_ones(operator_api):
    make_id_tag(id_tag="AbC")
    assert operator_api.get(f"{LIST}abc/").data["id_tag"] == "AbC"
    missing = operator_api.get(f"{LIST}nope/")
    assert missing.status_code == 404
    assert "nope" in missing.data["detail"]


def test_it_changes_status_expiry_note_and_parent(operator_api):
    make_id_tag(id_tag="FLEET")
    make_id_tag(id_tag="CARD")
    response = operator_api.patch(
        f"{LIST}card/",
        {"status": "Blocked", "note": "lost", "parent_id_tag": "fleet", "expiry_date": None},
        format="json",
    )
    assert response.status_code == 200, response.data
    assert response.data["status"] == "Blocked"
    assert response.data["parent_id_tag"] == "FLEET"
    tag = IdTag.objects.get(key="CARD")
    assert (tag.status, tag.note, tag.parent.key) == ("Blocked", "lost", "FLEET")

    cleared = operator_api.patch(f"{LIST}CARD/", {"parent_id_tag": None}, format="json")
    assert cleared.data["parent_id_tag"] is None
    assert IdTag.objects.get(key="CARD").parent is None


def test_a_tag_runs_one_session_at_a_time_unless_registered_with_another_limit(operator_api):
    default = operator_api.post(LIST, {"id_tag": "CARD"}, format="json")
    fleet = operator_api.post(
        LIST, {"id_tag": "FLEET", "max_concurrent_sessions": 0}, format="json"
    )

    assert default.data["max_concurrent_sessions"] == 1
    assert fleet.status_code == 201, fleet.data
    assert fleet.data["max_concurrent_sessions"] == 0
    assert IdTag.objects.get(key="FLEET").max_concurrent_sessions == 0


def test_it_changes_a_tags_session_limit(operator_api):
    make_id_tag(id_tag="CARD")

    response = operator_api.patch(f"{LIST}card/", {"max_concurrent_sessions": 3}, format="json")

    assert response.status_code == 200, response.data
    assert response.data["max_concurrent_sessions"] == 3
    assert IdTag.objects.get().max_concurrent_sessions == 3


@pytest.mark.parametrize("limit", [-1, 2**31, "many", None])
def test_it_refuses_a_session_limit_that_is_not_a_count(operator_api, limit):
    make_id_tag(id_tag="CARD")

    response = operator_api.patch(f"{LIST}card/", {"max_concurrent_sessions": limit}, format="json")

    assert response.status_code == 400
    assert "max_concurrent_sessions" in response.data
    assert IdTag.objects.get().max_concurrent_sessions == 1


def test_only_the_case_of_a_tag_may_change(operator_api):
    make_id_tag(id_tag="card")
    respelled = operator_api.patch(f"{LIST}card/", {"id_tag": "CARD"}, format="json")
    assert respelled.status_code == 200
    assert IdTag.objects.get().id_tag == "CARD"
    renamed = operator_api.patch(f"{LIST}card/", {"id_tag": "OTHER"}, format="json")
    assert renamed.status_code == 400
    assert "cannot change" in str(renamed.data["id_tag"])
    assert IdTag.objects.get().id_tag == "CARD"


def test_a_tag_cannot_become_its_own_parent(operator_api):
    make_id_tag(id_tag="CARD")
    response = operator_api.patch(f"{LIST}card/", {"parent_id_tag": "Card"}, format="json")
    assert response.status_code == 400
    assert IdTag.objects.get().parent is None


def test_deleting_a_tag_keeps_its_transactions(operator_api):
    tag = make_id_tag(id_tag="CARD")
    tx = make_transaction(id_tag="CARD", id_tag_ref=tag)
    assert operator_api.delete(f"{LIST}card/").status_code == 204
    assert not IdTag.objects.exists()
    tx = Transaction.objects.get(pk=tx.pk)
    assert tx.id_tag == "CARD" and tx.id_tag_ref is None


def test_support_reads_tags_but_cannot_write_and_drivers_cannot_read(support_api, driver_api):
    make_id_tag(id_tag="CARD")
    assert support_api.get(f"{LIST}card/").status_code == 200
    assert support_api.post(LIST, {"id_tag": "NEW"}, format="json").status_code == 403
    assert (
        support_api.patch(f"{LIST}card/", {"status": "Blocked"}, format="json").status_code == 403
    )
    assert support_api.delete(f"{LIST}card/").status_code == 403
    assert driver_api.get(LIST).status_code == 403
    assert driver_api.get(f"{LIST}card/").status_code == 403
    tag = IdTag.objects.get()
    assert tag.status == "Accepted"
