"""The driver's profile (me/) and RFID cards (cards/)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from csms.models import IdTag
from tests.factories import make_id_tag, make_transaction
from tests.wallet.factories import fund
from wallet.models import Wallet
from wallet.services.accounts import MAX_CARDS

pytestmark = pytest.mark.django_db

ME = "/api/v1/app/me/"
CARDS = "/api/v1/app/cards/"


def card_url(id_tag: str) -> str:
    return f"{CARDS}{id_tag}/"


# --- me/ ----------------------------------------------------------------------------------------


def test_it_shows_the_driver_s_profile_and_balances(driver_app: APIClient, app_driver: Any):
    fund(app_driver, "12.5")
    response = driver_app.get(ME)
    assert response.status_code == 200
    # Not the virtual tag: the app does not need it, and a driver who cannot read it cannot
    # copy it onto a card.
    assert response.data == {
        "email": "dana@example.com",
        "first_name": "Dana",
        "last_name": "Driver",
        "date_joined": response.data["date_joined"],
        "wallet": {"currency": "EUR", "available": "12.50", "held": "0.00", "owed": "0.00"},
    }
    assert response.data["date_joined"]


def test_it_changes_the_driver_s_name(driver_app: APIClient, app_driver: Any):
    response = driver_app.patch(ME, {"last_name": " Driver-Smith "}, format="json")
    assert response.status_code == 200
    assert response.data["last_name"] == "Driver-Smith"
    assert response.data["first_name"] == "Dana"
    app_driver.refresh_from_db()
    assert app_driver.last_name == "Driver-Smith"


def test_it_does_not_change_the_e_mail_from_the_app(driver_app: APIClient, app_driver: Any):
    response = driver_app.patch(ME, {"email": "mallory@example.com"}, format="json")
    assert response.status_code == 400
    assert "email" in response.data
    app_driver.refresh_from_db()
    assert app_driver.email == "dana@example.com"


def test_it_refuses_a_too_long_name(driver_app: APIClient):
    response = driver_app.patch(ME, {"first_name": "x" * 151}, format="json")
    assert response.status_code == 400
    assert "first_name" in response.data


def test_it_shows_the_profile_only_to_drivers(operator_app: APIClient, anonymous_app: APIClient):
    assert operator_app.get(ME).status_code == 403
    assert operator_app.patch(ME, {"first_name": "Op"}, format="json").status_code == 403
    assert anonymous_app.get(ME).status_code == 401
    assert anonymous_app.patch(ME, {"first_name": "X"}, format="json").status_code == 401


def test_it_shows_each_driver_their_own_profile(other_driver_app: APIClient):
    assert other_driver_app.get(ME).data["email"] == "otto@example.com"


# --- cards/ -------------------------------------------------------------------------------------


def test_it_registers_an_unknown_card_to_the_driver(driver_app: APIClient, app_driver: Any):
    response = driver_app.post(CARDS, {"id_tag": " 04a2b3c4d5e6f7 "}, format="json")
    assert response.status_code == 201, response.data
    assert response.data["id_tag"] == "04a2b3c4d5e6f7"
    assert response.data["status"] == "Accepted"
    tag = IdTag.objects.get(key="04A2B3C4D5E6F7")
    assert tag.user == app_driver
    listed = driver_app.get(CARDS)
    assert [card["id_tag"] for card in listed.data] == ["04a2b3c4d5e6f7"]


def test_it_lists_cards_without_the_virtual_tag(
    driver_app: APIClient, app_driver: Any, django_assert_max_num_queries: Any
):
    for n in range(5):
        make_id_tag(id_tag=f"CARD{n}", user=app_driver)
    make_id_tag(id_tag="SOMEONE-ELSES")
    with django_assert_max_num_queries(4):
        response = driver_app.get(CARDS)
    assert response.status_code == 200
    assert [card["id_tag"] for card in response.data] == [f"CARD{n}" for n in range(5)]


def test_it_returns_a_card_already_linked_to_the_driver_unchanged(
    driver_app: APIClient, app_driver: Any
):
    make_id_tag(id_tag="MINE", user=app_driver)
    response = driver_app.post(CARDS, {"id_tag": "mine"}, format="json")
    assert response.status_code == 200
    assert response.data["id_tag"] == "MINE"


def test_it_lets_a_driver_claim_an_active_unowned_card(
    driver_app: APIClient, app_driver: Any, caplog: Any
):
    make_id_tag(id_tag="FLEET-7")
    with caplog.at_level(logging.INFO, logger="wallet.cards"):
        response = driver_app.post(CARDS, {"id_tag": "fleet-7"}, format="json")
    assert response.status_code == 201
    assert IdTag.objects.get(key="FLEET-7").user == app_driver
    assert "unowned card FLEET-7" in caplog.text


@pytest.mark.parametrize(
    "fields",
    [
        {"status": IdTag.Status.BLOCKED},
        {"status": IdTag.Status.INVALID},
        {"expiry_date": timezone.now() - timedelta(days=1)},
    ],
)
def test_it_does_not_let_a_driver_claim_an_inactive_card(
    driver_app: APIClient, fields: dict[str, Any]
):
    make_id_tag(id_tag="OLD-CARD", **fields)
    response = driver_app.post(CARDS, {"id_tag": "OLD-CARD"}, format="json")
    assert response.status_code == 409
    assert IdTag.objects.get(key="OLD-CARD").user is None


def test_it_refuses_another_driver_s_card_with_a_409(driver_app: APIClient, other_driver: Any):
    make_id_tag(id_tag="OTTOS", user=other_driver)
    response = driver_app.post(CARDS, {"id_tag": "ottos"}, format="json")
    assert response.status_code == 409
    assert "another account" in response.data["detail"]
    assert IdTag.objects.get(key="OTTOS").user == other_driver


def test_it_refuses_a_virtual_tag_as_a_card(
    driver_app: APIClient, app_driver: Any, other_driver: Any
):
    own = Wallet.objects.get(user=app_driver).virtual_id_tag
    others = Wallet.objects.get(user=other_driver).virtual_id_tag
    assert driver_app.post(CARDS, {"id_tag": own.id_tag}, format="json").status_code == 409
    assert driver_app.post(CARDS, {"id_tag": others.id_tag}, format="json").status_code == 409
    # Even one whose owner an operator removed.
    IdTag.objects.filter(pk=others.pk).update(user=None)
    assert driver_app.post(CARDS, {"id_tag": others.id_tag}, format="json").status_code == 409
    assert IdTag.objects.get(pk=others.pk).user is None


@pytest.mark.parametrize("value", ["", "   ", "X" * 21, "CARD\x00", "KARTE-Ü", "tab\there"])
def test_it_refuses_a_card_number_that_is_no_ocpp_id_token(driver_app: APIClient, value: str):
    response = driver_app.post(CARDS, {"id_tag": value}, format="json")
    assert response.status_code == 400
    assert "id_tag" in response.data
    assert not IdTag.objects.filter(virtual_wallet__isnull=True).exists()


def test_it_limits_the_cards_of_an_account(driver_app: APIClient, app_driver: Any):
    for n in range(MAX_CARDS):
        make_id_tag(id_tag=f"C{n}", user=app_driver)
    response = driver_app.post(CARDS, {"id_tag": "ONE-MORE"}, format="json")
    assert response.status_code == 400
    assert f"at most {MAX_CARDS}" in str(response.data["id_tag"])


def test_it_unlinks_a_driver_s_card_and_blocks_it(driver_app: APIClient, app_driver: Any):
    make_id_tag(id_tag="MINE", user=app_driver)
    response = driver_app.delete(card_url("mine"))
    assert response.status_code == 204
    tag = IdTag.objects.get(key="MINE")
    assert tag.user is None
    # Blocked: a lost card its driver unlinks must not charge on nobody's account.
    assert tag.status == IdTag.Status.BLOCKED
    assert "Unlinked by its driver" in tag.note
    assert driver_app.get(CARDS).data == []


def test_it_unlinks_a_card_whose_number_has_a_slash(driver_app: APIClient, app_driver: Any):
    make_id_tag(id_tag="FLEET/12", user=app_driver)
    assert driver_app.delete(card_url("FLEET/12")).status_code == 204
    assert IdTag.objects.get(key="FLEET/12").user is None


def test_it_refuses_unlinking_a_value_no_card_can_have(driver_app: APIClient):
    assert driver_app.delete(card_url("BAD%00TAG")).status_code == 400
    assert driver_app.delete(card_url("X" * 21)).status_code == 400


def test_it_does_not_unlink_a_card_while_its_session_runs(driver_app: APIClient, app_driver: Any):
    tag = make_id_tag(id_tag="MINE", user=app_driver)
    make_transaction(id_tag="MINE", id_tag_ref=tag)
    response = driver_app.delete(card_url("MINE"))
    assert response.status_code == 409
    assert IdTag.objects.get(key="MINE").user == app_driver


def test_it_does_not_unlink_the_virtual_tag(driver_app: APIClient, app_driver: Any):
    virtual = Wallet.objects.get(user=app_driver).virtual_id_tag
    response = driver_app.delete(card_url(virtual.id_tag))
    assert response.status_code == 400
    assert IdTag.objects.get(pk=virtual.pk).user == app_driver


def test_it_hides_another_driver_s_card_behind_a_404(other_driver_app: APIClient, app_driver: Any):
    make_id_tag(id_tag="DANAS", user=app_driver)
    make_id_tag(id_tag="NOBODYS")
    assert other_driver_app.delete(card_url("DANAS")).status_code == 404
    assert other_driver_app.delete(card_url("NOBODYS")).status_code == 404
    assert other_driver_app.delete(card_url("NO-SUCH-CARD")).status_code == 404
    assert IdTag.objects.get(key="DANAS").user == app_driver
    assert other_driver_app.get(CARDS).data == []


def test_it_keeps_cards_to_drivers(
    operator_app: APIClient, anonymous_app: APIClient, app_driver: Any
):
    make_id_tag(id_tag="DANAS", user=app_driver)
    for client, code in ((operator_app, 403), (anonymous_app, 401)):
        assert client.get(CARDS).status_code == code
        assert client.post(CARDS, {"id_tag": "NEW"}, format="json").status_code == code
        assert client.delete(card_url("DANAS")).status_code == code
    assert not IdTag.objects.filter(key="NEW").exists()
    assert IdTag.objects.get(key="DANAS").user == app_driver
