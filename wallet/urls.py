"""wallet's routes, each sub-domain's from its API package: the driver app's under
/api/v1/app/, operators' under /api/v1/, and plain pages (the sandbox checkout) at the root.
Mounted by csms/urls.py."""

from __future__ import annotations

from django.urls import include, path

from wallet.api import accounts, charging, orders, payments

_MODULES = (accounts, payments, charging, orders)

app_urlpatterns = [p for m in _MODULES for p in m.app_urlpatterns]
staff_urlpatterns = [p for m in _MODULES for p in m.staff_urlpatterns]
page_urlpatterns = [p for m in _MODULES for p in m.page_urlpatterns]

urlpatterns = [
    path("api/v1/app/", include(app_urlpatterns)),
    path("api/v1/", include(staff_urlpatterns)),
    path("", include(page_urlpatterns)),
]
