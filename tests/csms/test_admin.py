"""Django admin: every core, billing and wallet model browsable by staff; stations' history one
click from the station's page; station passwords write-only; support staff view, never change."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Tariff
from csms.admin.stations import ChargePointAdmin
from csms.admin.transactions import TransactionAdmin
from csms.models import (
    ChargePoint,
    ConnectionAttempt,
    DataTransfer,
    DiagnosticsStatusEvent,
    FirmwareStatusEvent,
    IdTag,
    MessageLog,
    MeterValue,
    StatusNotification,
    Transaction,
    UnmatchedStopTransaction,
)
from csms.station_auth import check_station_password
from ocpp_gateway.admin import GatewayChargePointAdmin, GatewayTransactionAdmin
from ocpp_gateway.admin_actions import remote_stop_action, send_command_action
from tests.factories import (
    make_charge_point,
    make_connector,
    make_id_tag,
    make_transaction,
    make_user,
)
from tests.wallet.factories import fund, make_driver
from wallet.models import JournalEntry, Wallet

pytestmark = pytest.mark.django_db

PASSWORD = "a-station-secret-0123"


@pytest.fixture
def world() -> dict[str, Any]:
    """One of everything, as the gateway would have written it."""
    station = make_charge_point(
        identity="CP1",
        name="Depot",
        password=PASSWORD,
        vendor="XQ",
        model="ocpp_ac_7kw",
        firmware_version="250722",
        vendor_extras={"customData": {"moduleVersion": "FC4X.250723"}},
        connected=True,
        last_seen=timezone.now(),
    )
    other = make_charge_point(identity="CP2")
    make_connector(charge_point=station, connector_id=1, status="Charging")
    parent = make_id_tag(id_tag="FLEET")
    tag = make_id_tag(id_tag="CARD-1", parent=parent)
    tx = make_transaction(
        charge_point=station,
        id_tag="CARD-1",
        id_tag_ref=tag,
        meter_start=1000,
        meter_stop=8500,
        energy_wh=7500,
        stopped_at=timezone.now(),
        transaction_data=[{"timestamp": "2025-03-01T08:00:00Z", "sampledValue": []}],
    )
    make_transaction(charge_point=other, id_tag="CARD-1", last_meter_wh=1500, meter_start=1000)
    now = timezone.now()
    objects = {
        "station": station,
        "tag": tag,
        "transaction": tx,
        "connector": station.connectors.get(),
        "status": StatusNotification.objects.create(
            charge_point=station, connector_id=1, status="Charging", error_code="NoError"
        ),
        "meter_value": MeterValue.objects.create(
            charge_point=station,
            connector_id=1,
            transaction=tx,
            timestamp=now,
            value="2000",
            value_decimal=Decimal(2000),
            unit="Wh",
        ),
        "message": MessageLog.objects.create(
            charge_point=station,
            identity="CP1",
            direction="in",
            message_type=2,
            action="Heartbeat",
            message_id="m1",
            payload='[2, "m1", "Heartbeat", {}]',
        ),
        "unparsable_message": MessageLog.objects.create(
            charge_point=station, identity="CP1", direction="in", payload="not json <b>"
        ),
        "other_message": MessageLog.objects.create(
            charge_point=other, identity="CP2", direction="in", action="Heartbeat", payload="[]"
        ),
        "data_transfer": DataTransfer.objects.create(
            charge_point=station, vendor_id="com.xq", data="{}", response_status="Accepted"
        ),
        "firmware_event": FirmwareStatusEvent.objects.create(
            charge_point=station, status="Installed"
        ),
        "diagnostics_event": DiagnosticsStatusEvent.objects.create(
            charge_point=station, status="Uploaded"
        ),
        "unmatched_stop": UnmatchedStopTransaction.objects.create(
            charge_point=station, transaction_id=99, meter_stop=10, timestamp=now
        ),
        "attempt": ConnectionAttempt.objects.create(identity="NEW1", reason="unknown"),
        "tariff": Tariff.objects.create(name="Standard"),
    }
    driver = make_driver(email="dana@example.com")
    fund(driver, "20.00")
    objects["wallet"] = Wallet.objects.get(user=driver)
    objects["journal_entry"] = JournalEntry.objects.get(wallet__user=driver)
    return objects


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator_client(operator) -> Client:
    return client_for(operator)


@pytest.fixture
def support_client(support) -> Client:
    return client_for(support)


def admin_url(obj_or_model: Any, view: str, *args: Any) -> str:
    opts = obj_or_model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def form_data(response: Any) -> dict[str, Any]:
    """The POST body a browser would send back for an admin change form, unchanged."""
    data: dict[str, Any] = {}

    def add(form: Any) -> None:
        for name in form.fields:
            value = form[name].value()
            if value is None:
                continue
            if isinstance(value, bool):
                if value:
                    data[form.add_prefix(name)] = "on"
                continue
            data[form.add_prefix(name)] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    return data


CORE_MODELS = [
    "station",
    "connector",
    "status",
    "tag",
    "transaction",
    "meter_value",
    "message",
    "unparsable_message",
    "data_transfer",
    "firmware_event",
    "diagnostics_event",
    "unmatched_stop",
    "attempt",
    "tariff",
]
# Money (wallet) is operators' only: tests/wallet/test_admin.py.


def test_every_model_of_ours_is_registered():
    from django.apps import apps

    remote_ops = {
        "command",
        "reservation",
        "chargingprofile",
        "compositeschedule",
        "firmwareupdate",
        "diagnosticsrequest",
    }  # registered by ocpp_gateway.admin
    for label in ("csms", "billing", "wallet"):
        for model in apps.get_app_config(label).get_models():
            if model._meta.model_name in remote_ops:
                continue
            assert admin.site.is_registered(model), model


@pytest.mark.parametrize("key", CORE_MODELS)
def test_operators_get_every_changelist_and_change_page(operator_client, world, key):
    obj = world[key]
    changelist = operator_client.get(admin_url(obj, "changelist"))
    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count >= 1
    change = operator_client.get(admin_url(obj, "change", obj.pk))
    assert change.status_code == 200


@pytest.mark.parametrize("key", CORE_MODELS)
def test_support_views_every_page_but_cannot_change(support_client, world, key):
    obj = world[key]
    assert support_client.get(admin_url(obj, "changelist")).status_code == 200
    change = support_client.get(admin_url(obj, "change", obj.pk))
    assert change.status_code == 200
    assert change.context["has_change_permission"] is False
    assert support_client.get(admin_url(obj, "add")).status_code == 403
    assert support_client.post(admin_url(obj, "change", obj.pk), {}).status_code == 403
    assert support_client.post(admin_url(obj, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_non_staff_users_are_sent_to_the_login_page(driver, world):
    response = client_for(driver).get(admin_url(world["station"], "changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# --- Charge point page --------------------------------------------------------------------


def test_the_station_page_shows_device_data_state_and_history_links(operator_client, world):
    station = world["station"]
    response = operator_client.get(admin_url(station, "change", station.pk))
    html = response.content.decode()

    assert "ocpp_ac_7kw" in html and "250722" in html and "FC4X.250723" in html
    assert "/admin/csms/messagelog/?identity=CP1" in html
    assert f"/admin/csms/statusnotification/?charge_point__id__exact={station.pk}" in html
    assert f"/admin/csms/transaction/?charge_point__id__exact={station.pk}" in html
    assert f"/admin/csms/metervalue/?charge_point__id__exact={station.pk}" in html
    assert "Charging" in html  # the connector inline
    # Device data is read-only; the password is write-only.
    form = response.context["adminform"].form
    assert "vendor" not in form.fields and "identity" not in form.fields
    assert "password" in form.fields and "clear_password" in form.fields
    assert station.password_hash not in html
    assert 'type="password"' in html


@pytest.mark.parametrize(
    ("model", "query", "expected"),
    [
        (MessageLog, "identity=CP1", 2),
        (StatusNotification, "charge_point__id__exact={pk}", 1),
        (MeterValue, "charge_point__id__exact={pk}", 1),
        (ChargePoint, "online=yes", 1),
        (ChargePoint, "online=no", 1),
    ],
)
def test_the_station_links_filter_the_changelists(operator_client, world, model, query, expected):
    url = admin_url(model, "changelist") + "?" + query.format(pk=world["station"].pk)
    response = operator_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count == expected


def test_the_transaction_list_filters_by_station_and_state(operator_client, world):
    base = admin_url(world["transaction"], "changelist")
    by_station = operator_client.get(f"{base}?charge_point__id__exact={world['station'].pk}")
    assert [t.pk for t in by_station.context["cl"].result_list] == [world["transaction"].pk]
    active = operator_client.get(f"{base}?active=yes")
    assert [t.charge_point.identity for t in active.context["cl"].result_list] == ["CP2"]
    assert "0.500 kWh (so far)" in active.content.decode()


def test_an_operator_sets_and_clears_a_station_password(operator_client, world):
    station = world["station"]
    url = admin_url(station, "change", station.pk)

    data = form_data(operator_client.get(url))
    data.update(password="another-secret-456789", name="Depot renamed")
    response = operator_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    station.refresh_from_db()
    assert station.name == "Depot renamed"
    assert check_station_password("another-secret-456789", station.password_hash)
    assert station.connected is True  # connection state untouched by the form

    data = form_data(operator_client.get(url))
    data["clear_password"] = "on"
    assert operator_client.post(url, data).status_code == 302
    station.refresh_from_db()
    assert station.password_hash == ""


def test_saving_without_a_password_keeps_the_current_one(operator_client, world):
    station = world["station"]
    url = admin_url(station, "change", station.pk)
    data = form_data(operator_client.get(url))
    assert "password" not in data  # never rendered back
    assert operator_client.post(url, data).status_code == 302
    station.refresh_from_db()
    assert check_station_password(PASSWORD, station.password_hash)


def test_a_short_station_password_is_refused(operator_client, world):
    station = world["station"]
    url = admin_url(station, "change", station.pk)
    data = form_data(operator_client.get(url))
    data["password"] = "short"
    response = operator_client.post(url, data)
    assert response.status_code == 200
    assert "password" in response.context["adminform"].form.errors
    station.refresh_from_db()
    assert check_station_password(PASSWORD, station.password_hash)


def test_an_operator_adds_a_station_with_a_password(operator_client):
    response = operator_client.post(
        admin_url(ChargePoint, "add"),
        {
            "identity": "CP-NEW",
            "name": "New",
            "registration_status": "Accepted",
            "password": PASSWORD,
            "connectors-TOTAL_FORMS": "0",
            "connectors-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    station = ChargePoint.objects.get(identity="CP-NEW")
    assert check_station_password(PASSWORD, station.password_hash)


def test_a_malformed_identity_is_refused_in_the_admin(operator_client):
    response = operator_client.post(
        admin_url(ChargePoint, "add"),
        {
            "identity": "bad identity",
            "registration_status": "Accepted",
            "connectors-TOTAL_FORMS": "0",
            "connectors-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "identity" in response.context["adminform"].form.errors
    assert not ChargePoint.objects.filter(identity="bad identity").exists()


def test_the_reject_action_sets_registration_status(operator_client, world):
    response = operator_client.post(
        admin_url(ChargePoint, "changelist"),
        {"action": "reject_registration", "_selected_action": [world["station"].pk]},
    )
    assert response.status_code == 302
    world["station"].refresh_from_db()
    assert world["station"].registration_status == "Rejected"


def test_a_station_with_transactions_cannot_be_deleted(operator_client, world):
    station = world["station"]
    response = operator_client.get(admin_url(station, "delete", station.pk))
    assert response.status_code == 200
    assert response.context["protected"]
    operator_client.post(admin_url(station, "delete", station.pk), {"post": "yes"})
    assert ChargePoint.objects.filter(pk=station.pk).exists()


def test_a_station_without_transactions_can_be_deleted(operator_client):
    station = make_charge_point(identity="CP-GONE")
    make_connector(charge_point=station)
    MessageLog.objects.create(charge_point=station, identity="CP-GONE", direction="in", payload="")
    response = operator_client.post(admin_url(station, "delete", station.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not ChargePoint.objects.filter(pk=station.pk).exists()


# --- Other pages --------------------------------------------------------------------------


def test_register_selected_stations_is_one_step(operator_client, world):
    ConnectionAttempt.objects.create(identity="NEW1", reason="unknown")
    malformed = ConnectionAttempt.objects.create(identity="bad id", reason="malformed")
    response = operator_client.post(
        admin_url(ConnectionAttempt, "changelist"),
        {"action": "register_stations", "_selected_action": [world["attempt"].pk, malformed.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert ChargePoint.objects.filter(identity="NEW1").exists()
    assert not ChargePoint.objects.filter(identity="bad id").exists()
    assert not ConnectionAttempt.objects.filter(identity="NEW1").exists()
    text = " ".join(str(m) for m in response.context["messages"])
    assert "Registered 1 station(s): NEW1" in text and "bad id" in text


def test_support_cannot_register_stations(support_client, world):
    response = support_client.get(admin_url(ConnectionAttempt, "changelist"))
    assert "register_stations" not in response.content.decode()
    support_client.post(
        admin_url(ConnectionAttempt, "changelist"),
        {"action": "register_stations", "_selected_action": [world["attempt"].pk]},
    )
    assert not ChargePoint.objects.filter(identity="NEW1").exists()


def test_the_message_log_is_read_only(operator_client, world):
    message = world["message"]
    assert operator_client.get(admin_url(MessageLog, "add")).status_code == 403
    page = operator_client.get(admin_url(message, "change", message.pk))
    assert page.context["has_change_permission"] is False
    assert operator_client.post(admin_url(message, "change", message.pk), {}).status_code == 403
    # A frame that was not JSON is shown verbatim, escaped.
    raw = world["unparsable_message"]
    html = operator_client.get(admin_url(raw, "change", raw.pk)).content.decode()
    assert "not json &lt;b&gt;" in html


def test_the_transaction_page_shows_energy_and_links_its_meter_values(operator_client, world):
    tx = world["transaction"]
    html = operator_client.get(admin_url(tx, "change", tx.pk)).content.decode()
    assert "7.500 kWh" in html
    assert f"/admin/csms/metervalue/?transaction__id__exact={tx.pk}" in html
    assert operator_client.get(admin_url(tx, "delete", tx.pk)).status_code == 403


def test_id_tags_are_unique_case_insensitively_in_the_admin(operator_client, world):
    response = operator_client.post(
        admin_url(IdTag, "add"), {"id_tag": "card-1", "status": "Accepted"}
    )
    assert response.status_code == 200
    assert "case-insensitive" in str(response.context["adminform"].form.errors["id_tag"])
    assert IdTag.objects.filter(key="CARD-1").count() == 1


def test_an_operator_adds_an_id_tag(operator_client, world):
    response = operator_client.post(
        admin_url(IdTag, "add"),
        {
            "id_tag": " NEW-TAG ",
            "status": "Blocked",
            "parent": world["tag"].parent_id,
            "max_concurrent_sessions": 3,
        },
    )
    assert response.status_code == 302
    tag = IdTag.objects.get(key="NEW-TAG")
    assert (tag.id_tag, tag.status, tag.parent.id_tag) == ("NEW-TAG", "Blocked", "FLEET")
    assert tag.max_concurrent_sessions == 3


def test_a_new_id_tag_runs_one_session_at_a_time_unless_the_operator_says_otherwise(
    operator_client,
):
    page = operator_client.get(admin_url(IdTag, "add"))

    assert page.context["adminform"].form["max_concurrent_sessions"].initial == 1


def test_wallet_balances_and_ledger_cannot_be_edited(operator_client, world):
    wallet, entry = world["wallet"], world["journal_entry"]
    page = operator_client.get(admin_url(wallet, "change", wallet.pk))
    assert page.status_code == 200
    assert "balance" not in page.context["adminform"].form.fields
    assert operator_client.get(admin_url(JournalEntry, "add")).status_code == 403
    assert (
        operator_client.post(admin_url(entry, "delete", entry.pk), {"post": "yes"}).status_code
        == 403
    )


def test_the_online_filter_honours_the_heartbeat_interval(operator_client):
    make_charge_point(
        identity="CP-SILENT",
        connected=True,
        heartbeat_interval=30,
        last_seen=timezone.now() - timedelta(seconds=61),
    )
    response = operator_client.get(admin_url(ChargePoint, "changelist") + "?online=yes")
    assert response.context["cl"].result_count == 0


def test_operators_see_and_filter_stations_whose_clock_is_off(operator_client):
    make_charge_point(identity="CP-AHEAD", clock_offset_seconds=3600)
    make_charge_point(identity="CP-RIGHT", clock_offset_seconds=1)
    changelist = admin_url(ChargePoint, "changelist")

    off = operator_client.get(changelist + "?clock=off")
    ok = operator_client.get(changelist + "?clock=ok")

    assert [cp.identity for cp in off.context["cl"].result_list] == ["CP-AHEAD"]
    assert [cp.identity for cp in ok.context["cl"].result_list] == ["CP-RIGHT"]
    assert "clock off" in off.content.decode().lower()
    page = operator_client.get(
        admin_url(ChargePoint, "change", off.context["cl"].result_list[0].pk)
    )
    assert "3600" in page.content.decode()


def test_command_actions_are_offered_to_support_staff(rf, support):
    request = rf.get("/admin/")
    request.user = support
    assert "send_command_action" in admin.site._registry[ChargePoint].get_actions(request)
    assert "remote_stop_action" in admin.site._registry[Transaction].get_actions(request)
    # Support staff cannot change registration, so those actions are not offered to them.
    assert "reject_registration" not in admin.site._registry[ChargePoint].get_actions(request)


def test_the_gateway_registers_the_core_admins_with_its_command_actions(rf):
    """csms.admin never imports the gateway: ocpp_gateway.admin registers subclasses of the
    core's station and transaction admins in their place, adding its actions after theirs."""
    request = rf.get("/admin/")
    request.user = make_user(username="root", is_staff=True, is_superuser=True)
    station_admin = admin.site._registry[ChargePoint]
    transaction_admin = admin.site._registry[Transaction]

    assert type(station_admin) is GatewayChargePointAdmin
    assert issubclass(GatewayChargePointAdmin, ChargePointAdmin)
    assert type(transaction_admin) is GatewayTransactionAdmin
    assert issubclass(GatewayTransactionAdmin, TransactionAdmin)
    actions = station_admin.get_actions(request)
    assert [(name, label) for name, (_, _, label) in actions.items()] == [
        ("delete_selected", "Delete selected %(verbose_name_plural)s"),
        ("accept_registration", "Accept selected stations (registration)"),
        ("reject_registration", "Reject selected stations (registration)"),
        ("send_command_action", "Send an OCPP command to the selected stations"),
        # An app's, through csms.admin.stations.charge_point_admin_action_register (wallet).
        ("print_qr_codes", "Print QR codes of the connectors"),
    ]
    assert actions["send_command_action"][0] is send_command_action
    # Charging history is never deleted, so the remote stop is the transactions' only action.
    assert list(transaction_admin.get_actions(request)) == ["remote_stop_action"]
    assert transaction_admin.get_actions(request)["remote_stop_action"][0] is remote_stop_action


def test_the_station_changelist_offers_the_send_command_action(world):
    root = make_user(username="root", is_staff=True, is_superuser=True)

    response = client_for(root).get(admin_url(ChargePoint, "changelist"))

    assert response.status_code == 200
    choices = dict(response.context["action_form"].fields["action"].choices)
    assert choices["send_command_action"] == "Send an OCPP command to the selected stations"
    assert 'value="send_command_action"' in response.content.decode()
