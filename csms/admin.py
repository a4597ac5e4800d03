"""Django admin for the core domain.

What stations report (device data, connection state, status history, transactions, meter
values, the message log) is shown read-only: it is history, and editing it would make the
admin disagree with the station and with billing. Operators edit what is theirs to set
(names, registration status, heartbeat interval, password, id tags). Permissions come from the
role groups (csms 0002): operators change, support staff only view.

Remote operations (Command, Reservation, ChargingProfile, CompositeSchedule, FirmwareUpdate,
DiagnosticsRequest) are registered by ocpp_gateway.admin, which also provides the admin
actions that send commands to stations.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from csms.models import (
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
    IdTag,
    MessageLog,
    MeterValue,
    RegistrationStatus,
    Reservation,
    StatusNotification,
    Transaction,
    UnmatchedStopTransaction,
    identity_validator,
)
from csms.permissions import can_send_commands
from csms.selectors.stations import online_q
from csms.services.stations import (
    CHARGE_POINT_EDITABLE_FIELDS,
    charge_point_delete,
    charge_point_register_from_attempt,
    charge_point_set_password_hash,
    charge_point_update,
)
from csms.station_auth import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

# The admin actions that send OCPP commands live with the remote-operations code. They may
# land before or after this module, so take them if they exist and run without them if not.
try:
    from ocpp_gateway.admin_actions import remote_stop_action, send_command_action
except ImportError:  # remote operations not installed yet: the admin works without them
    send_command_action = None  # type: ignore[assignment]
    remote_stop_action = None  # type: ignore[assignment]

admin.site.site_header = "CSMS administration"
admin.site.site_title = "CSMS"
admin.site.index_title = "Charging management"


def changelist_url(model: type[Model], **params: Any) -> str | None:
    """The admin changelist of ``model`` filtered by ``params``; None if it is not registered."""
    opts = model._meta
    try:
        base = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:
        return None
    return f"{base}?{urlencode(params)}" if params else base


def change_url(obj: Any) -> str | None:
    opts = obj._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return None


def link(url: str | None, text: Any) -> SafeString | str:
    return format_html('<a href="{}">{}</a>', url, text) if url else str(text)


def pretty_json(value: Any) -> SafeString:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
        json.dumps(value, indent=2, ensure_ascii=False, default=str),
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    """For what stations report: viewable (and deletable by operators, so deleting a station
    can cascade), never added or edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Charge points ------------------------------------------------------------------------


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


class ConnectorInline(admin.TabularInline):
    model = Connector
    extra = 0
    can_delete = False
    readonly_fields = [
        "connector_id",
        "status",
        "error_code",
        "info",
        "vendor_id",
        "vendor_error_code",
        "status_timestamp",
    ]
    fields = tuple(readonly_fields)
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
        fields = [
            "identity",
            "name",
            "description",
            "location",
            "registration_status",
            "heartbeat_interval",
            "tariff",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("clear_password"):
            raise ValidationError("Either set a new password or clear it, not both.")
        return data


@admin.register(ChargePoint)
class ChargePointAdmin(admin.ModelAdmin):
    form = ChargePointAdminForm
    list_display = [
        "identity",
        "name",
        "online",
        "registration_status",
        "vendor",
        "model",
        "firmware_version",
        "last_seen",
        "has_password",
    ]
    list_filter = [OnlineFilter, "registration_status", "connected", "vendor"]
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
        "connected",
        "last_seen",
        "connected_at",
        "disconnected_at",
        "remote_address",
        "vendor",
        "model",
        "charge_point_serial_number",
        "charge_box_serial_number",
        "firmware_version",
        "iccid",
        "imsi",
        "meter_type",
        "meter_serial_number",
        "vendor_extras_display",
        "last_boot_at",
        "firmware_status",
        "firmware_status_at",
        "diagnostics_status",
        "diagnostics_status_at",
        "local_list_version",
        "local_list_reported_version",
        "local_list_checked_at",
        "local_list_mismatch",
        "configuration_display",
        "configuration_unknown_keys",
        "configuration_at",
        "reboot_required",
        "related_links",
        "created_at",
        "updated_at",
    ]
    actions = [
        "accept_registration",
        "reject_registration",
        *([send_command_action] if send_command_action is not None else []),
    ]

    _settings_fields = [
        "identity",
        "name",
        "description",
        "location",
        "registration_status",
        "heartbeat_interval",
        "tariff",
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        settings_fields = list(self._settings_fields)
        if obj is None:
            return [(None, {"fields": [*settings_fields, "password"]})]
        settings_fields.append("has_password")
        if self.has_change_permission(request, obj):  # view-only: nothing to type into
            settings_fields += ["password", "clear_password"]
        return [
            (None, {"fields": settings_fields}),
            ("History", {"fields": ["related_links"]}),
            (
                "Connection",
                {
                    "fields": [
                        "online",
                        "connected",
                        "last_seen",
                        "connected_at",
                        "disconnected_at",
                        "remote_address",
                    ]
                },
            ),
            (
                "Device (from BootNotification)",
                {
                    "fields": [
                        "vendor",
                        "model",
                        "charge_point_serial_number",
                        "charge_box_serial_number",
                        "firmware_version",
                        "iccid",
                        "imsi",
                        "meter_type",
                        "meter_serial_number",
                        "vendor_extras_display",
                        "last_boot_at",
                    ]
                },
            ),
            (
                "Firmware and diagnostics",
                {
                    "fields": [
                        "firmware_status",
                        "firmware_status_at",
                        "diagnostics_status",
                        "diagnostics_status_at",
                    ]
                },
            ),
            (
                "Remote operations state",
                {
                    "classes": ["collapse"],
                    "fields": [
                        "local_list_version",
                        "local_list_reported_version",
                        "local_list_checked_at",
                        "local_list_mismatch",
                        "configuration_display",
                        "configuration_unknown_keys",
                        "configuration_at",
                        "reboot_required",
                    ],
                },
            ),
            (None, {"fields": ["created_at", "updated_at"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The identity is the URL the station connects to: set once, at registration.
        return [*self.readonly_fields, "identity"] if obj is not None else self.readonly_fields

    def has_send_command_permission(self, request: HttpRequest) -> bool:
        """For command actions declared with ``permissions=["send_command"]``."""
        return can_send_commands(request.user)

    @admin.display(boolean=True, description="online")
    def online(self, obj: ChargePoint) -> bool:
        return obj.is_online

    @admin.display(boolean=True, description="password set")
    def has_password(self, obj: ChargePoint) -> bool:
        return obj.has_password

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


@admin.register(StatusNotification)
class StatusNotificationAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "charge_point",
        "connector_id",
        "status",
        "error_code",
        "info",
        "vendor_error_code",
        "timestamp",
    ]
    list_filter = ["status", "error_code"]
    search_fields = ["=charge_point__identity"]
    list_select_related = ["charge_point"]
    date_hierarchy = "received_at"
    show_full_result_count = False


@admin.register(ConnectionAttempt)
class ConnectionAttemptAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "identity", "reason", "remote_address", "detail"]
    list_filter = ["reason"]
    search_fields = ["identity", "remote_address"]
    date_hierarchy = "created_at"
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


# --- Id tags ------------------------------------------------------------------------------


class IdTagAdminForm(forms.ModelForm):
    class Meta:
        model = IdTag
        fields = ["id_tag", "status", "expiry_date", "parent", "user", "note"]

    def clean_id_tag(self) -> str:
        value = self.cleaned_data["id_tag"].strip()
        key = IdTag.normalize(value)
        clash = IdTag.objects.filter(key=key).exclude(pk=self.instance.pk).first()
        if clash is not None:
            raise ValidationError(
                f"Id tag {clash.id_tag!r} already exists; tags are case-insensitive, "
                f"so {value!r} is the same tag."
            )
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        parent, value = data.get("parent"), data.get("id_tag")
        if parent is not None and value and parent.key == IdTag.normalize(value):
            raise ValidationError({"parent": "A tag cannot be its own parent."})
        return data


@admin.register(IdTag)
class IdTagAdmin(admin.ModelAdmin):
    form = IdTagAdminForm
    list_display = ["id_tag", "status", "expiry_date", "parent", "user", "note", "updated_at"]
    list_filter = ["status"]
    search_fields = ["id_tag", "key", "note", "user__username", "user__email"]
    list_select_related = ["parent", "user"]
    raw_id_fields = ["parent", "user"]
    readonly_fields = ["transactions_link", "created_at", "updated_at"]

    @admin.display(description="transactions")
    def transactions_link(self, obj: IdTag) -> SafeString | str:
        if obj.pk is None:
            return "-"
        return link(changelist_url(Transaction, id_tag__iexact=obj.id_tag), "Transactions")


# --- Transactions and meter values --------------------------------------------------------


class ActiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "active"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Charging (active)"), ("no", "Finished")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(stopped_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(stopped_at__isnull=False)
        return queryset


def kwh(wh: int | None) -> str:
    return "-" if wh is None else f"{wh / 1000:.3f} kWh"


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "charge_point",
        "connector_id",
        "id_tag",
        "started_at",
        "stopped_at",
        "energy",
        "stop_reason",
        "active",
    ]
    list_filter = [ActiveFilter, "start_status", "stop_reason"]
    search_fields = ["=id", "=charge_point__identity", "id_tag"]
    list_select_related = ["charge_point"]
    date_hierarchy = "started_at"
    readonly_fields = [
        "id",
        "charge_point_link",
        "connector_id",
        "id_tag",
        "id_tag_ref",
        "start_status",
        "reservation_id",
        "meter_start",
        "started_at",
        "meter_stop",
        "stopped_at",
        "stop_reason",
        "stop_id_tag",
        "energy",
        "last_meter_wh",
        "last_power_w",
        "last_soc",
        "last_meter_at",
        "meter_values_link",
        "transaction_data_display",
        "created_at",
        "updated_at",
    ]
    fields = tuple(readonly_fields)
    actions = [remote_stop_action] if remote_stop_action is not None else []

    def has_send_command_permission(self, request: HttpRequest) -> bool:
        """For command actions declared with ``permissions=["send_command"]``."""
        return can_send_commands(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # charging history is kept (billing); see Transaction.charge_point PROTECT

    @admin.display(boolean=True, description="active")
    def active(self, obj: Transaction) -> bool:
        return obj.is_active

    @admin.display(description="energy")
    def energy(self, obj: Transaction) -> str:
        if obj.energy_wh is not None:
            return kwh(obj.energy_wh)
        if obj.last_meter_wh is not None:
            return f"{kwh(obj.last_meter_wh - obj.meter_start)} (so far)"
        return "-"

    @admin.display(description="charge point")
    def charge_point_link(self, obj: Transaction) -> SafeString | str:
        return link(change_url(obj.charge_point), obj.charge_point)

    @admin.display(description="meter values")
    def meter_values_link(self, obj: Transaction) -> SafeString | str:
        return link(changelist_url(MeterValue, transaction__id__exact=obj.pk), "Meter values")

    @admin.display(description="transaction data")
    def transaction_data_display(self, obj: Transaction) -> SafeString | str:
        return pretty_json(obj.transaction_data) if obj.transaction_data else "-"


@admin.register(MeterValue)
class MeterValueAdmin(ReadOnlyAdmin):
    list_display = [
        "timestamp",
        "charge_point",
        "connector_id",
        "transaction",
        "measurand",
        "phase",
        "value",
        "unit",
        "context",
        "location",
    ]
    list_filter = ["context", "location"]
    search_fields = ["=charge_point__identity", "=transaction__id", "measurand"]
    list_select_related = ["charge_point", "transaction"]
    raw_id_fields = ["charge_point", "transaction"]
    show_full_result_count = False


@admin.register(UnmatchedStopTransaction)
class UnmatchedStopTransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "charge_point",
        "transaction_id",
        "id_tag",
        "meter_stop",
        "timestamp",
        "reason",
    ]
    search_fields = ["=charge_point__identity", "=transaction_id", "id_tag"]
    list_select_related = ["charge_point"]
    date_hierarchy = "received_at"


# --- Message log and other station reports ------------------------------------------------


@admin.register(MessageLog)
class MessageLogAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "identity",
        "direction",
        "message_type",
        "action",
        "message_id",
        "payload_excerpt",
    ]
    list_filter = ["direction", "message_type"]
    # Exact identity search uses the (identity, -created_at) index.
    search_fields = ["=identity", "=message_id", "action"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [
        "created_at",
        "charge_point",
        "identity",
        "direction",
        "message_type",
        "action",
        "message_id",
        "payload_display",
    ]
    fields = tuple(readonly_fields)

    @admin.display(description="payload")
    def payload_excerpt(self, obj: MessageLog) -> str:
        return obj.payload if len(obj.payload) <= 120 else obj.payload[:117] + "..."

    @admin.display(description="payload")
    def payload_display(self, obj: MessageLog) -> SafeString:
        try:
            return pretty_json(json.loads(obj.payload))
        except ValueError:  # logged verbatim because it was not JSON
            return format_html("<pre>{}</pre>", obj.payload)


@admin.register(DataTransfer)
class DataTransferAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "charge_point",
        "direction",
        "vendor_id",
        "message_id",
        "response_status",
    ]
    list_filter = ["direction", "response_status"]
    search_fields = ["=charge_point__identity", "vendor_id", "message_id"]
    list_select_related = ["charge_point"]
    date_hierarchy = "created_at"


@admin.register(FirmwareStatusEvent)
class FirmwareStatusEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "charge_point", "status"]
    list_filter = ["status"]
    search_fields = ["=charge_point__identity"]
    list_select_related = ["charge_point"]


@admin.register(DiagnosticsStatusEvent)
class DiagnosticsStatusEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "charge_point", "status"]
    list_filter = ["status"]
    search_fields = ["=charge_point__identity"]
    list_select_related = ["charge_point"]
