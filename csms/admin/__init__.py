"""Django admin for the core domain, one module per sub-domain: ``stations`` (charge points,
connectors, refused connections), ``authorization`` (id tags), ``transactions`` (transactions,
meter values, unknown-transaction stops), ``logs`` (status history, message log, data
transfers, firmware and diagnostics status); ``common`` holds what they share; ``login`` the
login form that says when a log-in is throttled.

What stations report is shown read-only: it is history, and editing it would make the admin
disagree with the station and with billing. Operators edit what is theirs to set (names,
registration status, heartbeat interval, password, id tags). Permissions come from the role
groups (csms 0002): operators change, support staff only view.

Remote operations (Command, Reservation, ChargingProfile, CompositeSchedule, FirmwareUpdate,
DiagnosticsRequest) are registered by ocpp_gateway.admin, which also re-registers the station
and transaction admins with the actions that send commands: csms never imports the gateway.
"""

from __future__ import annotations

from django.contrib import admin

# Django's autodiscover imports this package only: importing the modules registers their admins.
from csms.admin import authorization, logs, stations, transactions
from csms.admin.login import ThrottledAdminAuthenticationForm

admin.site.site_header = "CSMS administration"
admin.site.site_title = "CSMS"
admin.site.index_title = "Charging management"
admin.site.login_form = ThrottledAdminAuthenticationForm

__all__ = ["authorization", "logs", "stations", "transactions"]
