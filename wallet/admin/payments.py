"""Admin of top-ups, refunds and provider events (read-only), and the operators' refund
pages: "Refund…" on a top-up and on an order (billing's Order admin, re-registered here with
the action, as ocpp_gateway adds its command actions to the core's admins).

A refund form carries a one-time token made when the form is shown; it is the refund's
idempotency key, so a double submit (or the browser's resubmit) refunds once.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from billing.admin.orders import OrderAdmin
from billing.models import Order
from csms.admin.common import change_url, link, pretty_json
from csms.permissions import is_operator
from wallet.admin.common import MoneyAdmin
from wallet.models import ProviderEvent, Refund, TopUp
from wallet.money import AmountError, parse_amount
from wallet.payments.base import payload_scrub
from wallet.services.ledger import InsufficientFunds
from wallet.services.payments import IdempotencyConflict
from wallet.services.refunds import RefundResult, refund_order, refund_retry, refund_top_up


class RefundForm(forms.Form):
    amount = forms.CharField(
        required=False, help_text="Empty: everything left to refund. A string such as 5.00."
    )
    reason = forms.CharField(max_length=255, help_text="Shown on the driver's statement.")
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency

    def clean_amount(self) -> Decimal | None:
        raw = (self.cleaned_data.get("amount") or "").strip()
        if not raw:
            return None
        try:
            return parse_amount(raw, self.currency)
        except AmountError as exc:
            raise ValidationError(str(exc)) from None

    def clean_token(self) -> str:
        token = str(self.cleaned_data.get("token") or "")
        if not 16 <= len(token) <= 64 or not token.replace("-", "").replace("_", "").isalnum():
            raise ValidationError("Reload the form.")
        return token


def _refund_links(refunds: Any) -> SafeString:
    return format_html_join(
        ", ", "{}", ((link(change_url(r), f"{r.amount} ({r.state})"),) for r in refunds)
    )


def _refund_url(kind: str, pk: int) -> str:
    return reverse(f"admin:wallet_refund_{kind}", args=[pk])


@admin.register(TopUp)
class TopUpAdmin(MoneyAdmin):
    list_display = [
        "id",
        "created_at",
        "driver",
        "amount",
        "currency",
        "provider",
        "state",
        "refunded_amount",
        "succeeded_at",
    ]
    list_filter = ["state", "provider", "currency"]
    search_fields = ["=id", "provider_reference", "wallet__user__email"]
    list_select_related = ["wallet__user"]
    date_hierarchy = "created_at"
    actions = ["refund_action"]
    readonly_fields = [
        "wallet",
        "amount",
        "currency",
        "provider",
        "provider_reference",
        "state",
        "failure_reason",
        "refunded_amount",
        "refund_display",
        "idempotency_key",
        "created_at",
        "updated_at",
        "succeeded_at",
    ]
    fields = tuple(readonly_fields)

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user)

    @admin.display(description="driver", ordering="wallet__user__email")
    def driver(self, obj: TopUp) -> str:
        return str(obj.wallet.user.email or obj.wallet.user)

    @admin.display(description="refunds")
    def refund_display(self, obj: TopUp) -> SafeString | str:
        refunds = format_html_join(
            ", ",
            "{}",
            ((link(change_url(r), f"{r.amount} ({r.state})"),) for r in obj.refunds.all()),
        )
        button = (
            format_html(' <a class="button" href="{}">Refund…</a>', _refund_url("top_up", obj.pk))
            if obj.state == TopUp.State.SUCCEEDED and obj.refunded_amount < obj.amount
            else ""
        )
        return format_html("{}{}", refunds or "-", button)

    @admin.action(description="Refund the selected top-up to the card…", permissions=["refund"])
    def refund_action(self, request: HttpRequest, queryset: QuerySet[TopUp]) -> Any:
        if queryset.count() != 1:
            self.message_user(request, "Select one top-up to refund.", messages.WARNING)
            return None
        return HttpResponseRedirect(_refund_url("top_up", queryset.get().pk))


class WalletOrderAdmin(OrderAdmin):
    """billing's Order admin with the operators' refund (wallet's business)."""

    actions = ["refund_action"]  # billing's Order admin has none of its own
    readonly_fields = [*OrderAdmin.readonly_fields, "refunds_display"]
    fields = (*OrderAdmin.fields, "refunds_display")

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user)

    @admin.display(description="refunds")
    def refunds_display(self, obj: Order) -> SafeString | str:
        refunds = format_html_join(
            ", ",
            "{}",
            ((link(change_url(r), f"{r.amount} ({r.state})"),) for r in obj.refunds.all()),
        )
        button = (
            format_html(' <a class="button" href="{}">Refund…</a>', _refund_url("order", obj.pk))
            if obj.state in (Order.State.PAID, Order.State.UNPAID)
            else ""
        )
        return format_html("{}{}", refunds or "-", button)

    @admin.action(description="Refund the selected order to the wallet…", permissions=["refund"])
    def refund_action(self, request: HttpRequest, queryset: QuerySet[Order]) -> Any:
        if queryset.count() != 1:
            self.message_user(request, "Select one order to refund.", messages.WARNING)
            return None
        return HttpResponseRedirect(_refund_url("order", queryset.get().pk))


admin.site.unregister(Order)
admin.site.register(Order, WalletOrderAdmin)


@admin.register(Refund)
class RefundAdmin(MoneyAdmin):
    list_display = [
        "id",
        "created_at",
        "what",
        "wallet",
        "amount",
        "currency",
        "state",
        "reason",
        "created_by",
    ]
    list_filter = ["state", "currency"]
    search_fields = ["=id", "=order__id", "=top_up__id", "wallet__user__email", "reason"]
    list_select_related = ["wallet__user", "created_by"]
    date_hierarchy = "created_at"
    actions = ["retry_action"]
    readonly_fields = [
        "order",
        "top_up",
        "wallet",
        "amount",
        "currency",
        "reason",
        "state",
        "provider_reference",
        "provider_error",
        "idempotency_key",
        "created_by",
        "created_at",
        "updated_at",
    ]
    fields = tuple(readonly_fields)

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user)

    @admin.display(description="of")
    def what(self, obj: Refund) -> str:
        return f"order {obj.order_id}" if obj.order_id else f"top-up {obj.top_up_id}"

    @admin.action(description="Send the failed card refunds again", permissions=["refund"])
    def retry_action(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        sent = 0
        for refund in queryset.filter(state=Refund.State.PROVIDER_FAILED, top_up__isnull=False):
            refund_retry(refund=refund)
            sent += 1
        self.message_user(request, f"{sent} refund(s) sent to the provider again.")

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("order/<int:pk>/", view(self.order_refund_view), name="wallet_refund_order"),
            path("top-up/<int:pk>/", view(self.top_up_refund_view), name="wallet_refund_top_up"),
            *super().get_urls(),
        ]

    def order_refund_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        order = get_object_or_404(Order, pk=pk)
        return self._refund_view(
            request,
            target=order,
            currency=order.currency,
            title=f"Refund order {order.pk} to the driver's wallet",
            run=lambda data, key: refund_order(
                order=order,
                amount=data["amount"],
                reason=data["reason"],
                created_by=request.user,
                idempotency_key=key,
            ),
        )

    def top_up_refund_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        top_up = get_object_or_404(TopUp, pk=pk)
        return self._refund_view(
            request,
            target=top_up,
            currency=top_up.currency,
            title=f"Refund top-up {top_up.pk} to the card ({top_up.provider})",
            run=lambda data, key: refund_top_up(
                top_up=top_up,
                amount=data["amount"],
                reason=data["reason"],
                created_by=request.user,
                idempotency_key=key,
            ),
        )

    def _refund_view(
        self, request: HttpRequest, *, target: Any, currency: str, title: str, run: Any
    ) -> HttpResponse:
        if not is_operator(request.user):
            raise PermissionDenied
        if request.method == "POST":
            form = RefundForm(request.POST, currency=currency)
            if form.is_valid():
                try:
                    result: RefundResult = run(
                        form.cleaned_data, f"admin:{form.cleaned_data['token']}"
                    )
                except ValidationError as exc:
                    form.add_error(
                        None,
                        exc.messages
                        if not hasattr(exc, "error_dict")
                        else [m for ms in exc.message_dict.values() for m in ms],
                    )
                except (InsufficientFunds, IdempotencyConflict) as exc:
                    form.add_error(None, str(exc))
                else:
                    refund = result.refund
                    if result.created:
                        text = f"Refunded {refund.amount} {refund.currency} ({refund.state})."
                        self.message_user(request, text, messages.SUCCESS)
                    else:
                        text = "This form was already submitted: refunded once."
                        self.message_user(request, text, messages.WARNING)
                    return HttpResponseRedirect(change_url(refund) or "../")
        else:
            form = RefundForm(initial={"token": secrets.token_urlsafe(24)}, currency=currency)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "target": target,
            "target_url": change_url(target),
            "currency": currency,
        }
        return TemplateResponse(request, "admin/wallet/refund_form.html", context)


@admin.register(ProviderEvent)
class ProviderEventAdmin(MoneyAdmin):
    list_display = ["id", "received_at", "provider", "type", "event_id", "outcome"]
    list_filter = ["provider", "type"]
    search_fields = ["event_id", "outcome"]
    date_hierarchy = "received_at"
    readonly_fields = [
        "provider",
        "event_id",
        "type",
        "outcome",
        "received_at",
        "processed_at",
        "payload_display",
    ]
    fields = tuple(readonly_fields)

    @admin.display(description="payload")
    def payload_display(self, obj: ProviderEvent) -> SafeString:
        # Scrubbed again: events stored before secrets were scrubbed on receipt still hold one.
        return pretty_json(payload_scrub(obj.payload))
