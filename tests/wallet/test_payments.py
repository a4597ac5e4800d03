"""Top-ups from the app: started with an Idempotency-Key, paid at the provider (the sandbox's
page, or Stripe's PaymentIntent), credited only by the provider's verified webhook."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlparse

import pytest
import stripe
from django.test import Client
from rest_framework.test import APIClient

from tests.wallet.payments_support import available, post_sandbox, sandbox_event, start_top_up
from wallet.models import ProviderEvent, TopUp

pytestmark = pytest.mark.django_db

TOP_UPS = "/api/v1/app/wallet/top-ups/"


def _post(client: Any, body: dict[str, Any], key: str | None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(TOP_UPS, body, format="json", **headers)


# --- Starting a top-up -----------------------------------------------------------------------


def test_it_starts_a_sandbox_top_up_with_a_link_to_its_checkout(driver_app, app_driver):
    response = start_top_up(driver_app, "20.00")

    assert response.status_code == 201
    body = response.json()
    assert body["amount"] == "20.00"
    assert body["currency"] == "EUR"
    assert body["state"] == "pending"
    assert body["provider"] == "sandbox"
    assert body["next_action"]["type"] == "redirect"
    assert body["next_action"]["url"].startswith("http://localhost:8000/payments/sandbox/")
    assert available(app_driver) == Decimal("0")  # nothing until the webhook


def test_a_retry_with_the_same_key_returns_the_same_top_up(driver_app):
    key = str(uuid.uuid4())
    first = _post(driver_app, {"amount": "20.00"}, key)

    retry = _post(driver_app, {"amount": "20.00"}, key)

    assert retry.status_code == 200
    assert retry.json()["id"] == first.json()["id"]
    assert retry.json()["next_action"] == first.json()["next_action"]
    assert TopUp.objects.count() == 1


def test_the_same_key_for_another_amount_is_refused(driver_app):
    key = str(uuid.uuid4())
    _post(driver_app, {"amount": "20.00"}, key)

    response = _post(driver_app, {"amount": "30.00"}, key)

    assert response.status_code == 422
    assert "new key" in response.json()["detail"]
    assert TopUp.objects.count() == 1


def test_the_same_key_of_another_driver_is_theirs_alone(driver_app, other_driver_app):
    key = str(uuid.uuid4())
    mine = _post(driver_app, {"amount": "20.00"}, key)
    theirs = _post(other_driver_app, {"amount": "30.00"}, key)

    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine.json()["id"]


def test_it_requires_an_idempotency_key(driver_app):
    response = _post(driver_app, {"amount": "20.00"}, None)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert TopUp.objects.count() == 0


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("4.99", "between 5 and 500"),
        ("500.01", "between 5 and 500"),
        ("0", "positive"),
        ("-10", "positive"),
        ("twenty", "not an amount"),
        (20.5, "as a string"),
        ("20.001", "decimal places"),
        (None, "required"),
    ],
)
def test_it_refuses_amounts_outside_the_limits_or_unreadable(driver_app, amount, message):
    body = {} if amount is None else {"amount": amount}

    response = _post(driver_app, body, str(uuid.uuid4()))

    assert response.status_code == 400
    assert message in json.dumps(response.json())
    assert TopUp.objects.count() == 0


def test_the_limits_come_from_the_settings(driver_app, settings):
    settings.WALLET_TOP_UP_MIN = Decimal("1")
    settings.WALLET_TOP_UP_MAX = Decimal("1000")

    assert start_top_up(driver_app, "1.00").status_code == 201
    assert start_top_up(driver_app, "1000").status_code == 201


def test_an_unknown_provider_is_a_400(driver_app):
    response = start_top_up(driver_app, "20.00", provider="paypal")
    assert response.status_code == 400


def test_stripe_without_a_secret_key_is_unavailable_and_says_so(driver_app, settings):
    settings.STRIPE_SECRET_KEY = ""

    response = start_top_up(driver_app, "20.00", provider="stripe")

    assert response.status_code == 503
    assert "STRIPE_SECRET_KEY" in response.json()["detail"]
    assert TopUp.objects.count() == 0


def test_the_sandbox_is_not_offered_on_a_platform_of_another_provider(driver_app, settings):
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = ""

    response = start_top_up(driver_app, "20.00", provider="sandbox")

    assert response.status_code == 503


# --- Stripe (its HTTP calls mocked: no network) -----------------------------------------------


@pytest.fixture
def stripe_calls(settings: Any, monkeypatch: Any) -> list[dict[str, Any]]:
    settings.STRIPE_SECRET_KEY = "sk_test_do_not_leak"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_public"
    calls: list[dict[str, Any]] = []

    def create(**params: Any) -> Any:
        calls.append(params)
        return SimpleNamespace(id="pi_123", client_secret="pi_123_secret_abc")

    def retrieve(reference: str, **params: Any) -> Any:
        calls.append({"retrieve": reference, **params})
        return SimpleNamespace(id=reference, client_secret=f"{reference}_secret_abc")

    monkeypatch.setattr(stripe.PaymentIntent, "create", create)
    monkeypatch.setattr(stripe.PaymentIntent, "retrieve", retrieve)
    return calls


def test_a_stripe_top_up_creates_a_payment_intent_in_minor_units(driver_app, stripe_calls):
    response = start_top_up(driver_app, "20.50", provider="stripe")

    assert response.status_code == 201
    top_up = TopUp.objects.get()
    assert top_up.provider_reference == "pi_123"
    (call,) = stripe_calls
    assert call["amount"] == 2050
    assert call["currency"] == "eur"
    assert call["idempotency_key"] == f"top-up:{top_up.pk}"
    assert call["metadata"]["top_up"] == str(top_up.pk)
    assert response.json()["next_action"] == {
        "type": "stripe_payment_intent",
        "client_secret": "pi_123_secret_abc",
        "publishable_key": "pk_test_public",
    }
    assert "sk_test_do_not_leak" not in response.content.decode()


def test_a_stripe_top_up_retried_asks_stripe_for_the_same_intent(driver_app, stripe_calls):
    key = str(uuid.uuid4())
    _post(driver_app, {"amount": "20.00", "provider": "stripe"}, key)

    retry = _post(driver_app, {"amount": "20.00", "provider": "stripe"}, key)

    assert retry.status_code == 200
    assert retry.json()["next_action"]["client_secret"] == "pi_123_secret_abc"
    assert [c.get("retrieve") for c in stripe_calls] == [None, "pi_123"]


def test_a_stripe_failure_keeps_the_top_up_for_a_retry(driver_app, stripe_calls, monkeypatch):
    def down(**params: Any) -> Any:
        raise stripe.APIConnectionError("Network down")

    monkeypatch.setattr(stripe.PaymentIntent, "create", down)
    key = str(uuid.uuid4())

    failed = _post(driver_app, {"amount": "20.00", "provider": "stripe"}, key)

    assert failed.status_code == 502
    assert "same Idempotency-Key" in failed.json()["detail"]
    assert "sk_test" not in failed.content.decode()
    top_up = TopUp.objects.get()
    assert (top_up.state, top_up.provider_reference) == ("pending", "")

    monkeypatch.undo()
    monkeypatch.setattr(
        stripe.PaymentIntent,
        "create",
        lambda **params: SimpleNamespace(id="pi_9", client_secret="pi_9_secret"),
    )
    retry = _post(driver_app, {"amount": "20.00", "provider": "stripe"}, key)
    assert retry.status_code == 200
    assert retry.json()["next_action"]["client_secret"] == "pi_9_secret"


# --- Reading top-ups, personas --------------------------------------------------------------


def test_a_driver_lists_and_reads_their_own_top_ups(
    driver_app, other_driver_app, django_assert_max_num_queries
):
    for amount in ("10.00", "20.00", "30.00"):
        start_top_up(driver_app, amount)
    theirs = start_top_up(other_driver_app, "40.00").json()

    with django_assert_max_num_queries(6):
        listed = driver_app.get(TOP_UPS)

    assert listed.status_code == 200
    assert [t["amount"] for t in listed.json()["results"]] == ["30.00", "20.00", "10.00"]
    mine = listed.json()["results"][0]
    detail = driver_app.get(f"{TOP_UPS}{mine['id']}/")
    assert detail.status_code == 200
    assert detail.json()["next_action"]["type"] == "redirect"
    assert driver_app.get(f"{TOP_UPS}{theirs['id']}/").status_code == 404


def test_the_list_filters_by_state(driver_app):
    start_top_up(driver_app, "10.00")

    assert driver_app.get(f"{TOP_UPS}?state=succeeded").json()["results"] == []
    assert driver_app.get(f"{TOP_UPS}?state=bogus").status_code == 400


@pytest.mark.parametrize(("persona", "code"), [("operator_app", 403), ("anonymous_app", 401)])
def test_only_drivers_use_top_ups(request, driver_app, persona, code):
    top_up = start_top_up(driver_app).json()
    client = request.getfixturevalue(persona)

    assert client.get(TOP_UPS).status_code == code
    assert client.get(f"{TOP_UPS}{top_up['id']}/").status_code == code
    assert start_top_up(client).status_code == code
    assert TopUp.objects.count() == 1


# --- The sandbox's checkout page -------------------------------------------------------------


def _checkout_path(top_up_body: dict[str, Any]) -> str:
    return urlparse(top_up_body["next_action"]["url"]).path


def _press(client: Client, path: str, decision: str) -> Any:
    page = client.get(path)
    token = page.cookies["csrftoken"].value
    return client.post(path, {"decision": decision, "csrfmiddlewaretoken": token})


def test_paying_on_the_sandbox_page_credits_through_the_signed_webhook(driver_app, app_driver):
    top_up = start_top_up(driver_app, "20.00").json()
    browser = Client(enforce_csrf_checks=True)
    path = _checkout_path(top_up)

    page = browser.get(path)
    assert page.status_code == 200
    assert b"20.00 EUR" in page.content
    assert b'value="pay"' in page.content

    paid = _press(browser, path, "pay")

    assert paid.status_code == 302
    assert available(app_driver) == Decimal("20.00")
    event = ProviderEvent.objects.get()  # it went through the webhook path
    assert (event.provider, event.type) == ("sandbox", "payment.succeeded")
    detail = driver_app.get(f"{TOP_UPS}{top_up['id']}/").json()
    assert detail["state"] == "succeeded"
    assert detail["next_action"] is None
    after = browser.get(path)
    assert b"succeeded" in after.content
    assert b'value="pay"' not in after.content


def test_declining_on_the_sandbox_page_fails_the_top_up(driver_app, app_driver):
    top_up = start_top_up(driver_app, "20.00").json()

    _press(Client(enforce_csrf_checks=True), _checkout_path(top_up), "decline")

    assert TopUp.objects.get().state == TopUp.State.FAILED
    assert available(app_driver) == Decimal("0")


def test_pressing_pay_twice_credits_once(driver_app, app_driver):
    path = _checkout_path(start_top_up(driver_app, "20.00").json())
    browser = Client()
    browser.post(path, {"decision": "pay"})

    again = browser.post(path, {"decision": "pay"})

    assert again.status_code == 400
    assert available(app_driver) == Decimal("20.00")


def test_the_sandbox_page_needs_its_csrf_token(driver_app, app_driver):
    path = _checkout_path(start_top_up(driver_app, "20.00").json())

    response = Client(enforce_csrf_checks=True).post(path, {"decision": "pay"})

    assert response.status_code == 403
    assert available(app_driver) == Decimal("0")


def test_a_forged_checkout_token_is_a_404(driver_app):
    start_top_up(driver_app, "20.00")
    reference = TopUp.objects.get().provider_reference

    assert Client().get(f"/payments/sandbox/{reference}/").status_code == 404
    assert Client().get("/payments/sandbox/abc:def/").status_code == 404


def test_the_sandbox_page_is_gone_when_another_provider_is_configured(driver_app, settings):
    path = _checkout_path(start_top_up(driver_app, "20.00").json())
    settings.PAYMENT_PROVIDER = "stripe"

    assert Client().get(path).status_code == 404


# --- The sandbox in production ---------------------------------------------------------------

SANDBOX_OFF = (
    "The sandbox takes no real money: it is off when DEBUG is off unless "
    "PAYMENT_SANDBOX_ALLOWED=true"
)


@pytest.fixture
def production(settings: Any) -> None:
    """DEBUG off and PAYMENT_SANDBOX_ALLOWED left at its default: a production deployment
    that forgot PAYMENT_PROVIDER (docker-compose defaults it to sandbox)."""
    settings.DEBUG = False
    settings.PAYMENT_PROVIDER = "sandbox"
    settings.PAYMENT_SANDBOX_ALLOWED = False


def test_the_sandbox_takes_no_top_ups_with_debug_off(driver_app, production):
    response = start_top_up(driver_app, "20.00")

    assert response.status_code == 503
    assert SANDBOX_OFF in response.json()["detail"]
    assert TopUp.objects.count() == 0


def test_the_sandbox_page_and_webhook_are_gone_with_debug_off(driver_app, app_driver, settings):
    path = _checkout_path(start_top_up(driver_app, "20.00").json())  # while it was allowed
    top_up = TopUp.objects.get()
    settings.DEBUG = False
    settings.PAYMENT_SANDBOX_ALLOWED = False

    assert Client().get(path).status_code == 404
    assert Client().post(path, {"decision": "pay"}).status_code == 404
    webhook = post_sandbox(APIClient(), sandbox_event(top_up))
    assert webhook.status_code == 404
    assert available(app_driver) == Decimal("0")
    assert ProviderEvent.objects.count() == 0


def test_payment_sandbox_allowed_turns_it_on_with_debug_off(driver_app, production, settings):
    settings.PAYMENT_SANDBOX_ALLOWED = True

    response = start_top_up(driver_app, "20.00")

    assert response.status_code == 201
    assert Client().get(_checkout_path(response.json())).status_code == 200


def test_the_sandbox_needs_no_permission_with_debug_on(driver_app, production, settings):
    settings.DEBUG = True

    assert start_top_up(driver_app, "20.00").status_code == 201
