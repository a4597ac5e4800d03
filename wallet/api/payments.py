"""App API: payments. (Filled in by the payments work.)"""

from __future__ import annotations

from typing import Any

# Mounted at /api/v1/app/ (the driver app), /api/v1/ (operators) and / (pages) by wallet.urls.
app_urlpatterns: list[Any] = []
staff_urlpatterns: list[Any] = []
page_urlpatterns: list[Any] = []
