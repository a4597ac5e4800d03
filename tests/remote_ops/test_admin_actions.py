"""Support staff send operations from the Django admin, and browse the command log."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group, Permission
from django.test import Client

from csms.models import ChargePoint, Command, Reservation
from csms.permissions import OPERATORS, SUPPORT
from tests.factories import make_reservation, make_transaction, make_user
from tests.remote_ops.conftest import answer_call, in_worker_thread

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async

CHANGELIST = "/admin/csms/chargepoint/"


@pytest.fixture(autouse=True)
def _role_permissions(transactional_db):
    """The role groups get their admin permissions from data migration csms 0002, which a
    transactional test's flush removes (permissions themselves are recreated): grant them again
    as that migration does."""
    domain = Permission.objects.filter(content_type__app_label__in=("csms", "billing", "wallet"))
    operators, _ = Group.objects.get_or_create(name=OPERATORS)
    operators.permissions.add(*domain)
    support, _ = Group.objects.get_or_create(name=SUPPORT)
    support.permissions.add(*domain.filter(codename__startswith="view_"))
    support.permissions.add(*domain.filter(codename="add_command"))


def _logged_in(username: str, role: str | None) -> Client:
    client = Client()
    client.force_login(make_user(username=username, role=role, is_staff=True))
    return client


async def _admin_client(role: str | None = "support") -> Client:
    return await db(_logged_in)(f"{role or 'staff'}-admin", role)


async def test_support_picks_an_operation_for_the_selected_stations(online_station):
    await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")
    client = await _admin_client()

    page = await in_worker_thread(
        client.post, CHANGELIST, {"action": "send_command_action", "_selected_action": [cp.pk]}
    )

    assert page.status_code == 200
    assert "ocpp_gateway/send_command.html" in [t.name for t in page.templates]
    html = page.content.decode()
    assert 'name="ocpp_action"' in html
    assert "CP1" in html
    # Every operation comes with an example payload for the form to prefill.
    assert set(page.context["examples"]) >= {"RemoteStartTransaction", "SendLocalList", "Reset"}


async def test_support_sends_to_several_stations_and_sees_each_answer(online_station):
    station1 = await online_station("CP1")
    station2 = await online_station("CP2")
    pks = [pk async for pk in ChargePoint.objects.order_by("identity").values_list("pk", flat=True)]
    client = await _admin_client()

    sending = asyncio.ensure_future(
        in_worker_thread(
            client.post,
            CHANGELIST,
            {
                "action": "send_command_action",
                "_selected_action": pks,
                "ocpp_action": "Reset",
                "payload": '{"type": "Soft"}',
                "timeout": "3",
                "apply": "Send",
            },
        )
    )
    frame1 = await answer_call(station1, {"status": "Accepted"}, action="Reset")
    frame2 = await answer_call(station2, {"status": "Rejected"}, action="Reset")
    page = await sending

    assert page.status_code == 200
    assert frame1[3] == frame2[3] == {"type": "Soft"}
    commands = [c async for c in Command.objects.select_related("charge_point", "issued_by")]
    assert {(c.charge_point.identity, c.response["status"]) for c in commands} == {
        ("CP1", "Accepted"),
        ("CP2", "Rejected"),
    }
    assert {(c.source, c.issued_by.username) for c in commands} == {("admin", "support-admin")}
    html = page.content.decode()
    for command in commands:
        assert f"/admin/csms/command/{command.pk}/change/" in html
    assert "Rejected" in html and "Accepted" in html

    # The log is browsable per station and per issuer, and each record shows the answer.
    detail = await in_worker_thread(client.get, f"/admin/csms/command/{commands[0].pk}/change/")
    assert detail.status_code == 200
    assert commands[0].response["status"] in detail.content.decode()
    cp1 = next(c for c in commands if c.charge_point.identity == "CP1").charge_point
    per_station = await in_worker_thread(
        client.get, f"/admin/csms/command/?charge_point__id__exact={cp1.pk}"
    )
    assert per_station.status_code == 200
    assert per_station.context["cl"].result_count == 1
    per_issuer = await in_worker_thread(
        client.get, f"/admin/csms/command/?issued_by__id__exact={commands[0].issued_by_id}"
    )
    assert per_issuer.context["cl"].result_count == 2


async def test_an_invalid_payload_shows_the_form_again_and_sends_nothing(online_station):
    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")
    client = await _admin_client()

    page = await in_worker_thread(
        client.post,
        CHANGELIST,
        {
            "action": "send_command_action",
            "_selected_action": [cp.pk],
            "ocpp_action": "Reset",
            "payload": "{not json",
            "apply": "Send",
        },
    )

    assert page.status_code == 200
    assert "Not valid JSON" in page.content.decode()
    assert await station.receive_nothing(0.2)
    assert await Command.objects.acount() == 0


async def test_a_schema_violation_is_reported_per_station(online_station):
    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")
    client = await _admin_client()

    page = await in_worker_thread(
        client.post,
        CHANGELIST,
        {
            "action": "send_command_action",
            "_selected_action": [cp.pk],
            "ocpp_action": "ChangeAvailability",
            "payload": '{"connectorId": 1, "type": "Sideways"}',
            "apply": "Send",
        },
    )

    assert page.status_code == 200
    assert "ChangeAvailability payload is not valid" in page.content.decode()
    assert await station.receive_nothing(0.2)


async def test_staff_without_a_role_cannot_send(online_station):
    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")
    client = await _admin_client(role=None)

    response = await in_worker_thread(
        client.post,
        CHANGELIST,
        {
            "action": "send_command_action",
            "_selected_action": [cp.pk],
            "ocpp_action": "Reset",
            "payload": '{"type": "Soft"}',
            "apply": "Send",
        },
    )

    assert response.status_code in (302, 403)
    assert await station.receive_nothing(0.2)
    assert await Command.objects.acount() == 0


async def test_remote_stop_from_the_transactions_page(online_station):
    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")
    tx = await db(make_transaction)(charge_point=cp)
    client = await _admin_client()

    stopping = asyncio.ensure_future(
        in_worker_thread(
            client.post,
            "/admin/csms/transaction/",
            {"action": "remote_stop_action", "_selected_action": [tx.pk]},
        )
    )
    frame = await answer_call(station, {"status": "Accepted"}, action="RemoteStopTransaction")
    page = await stopping

    assert frame[3] == {"transactionId": tx.pk}
    assert page.status_code == 200
    command = await Command.objects.aget()
    assert (command.state, command.source) == (Command.State.ANSWERED, "admin")


async def test_cancel_reservations_from_the_reservations_page(online_station):

    station = await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")
    reservation = await database_sync_to_async(make_reservation)(charge_point=cp)
    client = await _admin_client()

    cancelling = asyncio.ensure_future(
        in_worker_thread(
            client.post,
            "/admin/csms/reservation/",
            {"action": "cancel_reservations", "_selected_action": [reservation.pk]},
        )
    )
    await answer_call(station, {"status": "Accepted"}, action="CancelReservation")
    page = await cancelling

    assert page.status_code == 200
    await reservation.arefresh_from_db()
    assert reservation.state == Reservation.State.CANCELLED


async def test_support_browses_what_commands_left_behind(online_station):
    from datetime import timedelta

    from django.utils import timezone

    from csms.models import ChargingProfile, CompositeSchedule, DiagnosticsRequest, FirmwareUpdate

    await online_station("CP1")
    cp = await ChargePoint.objects.aget(identity="CP1")
    command = await Command.objects.acreate(
        charge_point=cp, action="GetCompositeSchedule", request={"connectorId": 1, "duration": 60}
    )
    records = [
        await Reservation.objects.acreate(
            charge_point=cp, connector_id=1, id_tag="T", expiry_date=timezone.now()
        ),
        await ChargingProfile.objects.acreate(
            charge_point=cp,
            connector_id=1,
            profile_id=1,
            stack_level=0,
            purpose="TxDefaultProfile",
            kind="Absolute",
            charging_rate_unit="A",
            schedule_periods=[{"startPeriod": 0, "limit": 16.0}],
            command=command,
        ),
        await CompositeSchedule.objects.acreate(
            charge_point=cp,
            connector_id=1,
            status="Accepted",
            charging_schedule={"chargingRateUnit": "W", "chargingSchedulePeriod": []},
            command=command,
        ),
        await FirmwareUpdate.objects.acreate(
            charge_point=cp,
            location="https://fw.example.com/x.bin",
            retrieve_date=timezone.now() + timedelta(hours=1),
        ),
        await DiagnosticsRequest.objects.acreate(
            charge_point=cp, location="ftp://diag.example.com/", file_name="d.zip"
        ),
        command,
    ]
    client = await _admin_client()

    for record in records:
        name = record._meta.model_name
        listing = await in_worker_thread(client.get, f"/admin/csms/{name}/")
        detail = await in_worker_thread(client.get, f"/admin/csms/{name}/{record.pk}/change/")
        assert listing.status_code == 200, name
        assert detail.status_code == 200, name
        # The log and what it left behind are records: nobody edits them in the admin.
        assert b'name="_save"' not in detail.content, name
