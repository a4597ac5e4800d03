"""Operators' refunds: a charged session's order back into the wallet, a top-up back to the
card. Never more than is left, once per Idempotency-Key, operators only."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import stripe

from billing.models import Order
from tests.wallet.factories import fund
from tests.wallet.payments_support import available, charged_order
from wallet.models import JournalEntry, LedgerAccount, Posting, Refund, TopUp, Wallet
from wallet.selectors.ledger import ledger_mismatches, wallet_balances, wallet_statement
from wallet.services.refunds import refund_retry, refund_send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _eager_celery() -> Iterator[None]:
    """Tasks queued on commit (refund_send) run in place, with or without a broker (REDIS_URL
    runs are not eager by default)."""
    from csms.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def _refund(client: Any, url: str, body: dict[str, Any], key: str | None = None) -> Any:
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()))


def _order_url(order: Order) -> str:
    return f"/api/v1/orders/{order.pk}/refunds/"


def _top_up_url(top_up: TopUp) -> str:
    return f"/api/v1/top-ups/{top_up.pk}/refunds/"


def _vat_legs(order: Order) -> Decimal:
    legs = Posting.objects.filter(
        entry__refund__order=order, account__kind=LedgerAccount.Kind.VAT_PAYABLE
    )
    return sum((p.amount for p in legs), Decimal(0))


@pytest.fixture
def paid_order(app_driver: Any) -> Order:
    fund(app_driver, "50.00")
    order = charged_order(app_driver, incl="12.10", excl="10.00")
    assert order.state == Order.State.PAID
    return order


# --- Orders ----------------------------------------------------------------------------------


def test_it_refunds_a_whole_order_into_the_wallet(operator_api, operator, app_driver, paid_order):
    response = _refund(operator_api, _order_url(paid_order), {"reason": "Station fault"})

    assert response.status_code == 201
    body = response.json()
    assert (body["amount"], body["state"], body["order"]) == ("12.10", "posted", paid_order.pk)
    assert body["created_by"] == operator.username
    assert available(app_driver) == Decimal("50.00")
    paid_order.refresh_from_db()
    assert paid_order.state == Order.State.REFUNDED
    assert _vat_legs(paid_order) == Decimal("2.10")
    newest = wallet_statement(wallet=Wallet.objects.get(user=app_driver)).first()
    assert newest is not None
    assert (newest.kind, newest.available_change) == (JournalEntry.Kind.REFUND, Decimal("12.10"))
    assert "Station fault" in newest.memo
    assert ledger_mismatches() == []


def test_partial_refunds_split_the_vat_and_the_last_takes_the_remainder(operator_api, paid_order):
    first = _refund(operator_api, _order_url(paid_order), {"amount": "5.00", "reason": "a"})
    assert first.status_code == 201
    assert _vat_legs(paid_order) == Decimal("0.87")  # 2.10 * 5 / 12.10, rounded
    paid_order.refresh_from_db()
    assert paid_order.state == Order.State.PAID

    rest = _refund(operator_api, _order_url(paid_order), {"reason": "the rest"})

    assert rest.json()["amount"] == "7.10"
    assert _vat_legs(paid_order) == Decimal("2.10")
    paid_order.refresh_from_db()
    assert paid_order.state == Order.State.REFUNDED


def test_it_never_refunds_more_than_is_left(operator_api, paid_order):
    too_much = _refund(operator_api, _order_url(paid_order), {"amount": "12.11", "reason": "x"})
    assert too_much.status_code == 400
    assert "At most 12.10 EUR" in str(too_much.json())

    _refund(operator_api, _order_url(paid_order), {"reason": "all"})
    nothing = _refund(operator_api, _order_url(paid_order), {"amount": "0.01", "reason": "x"})
    assert nothing.status_code == 400
    assert Refund.objects.count() == 1


def test_a_retried_refund_refunds_once(operator_api, app_driver, paid_order):
    key = str(uuid.uuid4())
    first = _refund(operator_api, _order_url(paid_order), {"amount": "5.00", "reason": "x"}, key)

    retry = _refund(operator_api, _order_url(paid_order), {"amount": "5.00", "reason": "x"}, key)

    assert retry.status_code == 200
    assert retry.json()["id"] == first.json()["id"]
    assert Refund.objects.count() == 1
    assert available(app_driver) == Decimal("42.90")


def test_a_key_used_for_another_order_is_refused(operator_api, app_driver, paid_order):
    other = charged_order(app_driver, incl="2.42", excl="2.00")
    key = str(uuid.uuid4())
    _refund(operator_api, _order_url(paid_order), {"reason": "x"}, key)

    response = _refund(operator_api, _order_url(other), {"reason": "x"}, key)

    assert response.status_code == 422


def test_refunding_an_unpaid_order_clears_what_the_driver_owes(operator_api, app_driver):
    order = charged_order(app_driver, incl="12.10", excl="10.00")
    assert order.state == Order.State.UNPAID

    response = _refund(operator_api, _order_url(order), {"reason": "goodwill"})

    assert response.status_code == 201
    balances = wallet_balances(wallet=Wallet.objects.get(user=app_driver))
    assert (balances.available, balances.owed) == (Decimal("0"), Decimal("0"))
    order.refresh_from_db()
    assert order.state == Order.State.REFUNDED
    assert ledger_mismatches() == []


def test_an_order_not_yet_charged_cannot_be_refunded(operator_api, app_driver, paid_order):
    Order.objects.filter(pk=paid_order.pk).update(state=Order.State.FREE)

    response = _refund(operator_api, _order_url(paid_order), {"reason": "x"})

    assert response.status_code == 400
    assert "paid or unpaid" in str(response.json())


@pytest.mark.parametrize(
    ("body", "key", "field"),
    [
        ({}, "k", "reason"),
        ({"reason": "x", "amount": 1.5}, "k", "amount"),
        ({"reason": "x"}, "", "Idempotency-Key"),
    ],
)
def test_a_refund_request_says_what_is_missing(operator_api, paid_order, body, key, field):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    response = operator_api.post(_order_url(paid_order), body, format="json", **headers)

    assert response.status_code == 400
    assert field in response.json()


def test_an_unknown_order_is_a_404(operator_api):
    assert _refund(operator_api, "/api/v1/orders/999/refunds/", {"reason": "x"}).status_code == 404


@pytest.mark.parametrize(
    ("persona", "code"), [("support_api", 403), ("driver_api", 403), ("anonymous_api", 401)]
)
def test_only_operators_refund(request, paid_order, persona, code):
    top_up = TopUp.objects.get()
    client = request.getfixturevalue(persona)

    assert _refund(client, _order_url(paid_order), {"reason": "x"}).status_code == code
    assert _refund(client, _top_up_url(top_up), {"reason": "x"}).status_code == code
    assert client.get("/api/v1/refunds/").status_code == code
    assert Refund.objects.count() == 0


# --- Top-ups ---------------------------------------------------------------------------------


def test_it_refunds_a_sandbox_top_up_to_the_card(
    operator_api, app_driver, django_capture_on_commit_callbacks
):
    top_up = fund(app_driver, "20.00")

    with django_capture_on_commit_callbacks(execute=True):
        response = _refund(operator_api, _top_up_url(top_up), {"amount": "5.00", "reason": "x"})

    assert response.status_code == 201
    assert response.json()["state"] == "provider_pending"  # as posted; the task ran after
    refund = Refund.objects.get()
    assert refund.state == Refund.State.SUCCEEDED
    assert refund.provider_reference.startswith("sbx_re_")
    assert available(app_driver) == Decimal("15.00")
    top_up.refresh_from_db()
    assert top_up.refunded_amount == Decimal("5.00")
    assert ledger_mismatches() == []


def test_a_top_up_refund_is_limited_by_what_the_wallet_still_has(operator_api, app_driver):
    top_up = fund(app_driver, "20.00")
    charged_order(app_driver, incl="12.10", excl="10.00")  # spent: 7.90 left

    response = _refund(operator_api, _top_up_url(top_up), {"reason": "x"})

    assert response.status_code == 409
    assert "The wallet has 7.90 EUR available" in response.json()["detail"]
    assert Refund.objects.count() == 0
    assert available(app_driver) == Decimal("7.90")


def test_a_top_up_refund_is_limited_by_what_is_left_of_it(operator_api, app_driver):
    top_up = fund(app_driver, "20.00")
    fund(app_driver, "50.00")
    _refund(operator_api, _top_up_url(top_up), {"amount": "15.00", "reason": "x"})

    response = _refund(operator_api, _top_up_url(top_up), {"amount": "5.01", "reason": "x"})

    assert response.status_code == 400
    assert "At most 5.00 EUR" in str(response.json())


def test_only_a_succeeded_top_up_is_refunded(operator_api, app_driver):
    top_up = fund(app_driver, "20.00")
    TopUp.objects.filter(pk=top_up.pk).update(state=TopUp.State.PENDING)

    assert _refund(operator_api, _top_up_url(top_up), {"reason": "x"}).status_code == 400


@pytest.fixture
def stripe_top_up(app_driver: Any, settings: Any) -> TopUp:
    settings.STRIPE_SECRET_KEY = "sk_test_do_not_leak"
    top_up = fund(app_driver, "20.00", provider="stripe")
    TopUp.objects.filter(pk=top_up.pk).update(provider_reference="pi_42")
    top_up.refresh_from_db()
    return top_up


def test_a_stripe_refund_is_sent_with_its_idempotency_key(
    operator_api, stripe_top_up, monkeypatch, django_capture_on_commit_callbacks
):
    calls: list[dict[str, Any]] = []

    def create(**params: Any) -> Any:
        calls.append(params)
        return SimpleNamespace(id="re_1", status="pending")

    monkeypatch.setattr(stripe.Refund, "create", create)

    with django_capture_on_commit_callbacks(execute=True):
        _refund(operator_api, _top_up_url(stripe_top_up), {"amount": "7.50", "reason": "x"})

    refund = Refund.objects.get()
    (call,) = calls
    assert call["payment_intent"] == "pi_42"
    assert call["amount"] == 750
    assert call["idempotency_key"] == f"refund:{refund.pk}"
    assert call["api_key"] == "sk_test_do_not_leak"
    assert (refund.state, refund.provider_reference) == (Refund.State.PROVIDER_PENDING, "re_1")
    refund_send(refund_id=refund.pk)  # a twin task: nothing sent again
    assert len(calls) == 1


def test_a_refund_the_provider_refuses_is_flagged_and_can_be_sent_again(
    operator_api, app_driver, stripe_top_up, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def refuse(**params: Any) -> Any:
        raise stripe.InvalidRequestError("Charge already refunded", param="payment_intent")

    monkeypatch.setattr(stripe.Refund, "create", refuse)
    with (
        caplog.at_level(logging.ERROR, logger="wallet.payments"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        _refund(operator_api, _top_up_url(stripe_top_up), {"amount": "5.00", "reason": "x"})

    refund = Refund.objects.get()
    assert refund.state == Refund.State.PROVIDER_FAILED
    assert "Stripe refused the refund" in refund.provider_error
    assert "sk_test" not in refund.provider_error
    assert "failed at stripe" in caplog.text
    assert available(app_driver) == Decimal("15.00")  # left posted for the operator

    monkeypatch.setattr(
        stripe.Refund, "create", lambda **params: SimpleNamespace(id="re_2", status="succeeded")
    )
    with django_capture_on_commit_callbacks(execute=True):
        refund_retry(refund=refund)
    refund.refresh_from_db()
    assert (refund.state, refund.provider_reference) == (Refund.State.SUCCEEDED, "re_2")


# --- Operators' reads ------------------------------------------------------------------------


def test_operators_list_refunds_with_filters(operator_api, paid_order):
    _refund(operator_api, _order_url(paid_order), {"amount": "1.00", "reason": "x"})

    listed = operator_api.get(f"/api/v1/refunds/?order={paid_order.pk}")

    assert listed.status_code == 200
    assert [r["amount"] for r in listed.json()["results"]] == ["1.00"]
    assert operator_api.get("/api/v1/refunds/?order=999").json()["results"] == []
    assert operator_api.get("/api/v1/refunds/?state=nope").status_code == 400


def test_operators_read_wallets_with_balances_and_statement(
    operator_api, app_driver, other_driver, django_assert_max_num_queries
):
    fund(app_driver, "20.00")
    fund(other_driver, "5.00")

    with django_assert_max_num_queries(5):
        listed = operator_api.get("/api/v1/wallets/")
    assert listed.status_code == 200
    by_email = {w["email"]: w["balances"]["available"] for w in listed.json()["results"]}
    assert by_email == {"dana@example.com": "20.00", "otto@example.com": "5.00"}
    found = operator_api.get("/api/v1/wallets/?search=dana").json()["results"]
    assert [w["email"] for w in found] == ["dana@example.com"]

    wallet = Wallet.objects.get(user=app_driver)
    detail = operator_api.get(f"/api/v1/wallets/{wallet.pk}/").json()
    assert detail["balances"] == {
        "currency": "EUR",
        "available": "20.00",
        "held": "0.00",
        "owed": "0.00",
    }
    assert [(e["kind"], e["amount"]) for e in detail["statement"]] == [("top_up", "20.00")]
    assert operator_api.get("/api/v1/wallets/999/").status_code == 404
    tops = operator_api.get(f"/api/v1/top-ups/?wallet={wallet.pk}").json()["results"]
    assert [(t["amount"], t["driver"]) for t in tops] == [("20.00", "dana@example.com")]


@pytest.mark.parametrize(
    ("persona", "code"), [("support_api", 403), ("driver_api", 403), ("anonymous_api", 401)]
)
def test_only_operators_read_wallets(request, app_driver, persona, code):
    wallet = Wallet.objects.get(user=app_driver)
    client = request.getfixturevalue(persona)

    assert client.get("/api/v1/wallets/").status_code == code
    assert client.get(f"/api/v1/wallets/{wallet.pk}/").status_code == code
    assert client.get("/api/v1/top-ups/").status_code == code
