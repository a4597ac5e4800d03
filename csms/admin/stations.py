"""Admin of charge points, their connectors, and the connections a station was refused.

What a station reports (device data, connection state, firmware status, what remote operations
left on it) is shown read-only; operators edit what is theirs to set (the settings fields, the
password). The field groups are ``csms.models.stations``'s, which the API's serializer shows too.
The actions that send commands are the gateway's: ocpp_gateway.admin registers a subclass of
``ChargePointAdmin`` that adds them.

**Extension point.** Apps built on csms add actions to the station changelist without csms
importing them: ``charge_point_admin_action_register(function)`` from their
``AppConfig.ready``, with ``function(modeladmin, request, queryset)`` declared with
``@admin.action`` (the wallet prints connectors' QR codes). Offered to whoever may view
stations; an action that changes something checks its own permission.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from csms.admin.common import ReadOnlyAdmin, changelist_url, pretty_json
from csms.models import (
    CHARGE_POINT_CONNECTION_FIELDS,
    CHARGE_POINT_DEVICE_FIELDS,
    CHARGE_POINT_FIRMWARE_FIELDS,
    CHARGE_POINT_REMOTE_STATE_FIELDS,
    CHARGE_POINT_SETTINGS_FIELDS,
    CONNECTOR_STATE_FIELDS,
    ChargePoint,
    ChargingProfile,
    Command,
    ConnectionAttempt,
    Connector,
    DataTransfer,
    DiagnosticsRequest,
    DiagnosticsStatusEvent,
    FirmwareStatusEvent,
    FirmwareUpdate,
    GatewayProcess,
    MessageLog,
    MeterValue,
    RegistrationStatus,
    Reservation,
    StatusNotification,
    Transaction,
    UnmatchedStopTransaction,
    identity_validator,
)
from csms.selectors.stations import clock_skewed_q, online_q
from csms.services.stations import (
    CHARGE_POINT_EDITABLE_FIELDS,
    charge_point_delete,
    charge_point_register_from_attempt,
    charge_point_set_password_hash,
    charge_point_update,
)
from csms.station_auth import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

# JSON fields are shown through a display method (indented, not one long line).
JSON_DISPLAYS = {
    "vendor_extras": "vendor_extras_display",
    "configuration": "configuration_display",
}


def shown(fields: Iterable[str]) -> list[str]:
    """A model field group as the admin shows it: JSON fields by their display method."""
    return [JSON_DISPLAYS.get(name, name) for name in fields]


class OnlineFilter(admin.SimpleListFilter):
    """ChargePoint.is_online as a filter (connected and heard from recently)."""

    title = "online"
    parameter_name = "online"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Online"), ("no", "Offline")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(online_q())
        if self.value() == "no":
            return queryset.exclude(online_q())
        return queryset


class ClockSkewedFilter(admin.SimpleListFilter):
    """ChargePoint.clock_skewed as a filter (clock off by more than the tolerance)."""

    title = "clock"
    parameter_name = "clock"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("off", "Off by more than the tolerance"), ("ok", "Within the tolerance")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "off":
            return queryset.filter(clock_skewed_q())
        if self.value() == "ok":
            return queryset.exclude(clock_skewed_q())
        return queryset


class ConnectorInline(admin.TabularInline):
    model = Connector
    extra = 0
    can_delete = False
    readonly_fields = list(CONNECTOR_STATE_FIELDS)
    fields = CONNECTOR_STATE_FIELDS
    ordering = ["connector_id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ChargePointAdminForm(forms.ModelForm):
    """Adds the station's Basic-auth password: write-only (never rendered back), hashed by
    the service, cleared with a tick box."""

    password = forms.CharField(
        required=False,
        strip=False,
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=(
            f"OCPP security profile 1 (HTTP Basic), {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} "
            "characters. Stored hashed and never shown; leave empty to keep the current one."
        ),
    )
    clear_password = forms.BooleanField(
        required=False, help_text="Remove the password: the station may connect without one."
    )

    class Meta:
        model = ChargePoint
        fields = list(CHARGE_POINT_SETTINGS_FIELDS)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("clear_password"):
            raise ValidationError("Either set a new password or clear it, not both.")
        return data


_EXTRA_ACTIONS: list[Callable[..., Any]] = []


def charge_point_admin_action_register(function: Callable[..., Any]) -> None:
    """Offer ``function`` on the station changelist (see the module docstring)."""
    if function not in _EXTRA_ACTIONS:
        _EXTRA_ACTIONS.append(function)


@admin.register(ChargePoint)
class ChargePointAdmin(admin.ModelAdmin):
    form = ChargePointAdminForm
    list_display = [
        "identity",
        "name",
        "site",
        "online",
        "registration_status",
        "vendor",
        "model",
        "firmware_version",
        "last_seen",
        "clock_skewed",
        "has_password",
    ]
    list_filter = [
        OnlineFilter,
        ClockSkewedFilter,
        "registration_status",
        "connected",
        "site",
        "vendor",
    ]
    list_select_related = ["site"]
    search_fields = [
        "identity",
        "name",
        "location",
        "vendor",
        "model",
        "charge_point_serial_number",
        "charge_box_serial_number",
    ]
    inlines = [ConnectorInline]
    readonly_fields = [
        "online",
        "has_password",
        "password_change_pending",
        "clock_skewed",
        *CHARGE_POINT_CONNECTION_FIELDS,
        *shown(CHARGE_POINT_DEVICE_FIELDS),
        *CHARGE_POINT_FIRMWARE_FIELDS,
        *shown(CHARGE_POINT_REMOTE_STATE_FIELDS),
        "related_links",
        "created_at",
        "updated_at",
    ]
    actions = ["accept_registration", "reject_registration"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if self.has_view_permission(request):
            for function in _EXTRA_ACTIONS:
                action = self.get_action(function)
                if action is not None:
                    actions[action[1]] = action
        return actions

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        settings_fields = list(CHARGE_POINT_SETTINGS_FIELDS)
        if obj is None:
            return [(None, {"fields": [*settings_fields, "password"]})]
        settings_fields += ["has_password", "password_change_pending"]
        if self.has_change_permission(request, obj):  # view-only: nothing to type into
            settings_fields += ["password", "clear_password"]
        return [
            (None, {"fields": settings_fields}),
            ("History", {"fields": ["related_links"]}),
            (
                "Connection",
                {"fields": ["online", *CHARGE_POINT_CONNECTION_FIELDS, "clock_skewed"]},
            ),
            ("Device (from BootNotification)", {"fields": shown(CHARGE_POINT_DEVICE_FIELDS)}),
            ("Firmware and diagnostics", {"fields": list(CHARGE_POINT_FIRMWARE_FIELDS)}),
            (
                "Remote operations state",
                {"classes": ["collapse"], "fields": shown(CHARGE_POINT_REMOTE_STATE_FIELDS)},
            ),
            (None, {"fields": ["created_at", "updated_at"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The identity is the URL the station connects to: set once, at registration.
        return [*self.readonly_fields, "identity"] if obj is not None else self.readonly_fields

    @admin.display(boolean=True, description="online")
    def online(self, obj: ChargePoint) -> bool:
        return obj.is_online

    @admin.display(boolean=True, description="clock off")
    def clock_skewed(self, obj: ChargePoint) -> bool:
        return obj.clock_skewed

    @admin.display(boolean=True, description="password set")
    def has_password(self, obj: ChargePoint) -> bool:
        return obj.has_password

    @admin.display(boolean=True, description="new AuthorizationKey not used yet")
    def password_change_pending(self, obj: ChargePoint) -> bool:
        return obj.password_change_pending

    @admin.display(description="vendor extras")
    def vendor_extras_display(self, obj: ChargePoint) -> SafeString:
        return pretty_json(obj.vendor_extras)

    @admin.display(description="configuration")
    def configuration_display(self, obj: ChargePoint) -> SafeString:
        return pretty_json(obj.configuration)

    @admin.display(description="this station's records")
    def related_links(self, obj: ChargePoint) -> SafeString | str:
        if obj.pk is None:
            return "-"
        by_pk = {"charge_point__id__exact": obj.pk}
        # The message log and attempts are read by identity: that is what their index covers.
        entries = [
            ("Message log", changelist_url(MessageLog, identity=obj.identity)),
            ("Status history", changelist_url(StatusNotification, **by_pk)),
            ("Transactions", changelist_url(Transaction, **by_pk)),
            ("Meter values", changelist_url(MeterValue, **by_pk)),
            ("Data transfers", changelist_url(DataTransfer, **by_pk)),
            ("Firmware status", changelist_url(FirmwareStatusEvent, **by_pk)),
            ("Diagnostics status", changelist_url(DiagnosticsStatusEvent, **by_pk)),
            ("Unknown-transaction stops", changelist_url(UnmatchedStopTransaction, **by_pk)),
            ("Refused connections", changelist_url(ConnectionAttempt, identity=obj.identity)),
        ]
        # Remote-operation models are registered by ocpp_gateway.admin (when present).
        entries += [
            ("Commands", changelist_url(Command, **by_pk)),
            ("Reservations", changelist_url(Reservation, **by_pk)),
            ("Charging profiles", changelist_url(ChargingProfile, **by_pk)),
            ("Firmware updates", changelist_url(FirmwareUpdate, **by_pk)),
            ("Diagnostics requests", changelist_url(DiagnosticsRequest, **by_pk)),
        ]
        return format_html_join(
            " · ", '<a href="{}">{}</a>', ((url, label) for label, url in entries if url)
        )

    def save_model(self, request: HttpRequest, obj: ChargePoint, form: Any, change: bool) -> None:
        password = form.cleaned_data.get("password")
        clear = form.cleaned_data.get("clear_password")
        if not change:
            if password:
                charge_point_set_password_hash(charge_point=obj, password=password)
            obj.save()
            return
        # Save only what the operator changed: the gateway writes last_seen / connected on this
        # row concurrently, and a full save of the form's snapshot would roll them back.
        fields = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in CHARGE_POINT_EDITABLE_FIELDS
        }
        if password or clear:
            fields["password"] = password if password else None
        charge_point_update(charge_point=obj, **fields)

    def delete_model(self, request: HttpRequest, obj: ChargePoint) -> None:
        charge_point_delete(charge_point=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ChargePoint]) -> None:
        for charge_point in queryset:
            charge_point_delete(charge_point=charge_point)

    def _set_registration(self, request: HttpRequest, queryset: Any, status: str) -> None:
        with transaction.atomic():
            for charge_point in queryset:
                charge_point_update(charge_point=charge_point, registration_status=status)
        self.message_user(
            request,
            f"{len(queryset)} station(s) set to {status}; it applies at their next "
            "BootNotification.",
            messages.SUCCESS,
        )

    @admin.action(description="Accept selected stations (registration)", permissions=["change"])
    def accept_registration(self, request: HttpRequest, queryset: Any) -> None:
        self._set_registration(request, queryset, RegistrationStatus.ACCEPTED)

    @admin.action(description="Reject selected stations (registration)", permissions=["change"])
    def reject_registration(self, request: HttpRequest, queryset: Any) -> None:
        self._set_registration(request, queryset, RegistrationStatus.REJECTED)


@admin.register(Connector)
class ConnectorAdmin(ReadOnlyAdmin):
    list_display = [
        "charge_point",
        "connector_id",
        "status",
        "error_code",
        "info",
        "vendor_error_code",
        "status_timestamp",
    ]
    list_filter = ["status", "error_code"]
    search_fields = ["=charge_point__identity"]
    list_select_related = ["charge_point"]


@admin.register(GatewayProcess)
class GatewayProcessAdmin(ReadOnlyAdmin):
    """The gateway processes holding station sockets, by their heartbeat: operators see which
    process a station is on (ChargePoint.gateway_process) and whether it is alive."""

    list_display = ["id", "host", "pid", "started_at", "heartbeat_at"]
    search_fields = ["=id", "host"]


@admin.register(ConnectionAttempt)
class ConnectionAttemptAdmin(ReadOnlyAdmin):
    list_display = ["last_at", "identity", "reason", "remote_address", "count", "detail"]
    list_filter = ["reason"]
    search_fields = ["identity", "remote_address"]
    date_hierarchy = "last_at"
    actions = ["register_stations"]

    def has_register_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("csms.add_chargepoint")

    @admin.action(description="Register selected stations", permissions=["register"])
    def register_stations(self, request: HttpRequest, queryset: Any) -> None:
        """One step from a refused handshake to a registered station (Accepted, no password);
        it is accepted when it next connects."""
        registered: list[str] = []
        invalid: list[str] = []
        seen: set[str] = set()
        with transaction.atomic():
            for attempt in queryset.order_by("identity"):
                if attempt.identity in seen:
                    continue
                seen.add(attempt.identity)
                try:
                    identity_validator(attempt.identity)
                except ValidationError:
                    invalid.append(attempt.identity)
                    continue
                charge_point_register_from_attempt(attempt=attempt)
                registered.append(attempt.identity)
        if registered:
            self.message_user(
                request,
                f"Registered {len(registered)} station(s): {', '.join(registered)}.",
                messages.SUCCESS,
            )
        if invalid:
            self.message_user(
                request,
                f"Not registered (not a valid identity): {', '.join(invalid)}.",
                messages.WARNING,
            )
