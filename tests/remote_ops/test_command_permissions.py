"""Who may send which OCPP operation: operators everything, support staff the operational ones
(a Soft reset, not a Hard one), anyone else nothing. One policy (csms.permissions), enforced in
the one send path, so the API, the admin, Celery tasks and management commands agree; the
README's "Who may send what" table states it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils.html import escape

from csms.models import ChargePoint, Command
from csms.permissions import OPERATORS, SUPPORT, SUPPORT_COMMANDS
from ocpp_gateway import calls
from ocpp_gateway.operations import EXAMPLE_PAYLOADS
from ocpp_gateway.schemas import CENTRAL_ACTIONS
from ocpp_gateway.tasks import command_send_task
from tests.factories import make_charge_point, make_user
from tests.remote_ops.conftest import api_post, command_url

# The API waits for the station outside any transaction, as daphne's request threads do.
pytestmark = pytest.mark.django_db(transaction=True)
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()

# Support staff may send these (Reset in its Soft form only); everything else is operators'.
SUPPORT_SENDS = {
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "UnlockConnector",
    "ChangeAvailability",
    "Reset",
    "TriggerMessage",
    "GetConfiguration",
    "GetDiagnostics",
    "ReserveNow",
    "CancelReservation",
    "GetLocalListVersion",
    "GetCompositeSchedule",
    "ClearCache",
}
OPERATORS_ONLY = sorted(CENTRAL_ACTIONS - SUPPORT_SENDS)


def example(action: str) -> dict:
    payload = dict(EXAMPLE_PAYLOADS[action][0][1])
    if action == "Reset":
        payload["type"] = "Soft"
    return payload


def post(client, action: str, payload: dict) -> object:
    return client.post(command_url("CP1"), {"action": action, "payload": payload}, format="json")


@pytest.fixture
def offline_station(db):
    """Registered and Accepted, not connected: a command its issuer may send reaches the online
    check (409 station_offline); one they may not is refused before (403)."""
    return make_charge_point(identity="CP1")


# --- The API ----------------------------------------------------------------------------------


@pytest.mark.parametrize("action", sorted(CENTRAL_ACTIONS))
def test_it_lets_operators_send_every_operation(operator_api, offline_station, action):
    response = post(operator_api, action, example(action))

    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "station_offline"


@pytest.mark.parametrize("action", sorted(SUPPORT_SENDS))
def test_it_lets_support_send_the_operational_operations(support_api, offline_station, action):
    response = post(support_api, action, example(action))

    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "station_offline"


@pytest.mark.parametrize("action", OPERATORS_ONLY)
def test_it_refuses_support_the_operators_operations_with_a_403_that_says_why(
    support_api, offline_station, action
):
    response = post(support_api, action, example(action))

    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "permission_denied"
    assert body["detail"] == f"Support staff may not send {action}: it is reserved to operators."
    assert Command.objects.count() == 0


def test_it_lets_support_reset_softly_but_not_hard(support_api, operator_api, offline_station):
    hard = post(support_api, "Reset", {"type": "Hard"})

    assert hard.status_code == 403
    assert hard.json()["detail"] == (
        'Support staff may send Reset of type "Soft" only; anything else is reserved to operators.'
    )
    assert post(support_api, "Reset", {"type": "Soft"}).status_code == 409
    assert post(operator_api, "Reset", {"type": "Hard"}).status_code == 409


def test_it_refuses_support_before_looking_at_the_payload(support_api, offline_station):
    # A refused caller is told only that: not what else is wrong with the call.
    response = post(support_api, "UpdateFirmware", {"location": 1})

    assert response.status_code == 403


def test_it_refuses_drivers_and_anonymous_callers_every_operation(
    driver_api, anonymous_api, offline_station
):
    assert post(driver_api, "ClearCache", {}).status_code == 403
    assert post(anonymous_api, "ClearCache", {}).status_code == 401


async def test_it_sends_nothing_to_the_station_when_support_asks_for_a_hard_reset(
    online_station, support_api
):
    station = await online_station("CP1")

    response = await api_post(
        support_api, command_url("CP1"), {"action": "Reset", "payload": {"type": "Hard"}}
    )

    assert response.status_code == 403
    assert await station.receive_nothing(0.2)
    assert await Command.objects.acount() == 0


# --- The other paths: admin, Celery task, management command ----------------------------------


@pytest.fixture
def support_admin(db) -> Client:
    Group.objects.get_or_create(name=OPERATORS)
    support, _ = Group.objects.get_or_create(name=SUPPORT)
    support.permissions.add(
        *Permission.objects.filter(content_type__app_label="csms", codename__startswith="view_")
    )
    client = Client()
    client.force_login(make_user(username="sam-admin", role="support"))
    return client


def admin_send(client: Client, station: ChargePoint, action: str, payload: str) -> object:
    return client.post(
        "/admin/csms/chargepoint/",
        {
            "action": "send_command_action",
            "_selected_action": [station.pk],
            "ocpp_action": action,
            "payload": payload,
            "apply": "Send",
        },
    )


def test_it_offers_support_only_their_operations_in_the_admin(support_admin, offline_station):
    page = support_admin.post(
        "/admin/csms/chargepoint/",
        {"action": "send_command_action", "_selected_action": [offline_station.pk]},
    )

    offered = set(re.findall(r'<option value="(\w+)"', page.content.decode()))
    assert offered == SUPPORT_SENDS


@pytest.mark.parametrize(
    ("action", "payload", "reason"),
    [
        (
            "UpdateFirmware",
            '{"location": "https://fw.example.com/x.bin", "retrieveDate": "2030-01-01T00:00:00Z"}',
            "Support staff may not send UpdateFirmware",
        ),
        ("Reset", '{"type": "Hard"}', 'Support staff may send Reset of type "Soft" only'),
    ],
)
def test_it_tells_support_in_the_admin_what_they_may_not_send(
    support_admin, offline_station, action, payload, reason
):
    page = admin_send(support_admin, offline_station, action, payload)

    assert page.status_code == 200
    assert "ocpp_gateway/send_command.html" in [t.name for t in page.templates]
    assert reason in " ".join(page.context["form"].non_field_errors())
    assert escape(reason) in page.content.decode()
    assert Command.objects.count() == 0


def test_it_refuses_a_celery_task_issued_for_support(offline_station, support):
    with pytest.raises(calls.CommandForbidden, match="may not send UpdateFirmware"):
        command_send_task(
            offline_station.pk,
            "UpdateFirmware",
            {"location": "https://fw.example.com/x.bin", "retrieveDate": "2030-01-01T00:00:00Z"},
            support.pk,
        )
    assert Command.objects.count() == 0


def test_it_refuses_a_management_command_run_as_support(offline_station, support):
    with pytest.raises(CommandError, match='Reset of type "Soft" only'):
        call_command("ocpp_command", "CP1", "Reset", '{"type": "Hard"}', "--user", support.username)


def test_it_lets_the_platform_itself_send_everything(offline_station):
    # No issuer: a scheduled job, or a management command run by whoever has a shell.
    with pytest.raises(calls.StationOffline):
        calls.command_send(charge_point=offline_station, action="Reset", payload={"type": "Hard"})


# --- The README -------------------------------------------------------------------------------


def test_the_readme_table_says_who_may_send_what():
    section = README[README.index("### Who may send what") :]
    rows = {}
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            cells = [c.strip().replace("`", "") for c in line.strip("|").split("|")]
            if cells[0] not in ("Operation", "") and not set(cells[0]) <= set("-"):
                rows[cells[0]] = cells[1:]
        elif line.startswith("#"):
            break

    assert set(rows) == set(CENTRAL_ACTIONS)
    assert all(cells[0] == "yes" for cells in rows.values())
    assert {a for a, cells in rows.items() if cells[1] != "no"} == set(SUPPORT_COMMANDS)
    assert rows["Reset"][1] == "Soft only"
    assert set(SUPPORT_COMMANDS) == SUPPORT_SENDS
