"""The wallet's admin: every money model readable by operators and by no one else, nothing
editable by hand, and the operators' refund pages (a double submit refunds once)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Order
from tests.factories import make_charge_point
from tests.wallet.factories import fund
from tests.wallet.payments_support import available, charged_order
from wallet.models import (
    AppSession,
    Invoice,
    InvoiceSequence,
    JournalEntry,
    LedgerAccount,
    Posting,
    ProviderEvent,
    Refund,
    Wallet,
)

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


@pytest.fixture
def money(app_driver: Any) -> dict[str, Any]:
    """One of every wallet model."""
    top_up = fund(app_driver, "50.00")
    order = charged_order(app_driver, incl="12.10", excl="10.00")
    wallet = Wallet.objects.get(user=app_driver)
    refund = Refund.objects.create(
        order=order,
        wallet=wallet,
        amount=Decimal("1"),
        currency="EUR",
        reason="seed",
        idempotency_key="seed",
    )
    return {
        "wallet": wallet,
        "ledgeraccount": LedgerAccount.objects.filter(wallet=wallet).first(),
        "journalentry": JournalEntry.objects.filter(top_up=top_up).get(),
        "posting": Posting.objects.first(),
        "topup": top_up,
        "refund": refund,
        "providerevent": ProviderEvent.objects.create(
            provider="sandbox", event_id="evt_1", type="payment.succeeded", payload={"a": 1}
        ),
        "appsession": AppSession.objects.create(
            wallet=wallet,
            charge_point=make_charge_point(),
            connector_id=1,
            connector_code="ABCD2345",
            start_deadline=timezone.now() + timedelta(minutes=3),
        ),
        "invoice": Invoice.objects.get(order=order),
        "invoicesequence": InvoiceSequence.objects.first(),
        "order": order,
    }


MODELS = [
    "wallet",
    "ledgeraccount",
    "journalentry",
    "posting",
    "topup",
    "refund",
    "providerevent",
    "appsession",
    "invoice",
    "invoicesequence",
]


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(name: str, view: str, *args: Any) -> str:
    return reverse(f"admin:wallet_{name}_{view}", args=args)


@pytest.mark.parametrize("name", MODELS)
def test_operators_see_every_wallet_changelist_and_change_page(operator, money, name):
    client = _client(operator)
    obj = money[name]

    changelist = client.get(_url(name, "changelist"))
    change = client.get(_url(name, "change", obj.pk))

    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count >= 1
    assert change.status_code == 200
    assert change.context["has_change_permission"] is False


@pytest.mark.parametrize("name", MODELS)
def test_support_sees_no_money(support, money, name):
    client = _client(support)
    obj = money[name]

    assert client.get(_url(name, "changelist")).status_code == 403
    assert client.get(_url(name, "change", obj.pk)).status_code == 403


def test_support_is_not_offered_the_wallet_section(support, operator):
    assert b"/admin/wallet/" not in _client(support).get("/admin/").content
    assert b"/admin/wallet/" in _client(operator).get("/admin/").content


@pytest.mark.parametrize("name", MODELS)
def test_nothing_is_added_changed_or_deleted_by_hand(operator, money, name):
    client = _client(operator)
    obj = money[name]

    assert client.get(_url(name, "add")).status_code == 403
    assert client.post(_url(name, "change", obj.pk), {}).status_code == 403
    assert client.post(_url(name, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_the_wallet_page_shows_balances_from_the_accounts_and_the_statement(operator, money):
    page = _client(operator).get(_url("wallet", "change", money["wallet"].pk)).content.decode()

    assert "available <b>37.90</b>" in page
    assert "Top-up via sandbox" in page
    assert "Session charged" in page


def test_wallets_are_found_by_e_mail(operator, money):
    found = _client(operator).get(_url("wallet", "changelist") + "?q=dana@")
    assert found.context["cl"].result_count == 1


def _form_token(page: Any) -> str:
    match = re.search(r'name="token" value="([^"]+)"', page.content.decode())
    assert match
    return match.group(1)


def test_an_operator_refunds_an_order_from_its_admin_and_a_double_submit_refunds_once(
    operator, money, app_driver
):
    client = _client(operator)
    order = money["order"]
    before = available(app_driver)
    picked = client.post(
        reverse("admin:billing_order_changelist"),
        {"action": "refund_action", ACTION_CHECKBOX_NAME: [order.pk]},
    )
    assert picked.status_code == 302
    form_page = client.get(picked["Location"])
    assert form_page.status_code == 200
    data = {"amount": "5.00", "reason": "Station fault", "token": _form_token(form_page)}

    first = client.post(picked["Location"], data)
    second = client.post(picked["Location"], data)

    assert first.status_code == 302
    assert second.status_code == 302
    refunds = Refund.objects.filter(order=order, reason="Station fault")
    assert refunds.count() == 1
    assert available(app_driver) == before + Decimal("5.00")
    assert first["Location"] == _url("refund", "change", refunds.get().pk)


def test_the_order_page_offers_refund_to_operators(operator, money):
    order = money["order"]
    page = _client(operator).get(reverse("admin:billing_order_change", args=[order.pk]))
    assert reverse("admin:wallet_refund_order", args=[order.pk]).encode() in page.content


def test_the_refund_form_says_what_is_wrong(operator, money):
    client = _client(operator)
    url = reverse("admin:wallet_refund_order", args=[money["order"].pk])
    token = _form_token(client.get(url))

    response = client.post(url, {"amount": "99.00", "reason": "x", "token": token})

    assert response.status_code == 200
    assert "At most" in response.content.decode()
    assert Refund.objects.filter(reason="x").count() == 0


def test_an_operator_refunds_a_top_up_to_the_card(
    operator, money, app_driver, django_capture_on_commit_callbacks
):
    client = _client(operator)
    top_up = money["topup"]
    picked = client.post(
        _url("topup", "changelist"),
        {"action": "refund_action", ACTION_CHECKBOX_NAME: [top_up.pk]},
    )
    token = _form_token(client.get(picked["Location"]))

    with django_capture_on_commit_callbacks(execute=True):
        client.post(picked["Location"], {"amount": "10.00", "reason": "asked", "token": token})

    refund = Refund.objects.get(top_up=top_up)
    assert refund.state == Refund.State.SUCCEEDED
    assert available(app_driver) == Decimal("27.90")


def test_support_cannot_open_the_refund_pages(support, money):
    client = _client(support)
    order_form = reverse("admin:wallet_refund_order", args=[money["order"].pk])
    top_up_form = reverse("admin:wallet_refund_top_up", args=[money["topup"].pk])

    assert client.get(order_form).status_code == 403
    assert client.post(order_form, {"reason": "x", "token": "a" * 32}).status_code == 403
    assert client.get(top_up_form).status_code == 403
    assert Order.objects.get(pk=money["order"].pk).state == Order.State.PAID
