"""Admin form for sending an OCPP operation to selected stations."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings

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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["timeout"].widget.attrs["placeholder"] = f"{settings.OCPP_COMMAND_TIMEOUT:g}"

    def clean_payload(self) -> dict[str, Any]:
        text = self.cleaned_data["payload"].strip() or "{}"
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The payload must be a JSON object: {...}.")
        return value
