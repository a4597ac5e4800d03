"""Admin form for sending an OCPP operation to selected stations."""

from __future__ import annotations

import json
from typing import Any, cast

from django import forms
from django.conf import settings

from csms.permissions import SUPPORT_CONDITIONS, command_refusal, commands_allowed, is_operator
from ocpp_gateway.calls import MAX_TIMEOUT_SECONDS
from ocpp_gateway.operations import EXAMPLE_PAYLOADS
from ocpp_gateway.schemas import CENTRAL_ACTIONS


def example_payloads_json() -> dict[str, str]:
    """First example payload per action, pretty-printed (the form prefills the textarea)."""
    return {
        action: json.dumps(EXAMPLE_PAYLOADS[action][0][1], indent=2)
        for action in sorted(CENTRAL_ACTIONS)
        if EXAMPLE_PAYLOADS.get(action)
    }


class SendCommandForm(forms.Form):
    """The operation and its payload. Given ``user``, it offers only the operations that user
    may send and refuses a payload their role may not send (csms.permissions), with the
    reason on the form; the send path checks again."""

    ocpp_action = forms.ChoiceField(
        label="Operation",
        choices=[("", "---------"), *((a, a) for a in sorted(CENTRAL_ACTIONS))],
    )
    payload = forms.CharField(
        label="Payload (JSON)",
        widget=forms.Textarea(attrs={"rows": 14, "cols": 80, "class": "vLargeTextField"}),
        initial="{}",
        help_text="The OCPP 1.6 payload, checked against the schema before anything is sent. "
        "Choosing an operation fills in an example. SendLocalList may leave out listVersion "
        "and localAuthorizationList (built from the id-tag registry); ReserveNow leaves out "
        "reservationId (the CSMS assigns it).",
    )
    timeout = forms.FloatField(
        label="Wait for answers (seconds)",
        min_value=1,
        max_value=MAX_TIMEOUT_SECONDS,
        required=False,
        help_text="All stations are asked at once; default OCPP_COMMAND_TIMEOUT.",
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["timeout"].widget.attrs["placeholder"] = f"{settings.OCPP_COMMAND_TIMEOUT:g}"
        if user is not None:
            allowed = commands_allowed(user, sorted(CENTRAL_ACTIONS))
            action = cast(forms.ChoiceField, self.fields["ocpp_action"])
            # Only the menu shrinks: the field still knows every operation, so a refused one
            # posted anyway is explained by clean() in the policy's words, not "invalid choice".
            cast(forms.Select, action.widget).choices = [
                ("", "---------"),
                *((a, a) for a in allowed),
            ]
            if not is_operator(user):
                conditions = "; ".join(f"{a} {c}" for a, c in SUPPORT_CONDITIONS.items())
                action.help_text = (
                    f"The operations your role may send ({conditions}); the others are "
                    "reserved to operators."
                )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        action, payload = cleaned.get("ocpp_action"), cleaned.get("payload")
        if self.user is not None and action and isinstance(payload, dict):
            refusal = command_refusal(self.user, action, payload)
            if refusal is not None:
                raise forms.ValidationError(refusal)
        return cleaned

    def clean_payload(self) -> dict[str, Any]:
        text = self.cleaned_data["payload"].strip() or "{}"
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The payload must be a JSON object: {...}.")
        return value
