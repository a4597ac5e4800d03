"""The admin's login form: says so when a log-in is throttled (csms.authentication), instead
of the usual "enter a correct username and password", which would send an operator who typed
the right one hunting for a typo."""

from __future__ import annotations

import math
from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from csms.authentication import login_retry_after


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "throttled": (
            "Too many failed log-ins for this user or from this address. "
            "Try again in %(minutes)d minute(s)."
        ),
    }

    def clean(self) -> dict[str, Any]:
        wait = login_retry_after(self.cleaned_data.get("username"), self.request)
        if wait:
            raise ValidationError(
                self.error_messages["throttled"],
                code="throttled",
                params={"minutes": math.ceil(wait / 60)},
            )
        return super().clean()
