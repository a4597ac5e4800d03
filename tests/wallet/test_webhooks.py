"""Provider webhooks: only a verified one credits a wallet, once per payment, whatever the
order, the repeats or the tampering. Payloads are signed exactly as the providers sign them
(``t=<unix>,v1=<HMAC-SHA256 of "t.body">``); Stripe's are verified by stripe's own
``Webhook.construct_event``."""

from __future__ import annotations

import json
import logging
import time
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import stripe
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from billing.models import Order
from tests.wallet.factories import fund
from tests.wallet.payments_support import (
    STRIPE_SECRET,
    available,
    charged_order,
    ledger_size,
    payment_intent,
    pending_top_up,
    post_sandbox,
    post_stripe,
    sandbox_event,
    sign,
    stripe_event,
)
from wallet.models import JournalEntry, ProviderEvent, Refund, TopUp, Wallet
from wallet.payments.sandbox import webhook_secret
from wallet.selectors.ledger import ledger_mismatches, wallet_balances
from wallet.services.refunds import refund_send, refund_top_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook_client() -> APIClient:
    """A provider: no credentials, no session, CSRF checks on (as a browser would have)."""
    return APIClient(enforce_csrf_checks=True)


# --- Sandbox: crediting ----------------------------------------------------------------------


def test_it_credits_a_verified_payment_once(app_driver, webhook_client):
    top_up = pending_top_up(app_driver, "20.00")

    response = post_sandbox(webhook_client, sandbox_event(top_up, event_id="evt_1"))

    assert response.status_code == 200
    assert response.json() == {"received": True, "outcome": f"credited top-up {top_up.pk}"}
    top_up.refresh_from_db()
    assert top_up.state == TopUp.State.SUCCEEDED
    assert top_up.succeeded_at is not None
    assert available(app_driver) == Decimal("20.00")
    entry = JournalEntry.objects.get(top_up=top_up)
    assert entry.idempotency_key == f"top-up:{top_up.pk}"
    assert entry.kind == JournalEntry.Kind.TOP_UP
    event = ProviderEvent.objects.get()
    assert (event.provider, event.event_id, event.type) == ("sandbox", "evt_1", "payment.succeeded")
    assert event.processed_at is not None
    assert ledger_mismatches() == []


def test_a_replayed_event_posts_nothing(app_driver, webhook_client):
    top_up = pending_top_up(app_driver)
    body = sandbox_event(top_up, event_id="evt_1")
    post_sandbox(webhook_client, body)
    before = ledger_size()

    replay = post_sandbox(webhook_client, body)

    assert replay.status_code == 200
    assert replay.json()["outcome"] == "duplicate"
    assert ledger_size() == before
    assert ProviderEvent.objects.count() == 1
    assert available(app_driver) == Decimal("20.00")


def test_a_second_event_for_the_same_payment_posts_nothing(app_driver, webhook_client):
    top_up = pending_top_up(app_driver)
    post_sandbox(webhook_client, sandbox_event(top_up, event_id="evt_1"))
    before = ledger_size()

    again = post_sandbox(webhook_client, sandbox_event(top_up, event_id="evt_2"))

    assert again.status_code == 200
    assert again.json()["outcome"] == f"ignored: top-up {top_up.pk} was already credited"
    assert ledger_size() == before
    assert ProviderEvent.objects.count() == 2  # both kept, as evidence
    assert available(app_driver) == Decimal("20.00")


def test_a_failure_arriving_after_the_success_keeps_the_credit(app_driver, webhook_client, caplog):
    top_up = pending_top_up(app_driver)
    post_sandbox(webhook_client, sandbox_event(top_up))

    with caplog.at_level(logging.WARNING, logger="wallet.payments"):
        late = post_sandbox(webhook_client, sandbox_event(top_up, "payment.failed"))

    assert late.status_code == 200
    assert late.json()["outcome"] == "ignored: the top-up already succeeded"
    top_up.refresh_from_db()
    assert top_up.state == TopUp.State.SUCCEEDED
    assert available(app_driver) == Decimal("20.00")
    assert "after top-up" in caplog.text


def test_a_failed_payment_marks_the_top_up_failed_and_credits_nothing(app_driver, webhook_client):
    top_up = pending_top_up(app_driver)

    response = post_sandbox(webhook_client, sandbox_event(top_up, "payment.failed"))

    assert response.status_code == 200
    top_up.refresh_from_db()
    assert top_up.state == TopUp.State.FAILED
    assert top_up.failure_reason
    assert available(app_driver) == Decimal("0")
    assert JournalEntry.objects.count() == 0


def test_a_success_after_a_failed_attempt_still_credits(app_driver, webhook_client):
    """Stripe lets the driver retry a PaymentIntent whose first card was declined."""
    top_up = pending_top_up(app_driver)
    post_sandbox(webhook_client, sandbox_event(top_up, "payment.failed"))

    post_sandbox(webhook_client, sandbox_event(top_up))

    top_up.refresh_from_db()
    assert top_up.state == TopUp.State.SUCCEEDED
    assert top_up.failure_reason == ""
    assert available(app_driver) == Decimal("20.00")


def test_a_top_up_pays_what_the_driver_owes_first(app_driver, webhook_client):
    order = charged_order(app_driver, incl="12.10", excl="10.00")  # an empty wallet: unpaid
    assert order.state == Order.State.UNPAID
    top_up = pending_top_up(app_driver, "20.00")

    post_sandbox(webhook_client, sandbox_event(top_up))

    balances = wallet_balances(wallet=Wallet.objects.get(user=app_driver))
    assert balances.owed == Decimal("0")
    assert balances.available == Decimal("7.90")
    order.refresh_from_db()
    assert order.state == Order.State.PAID
    assert ledger_mismatches() == []


# --- Sandbox: what is refused or ignored ------------------------------------------------------


def _tampered(top_up: TopUp) -> tuple[bytes, str]:
    body = sandbox_event(top_up)
    header = sign(webhook_secret(), body)
    return body.replace(b"20.00", b"200.00"), header


@pytest.mark.parametrize(
    "case",
    ["wrong_secret", "tampered_body", "no_header", "garbled_header", "stale", "future"],
)
def test_it_refuses_an_unverifiable_delivery_and_posts_nothing(
    app_driver, webhook_client, caplog, case
):
    top_up = pending_top_up(app_driver)
    body = sandbox_event(top_up)
    header: str | None = sign(webhook_secret(), body)
    if case == "wrong_secret":
        header = sign("not-the-secret", body)
    elif case == "tampered_body":
        body, header = _tampered(top_up)
    elif case == "no_header":
        header = None
    elif case == "garbled_header":
        header = "v1=abc"
    elif case == "stale":
        header = sign(webhook_secret(), body, int(time.time()) - 301)
    elif case == "future":
        header = sign(webhook_secret(), body, int(time.time()) + 301)
    extra = {"HTTP_SANDBOX_SIGNATURE": header} if header else {}

    with caplog.at_level(logging.WARNING, logger="wallet.payments"):
        response = webhook_client.post(
            "/api/v1/payments/webhooks/sandbox/",
            data=body,
            content_type="application/json",
            **extra,
        )

    assert response.status_code == 400
    assert ledger_size() == (0, 0)
    assert ProviderEvent.objects.count() == 0
    top_up.refresh_from_db()
    assert top_up.state == TopUp.State.PENDING
    assert "sandbox webhook refused" in caplog.text


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"id": "evt_1"}', b'{"id": "", "type": "x", "data": {}}'],
    ids=["not_json", "a_list", "no_data", "empty_id"],
)
def test_it_refuses_a_signed_but_malformed_body(app_driver, webhook_client, caplog, body):
    with caplog.at_level(logging.WARNING, logger="wallet.payments"):
        response = post_sandbox(webhook_client, body)

    assert response.status_code == 400
    assert ledger_size() == (0, 0)
    assert ProviderEvent.objects.count() == 0
    assert "MalformedEvent" in caplog.text


def test_a_stale_timestamp_is_read_with_the_configured_tolerance(
    app_driver, webhook_client, settings
):
    settings.PAYMENT_WEBHOOK_TOLERANCE = 3600
    top_up = pending_top_up(app_driver)

    response = post_sandbox(
        webhook_client, sandbox_event(top_up), timestamp=int(time.time()) - 1800
    )

    assert response.status_code == 200
    assert available(app_driver) == Decimal("20.00")


def test_an_event_for_an_unknown_payment_is_acknowledged_and_ignored(webhook_client, caplog):
    body = json.dumps(
        {
            "id": "evt_x",
            "type": "payment.succeeded",
            "data": {"reference": "sbx_pay_nobody", "amount": "20.00", "currency": "EUR"},
        }
    ).encode()

    with caplog.at_level(logging.WARNING, logger="wallet.payments"):
        response = post_sandbox(webhook_client, body)

    assert response.status_code == 200  # a provider would retry a 4xx for days
    assert response.json()["outcome"] == "ignored: no top-up has this payment reference"
    assert ledger_size() == (0, 0)
    assert "unknown payment" in caplog.text


@pytest.mark.parametrize(
    ("amount", "currency"), [("200.00", "EUR"), ("19.99", "EUR"), ("20.00", "USD")]
)
def test_it_refuses_to_credit_another_amount_or_currency(
    app_driver, webhook_client, caplog, amount, currency
):
    top_up = pending_top_up(app_driver, "20.00")

    with caplog.at_level(logging.ERROR, logger="wallet.payments"):
        response = post_sandbox(
            webhook_client, sandbox_event(top_up, amount=amount, currency=currency)
        )

    assert response.status_code == 200
    assert response.json()["outcome"].startswith("refused")
    assert ledger_size() == (0, 0)
    top_up.refresh_from_db()
    assert top_up.state == TopUp.State.PENDING
    assert "not credited" in top_up.failure_reason
    assert "NOT credited" in caplog.text


def test_an_event_type_we_do_not_act_on_is_stored_and_acknowledged(app_driver, webhook_client):
    top_up = pending_top_up(app_driver)

    response = post_sandbox(webhook_client, sandbox_event(top_up, "payment.created"))

    assert response.status_code == 200
    assert response.json()["outcome"].startswith("ignored")
    assert ProviderEvent.objects.get().type == "payment.created"
    assert ledger_size() == (0, 0)


def test_the_sandbox_webhook_is_closed_when_another_provider_is_configured(
    app_driver, webhook_client, settings
):
    settings.PAYMENT_PROVIDER = "stripe"
    top_up = pending_top_up(app_driver)

    response = post_sandbox(webhook_client, sandbox_event(top_up))

    assert response.status_code == 404
    assert ledger_size() == (0, 0)


def test_an_unknown_provider_is_a_404(webhook_client):
    response = webhook_client.post(
        "/api/v1/payments/webhooks/paypal/", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 404


def test_an_explicit_sandbox_secret_is_used_when_set(app_driver, webhook_client, settings):
    settings.SANDBOX_WEBHOOK_SECRET = "whsec_sandbox_for_curl"
    top_up = pending_top_up(app_driver)

    assert post_sandbox(webhook_client, sandbox_event(top_up), secret="other").status_code == 400
    ok = post_sandbox(webhook_client, sandbox_event(top_up), secret="whsec_sandbox_for_curl")
    assert ok.status_code == 200


# --- Stripe ----------------------------------------------------------------------------------


@pytest.fixture
def stripe_on(settings: Any) -> None:
    settings.STRIPE_SECRET_KEY = "sk_test_never_sent_anywhere"
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET


def test_stripe_payment_intent_succeeded_credits_once(app_driver, webhook_client, stripe_on):
    top_up = pending_top_up(app_driver, "20.00", provider="stripe")
    body = stripe_event("payment_intent.succeeded", payment_intent(top_up), event_id="evt_s1")

    first = post_stripe(webhook_client, body)
    replay = post_stripe(webhook_client, body)

    assert first.status_code == 200
    assert first.json()["outcome"] == f"credited top-up {top_up.pk}"
    assert replay.json()["outcome"] == "duplicate"
    assert available(app_driver) == Decimal("20.00")
    assert JournalEntry.objects.filter(top_up=top_up).count() == 1
    top_up.refresh_from_db()
    assert top_up.state == TopUp.State.SUCCEEDED


def test_a_stored_stripe_event_keeps_no_client_secret(
    app_driver, webhook_client, stripe_on, operator
):
    top_up = pending_top_up(app_driver, "20.00", provider="stripe")
    secret = f"{top_up.provider_reference}_secret_Zq9xLx3pT0pS3cr3t"
    obj = payment_intent(
        top_up,
        client_secret=secret,
        next_action={"use_stripe_sdk": {"client_secret": secret, "type": "three_d_secure"}},
        charges={"data": [{"id": "ch_1", "client_secret": secret}]},
    )

    response = post_stripe(webhook_client, stripe_event("payment_intent.succeeded", obj))

    assert response.json()["outcome"] == f"credited top-up {top_up.pk}"
    stored = ProviderEvent.objects.get()
    assert "client_secret" not in json.dumps(stored.payload)
    assert secret not in json.dumps(stored.payload)
    assert stored.payload["data"]["object"]["id"] == top_up.provider_reference  # the rest kept
    assert stored.payload["data"]["object"]["charges"]["data"] == [{"id": "ch_1"}]
    admin = Client()
    admin.force_login(operator)
    page = admin.get(reverse("admin:wallet_providerevent_change", args=[stored.pk]))
    assert page.status_code == 200
    assert top_up.provider_reference.encode() in page.content
    assert secret.encode() not in page.content
    assert b"client_secret" not in page.content


def test_the_admin_hides_the_client_secret_of_an_event_stored_before_scrubbing(operator):
    stored = ProviderEvent.objects.create(
        provider="stripe",
        event_id="evt_old",
        type="payment_intent.succeeded",
        payload={"data": {"object": {"id": "pi_old", "client_secret": "pi_old_secret_xyz"}}},
    )
    admin = Client()
    admin.force_login(operator)

    page = admin.get(reverse("admin:wallet_providerevent_change", args=[stored.pk]))

    assert b"pi_old" in page.content
    assert b"pi_old_secret_xyz" not in page.content


def test_stripe_amounts_are_read_in_minor_units(app_driver, webhook_client, stripe_on):
    top_up = pending_top_up(app_driver, "20.00", provider="stripe")
    body = stripe_event("payment_intent.succeeded", payment_intent(top_up, amount=20))

    response = post_stripe(webhook_client, body)  # 20 cents, not 20 euros

    assert response.json()["outcome"].startswith("refused")
    assert available(app_driver) == Decimal("0")


def test_stripe_payment_failed_keeps_the_card_error(app_driver, webhook_client, stripe_on):
    top_up = pending_top_up(app_driver, provider="stripe")
    obj = payment_intent(top_up, last_payment_error={"message": "Your card was declined."})

    post_stripe(webhook_client, stripe_event("payment_intent.payment_failed", obj))

    top_up.refresh_from_db()
    assert top_up.state == TopUp.State.FAILED
    assert top_up.failure_reason == "Your card was declined."


def test_stripe_canceled_marks_the_top_up_canceled(app_driver, webhook_client, stripe_on):
    top_up = pending_top_up(app_driver, provider="stripe")
    obj = payment_intent(top_up, cancellation_reason="abandoned")

    post_stripe(webhook_client, stripe_event("payment_intent.canceled", obj))

    top_up.refresh_from_db()
    assert top_up.state == TopUp.State.CANCELED


@pytest.mark.parametrize("case", ["wrong_secret", "stale", "no_header", "not_json"])
def test_stripe_refuses_what_construct_event_refuses(
    app_driver, webhook_client, stripe_on, caplog, case
):
    top_up = pending_top_up(app_driver, provider="stripe")
    body = stripe_event("payment_intent.succeeded", payment_intent(top_up))
    kwargs: dict[str, Any] = {}
    if case == "wrong_secret":
        kwargs["secret"] = "whsec_wrong"
    elif case == "stale":
        kwargs["timestamp"] = int(time.time()) - 301
    elif case == "not_json":
        body = b"{not json"

    with caplog.at_level(logging.WARNING, logger="wallet.payments"):
        if case == "no_header":
            response = webhook_client.post(
                "/api/v1/payments/webhooks/stripe/", data=body, content_type="application/json"
            )
        else:
            response = post_stripe(webhook_client, body, **kwargs)

    assert response.status_code == 400
    assert ledger_size() == (0, 0)
    assert ProviderEvent.objects.count() == 0
    assert "stripe webhook refused" in caplog.text


def test_stripe_webhooks_are_refused_without_a_webhook_secret(app_driver, webhook_client, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    top_up = pending_top_up(app_driver, provider="stripe")
    body = stripe_event("payment_intent.succeeded", payment_intent(top_up))

    assert post_stripe(webhook_client, body).status_code == 400
    assert ledger_size() == (0, 0)


def test_stripe_events_we_do_not_handle_get_a_200(app_driver, webhook_client, stripe_on):
    body = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})

    response = post_stripe(webhook_client, body)

    assert response.status_code == 200
    assert response.json()["outcome"].startswith("ignored")


def test_a_stripe_refund_event_settles_a_pending_card_refund(app_driver, webhook_client, stripe_on):
    from wallet.models import Refund

    top_up = fund(app_driver, "20.00", provider="stripe")
    refund = Refund.objects.create(
        top_up=top_up,
        wallet=top_up.wallet,
        amount=Decimal("5"),
        currency="EUR",
        reason="r",
        state=Refund.State.PROVIDER_PENDING,
        provider_reference="re_123",
        idempotency_key="k1",
    )
    obj = {"id": "re_123", "object": "refund", "status": "succeeded", "amount": 500}

    post_stripe(webhook_client, stripe_event("refund.updated", obj))

    refund.refresh_from_db()
    assert refund.state == Refund.State.SUCCEEDED


# --- A refund's webhook overtaking its reference ----------------------------------------------


def _card_refund_sent_later(app_driver: Any, operator: Any, capture: Any) -> Refund:
    """A Stripe top-up refunded: posted, its send (refund_send, after commit) not run yet, so
    its provider reference is not saved, as while refund_send waits for Stripe's answer."""
    top_up = fund(app_driver, "20.00", provider="stripe")
    TopUp.objects.filter(pk=top_up.pk).update(provider_reference="pi_77")
    top_up.refresh_from_db()
    with capture(execute=False):  # refund_send queued at commit, not run
        refund = refund_top_up(
            top_up=top_up,
            amount=Decimal("5.00"),
            reason="r",
            created_by=operator,
            idempotency_key="refund-k1",
        ).refund
    return refund


def _stripe_refund(refund: Any, status: str = "succeeded", **extra: Any) -> dict[str, Any]:
    return {
        "id": "re_77",
        "object": "refund",
        "status": status,
        "amount": 500,
        "currency": "eur",
        "payment_intent": "pi_77",
        "metadata": {"refund": str(refund.pk), "top_up": str(refund.top_up_id)},
        **extra,
    }


def test_a_refund_event_before_its_reference_is_saved_is_retried_and_then_settles(
    app_driver,
    operator,
    webhook_client,
    stripe_on,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    refund = _card_refund_sent_later(app_driver, operator, django_capture_on_commit_callbacks)
    body = stripe_event("refund.updated", _stripe_refund(refund), event_id="evt_re_early")

    early = post_stripe(webhook_client, body)

    assert early.status_code == 409  # not 2xx: Stripe delivers it again later
    assert "deliver this event again" in early.json()["outcome"]
    assert not ProviderEvent.objects.filter(event_id="evt_re_early").exists()
    refund.refresh_from_db()
    assert (refund.state, refund.provider_reference) == (Refund.State.PROVIDER_PENDING, "")

    # refund_send gets Stripe's answer (still pending) and commits the reference.
    monkeypatch.setattr(
        stripe.Refund, "create", lambda **params: SimpleNamespace(id="re_77", status="pending")
    )
    refund_send(refund_id=refund.pk)  # the task queued at commit runs
    refund.refresh_from_db()
    assert (refund.state, refund.provider_reference) == (Refund.State.PROVIDER_PENDING, "re_77")

    retry = post_stripe(webhook_client, body)  # Stripe's retry of the same event

    assert retry.status_code == 200
    assert retry.json()["outcome"] == f"refund {refund.pk} succeeded"
    refund.refresh_from_db()
    assert refund.state == Refund.State.SUCCEEDED
    assert ProviderEvent.objects.get(event_id="evt_re_early").processed_at is not None


def test_a_refund_event_naming_a_refund_of_another_payment_is_ignored(
    app_driver, operator, webhook_client, stripe_on, django_capture_on_commit_callbacks
):
    # Another platform on the same Stripe account (staging) numbers its refunds too.
    refund = _card_refund_sent_later(app_driver, operator, django_capture_on_commit_callbacks)
    obj = _stripe_refund(refund, payment_intent="pi_of_another_platform")

    response = post_stripe(webhook_client, stripe_event("refund.updated", obj))

    assert response.status_code == 200
    assert response.json()["outcome"] == "ignored: no refund has this reference"


def test_a_refund_whose_send_failed_adopts_the_reference_the_provider_reports(
    app_driver, operator, webhook_client, stripe_on, django_capture_on_commit_callbacks
):
    # The send timed out after Stripe had made the refund: no reference, provider_failed.
    refund = _card_refund_sent_later(app_driver, operator, django_capture_on_commit_callbacks)
    Refund.objects.filter(pk=refund.pk).update(
        state=Refund.State.PROVIDER_FAILED, provider_error="timed out"
    )

    response = post_stripe(webhook_client, stripe_event("refund.updated", _stripe_refund(refund)))

    assert response.status_code == 200
    refund.refresh_from_db()
    assert (refund.state, refund.provider_reference) == (Refund.State.SUCCEEDED, "re_77")
