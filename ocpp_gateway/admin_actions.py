"""Admin actions that send OCPP operations to stations (used by ocpp_gateway.admin).

``send_command_action`` (ChargePoint changelist): support staff and operators select stations,
pick an operation (among those their role may send: csms.permissions) and fill in its payload
on an intermediate page; every selected station is
asked at once, and the results page shows each answer with a link to its Command record.
``remote_stop_action`` (Transaction changelist): RemoteStopTransaction for each selected
running transaction. Both are declared with ``permissions=["send_command"]``: the model admin
answers ``has_send_command_permission`` (operators and support), and each action checks again.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse

from csms.models import ChargePoint, Command, Transaction
from csms.permissions import can_send_commands
from ocpp_gateway import calls
from ocpp_gateway.forms import SendCommandForm, example_payloads_json


def _result_rows(outcomes: list[calls.Outcome]) -> list[dict[str, Any]]:
    rows = []
    for outcome in outcomes:
        command = outcome.command
        row: dict[str, Any] = {
            "charge_point": outcome.charge_point,
            "command": command,
            "error": outcome.error.message if outcome.error is not None else "",
            "url": reverse("admin:csms_command_change", args=[command.pk]) if command else "",
            "request": json.dumps(command.request, indent=2) if command else "",
            "response": (
                json.dumps(command.response, indent=2)
                if command is not None and command.response is not None
                else ""
            ),
        }
        rows.append(row)
    return rows


def results_page(
    modeladmin: Any, request: HttpRequest, action: str, outcomes: list[calls.Outcome]
) -> TemplateResponse:
    answered = sum(
        1 for o in outcomes if o.command is not None and o.command.state == Command.State.ANSWERED
    )
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"{action}: {answered} of {len(outcomes)} answered",
        "opts": modeladmin.model._meta,
        "ocpp_action": action,
        "rows": _result_rows(outcomes),
        "back_url": request.get_full_path(),
        "command_log_url": reverse("admin:csms_command_changelist"),
    }
    return TemplateResponse(request, "ocpp_gateway/command_results.html", context)


def refuse(modeladmin: Any, request: HttpRequest) -> None:
    modeladmin.message_user(
        request, "Only operators and support staff may send commands.", messages.ERROR
    )


@admin.action(
    description="Send an OCPP command to the selected stations", permissions=["send_command"]
)
def send_command_action(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[ChargePoint]
) -> TemplateResponse | None:
    if not can_send_commands(request.user):
        refuse(modeladmin, request)
        return None
    stations = list(queryset.order_by("identity"))
    if "apply" in request.POST:
        form = SendCommandForm(request.POST, user=request.user)
        if form.is_valid():
            action = form.cleaned_data["ocpp_action"]
            payload = form.cleaned_data["payload"]
            outcomes = calls.command_send_many(
                targets=[(station, payload) for station in stations],
                action=action,
                issued_by=request.user,
                source="admin",
                timeout=form.cleaned_data.get("timeout"),
            )
            return results_page(modeladmin, request, action, outcomes)
    else:
        form = SendCommandForm(user=request.user)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Send an OCPP command",
        "opts": modeladmin.model._meta,
        "stations": stations,
        "form": form,
        "examples": example_payloads_json(),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "admin_action": "send_command_action",
        "media": modeladmin.media,
    }
    return TemplateResponse(request, "ocpp_gateway/send_command.html", context)


@admin.action(description="Stop the selected transactions remotely", permissions=["send_command"])
def remote_stop_action(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[Transaction]
) -> TemplateResponse | None:
    if not can_send_commands(request.user):
        refuse(modeladmin, request)
        return None
    transactions = list(queryset.select_related("charge_point").order_by("pk"))
    running = [tx for tx in transactions if tx.stopped_at is None]
    outcomes = calls.command_send_many(
        targets=[(tx.charge_point, {"transactionId": tx.pk}) for tx in running],
        action="RemoteStopTransaction",
        issued_by=request.user,
        source="admin",
    )
    for tx in transactions:
        if tx.stopped_at is not None:
            outcomes.append(
                calls.Outcome(
                    charge_point=tx.charge_point,
                    error=calls.CommandNotAllowed(f"Transaction {tx.pk} already ended."),
                )
            )
    return results_page(modeladmin, request, "RemoteStopTransaction", outcomes)
