"""Django admin of billing, one module per sub-domain: ``sites`` (sites with their stations
and site-level tariff assignments), ``tariffs`` (tariffs, OCPI JSON import and export,
assignments), ``preview`` (the tariff page's price preview), ``versions`` (versions edited as
forms and published as new versions); ``forms`` the forms that turn the admin's element rows
into OCPI JSON, so the admin and the API share one reader (``billing.pricing.ocpi``) and one
set of rules; ``orders`` (orders with their lines,
session tariff snapshots, billing failures, the transaction page's cost so far).

Permissions come from the role groups (csms 0002, billing 0003): operators change, support
staff view.
"""

from __future__ import annotations

# Django's autodiscover imports this package only: importing the modules registers them.
from billing.admin import orders, sites, tariffs, versions

__all__ = ["orders", "sites", "tariffs", "versions"]
