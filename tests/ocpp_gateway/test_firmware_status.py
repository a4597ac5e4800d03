"""FirmwareStatusNotification and DiagnosticsStatusNotification: the station's state, its
history, and the progress of the request under way."""

from __future__ import annotations

import pytest
from django.utils import timezone

from csms.models import (
    ChargePoint,
    DiagnosticsRequest,
    DiagnosticsStatusEvent,
    FirmwareStatusEvent,
    FirmwareUpdate,
)
from tests.factories import make_charge_point
from tests.ocpp_gateway.support import assert_result, db, send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def station(connect_station):
    await db(make_charge_point)(identity="CP1")
    return await connect_station("CP1")


async def test_diagnostics_status_is_stored_as_state_and_history(station):
    answer = await send(station, "diagnostics_status_notification", status="Uploading")
    assert assert_result(answer) == {}
    assert_result(await send(station, "diagnostics_status_notification"))

    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.diagnostics_status == "Uploaded"
    assert cp.diagnostics_status_at is not None
    history = [e.status async for e in DiagnosticsStatusEvent.objects.order_by("id")]
    assert history == ["Uploading", "Uploaded"]


async def test_firmware_status_is_stored_as_state_and_history(station):
    for status in ["Downloading", "Downloaded", "Installing", "Installed"]:
        answer = await send(station, "firmware_status_notification", status=status)
        assert assert_result(answer) == {}

    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.firmware_status == "Installed"
    assert cp.firmware_status_at is not None
    history = [e.status async for e in FirmwareStatusEvent.objects.order_by("id")]
    assert history == ["Downloading", "Downloaded", "Installing", "Installed"]


async def test_firmware_progress_is_recorded_on_the_update_in_progress(station):
    cp = await ChargePoint.objects.aget(identity="CP1")
    update = await FirmwareUpdate.objects.acreate(
        charge_point=cp, location="https://fw.example.com/v2.bin", retrieve_date=timezone.now()
    )

    for status in ["Downloading", "Downloaded", "Installing", "Installed"]:
        assert_result(await send(station, "firmware_status_notification", status=status))

    assert (await FirmwareUpdate.objects.aget(pk=update.pk)).status == "Installed"


async def test_later_notifications_do_not_rewrite_a_finished_firmware_update(station):
    # A station reports Idle (e.g. on TriggerMessage) long after its last update finished.
    cp = await ChargePoint.objects.aget(identity="CP1")
    done = await FirmwareUpdate.objects.acreate(
        charge_point=cp,
        location="https://fw.example.com/v2.bin",
        retrieve_date=timezone.now(),
        status="Installed",
    )

    assert_result(await send(station, "firmware_status_notification", status="Idle"))
    assert_result(await send(station, "firmware_status_notification", status="Downloading"))

    assert (await FirmwareUpdate.objects.aget(pk=done.pk)).status == "Installed"
    cp = await ChargePoint.objects.aget(identity="CP1")
    assert cp.firmware_status == "Downloading"  # the station's own state is always current


async def test_later_notifications_do_not_rewrite_a_finished_diagnostics_request(station):
    cp = await ChargePoint.objects.aget(identity="CP1")
    done = await DiagnosticsRequest.objects.acreate(
        charge_point=cp, location="ftp://logs.example.com/", status="Uploaded"
    )
    running = await DiagnosticsRequest.objects.acreate(
        charge_point=await db(make_charge_point)(identity="CP2"),
        location="ftp://logs.example.com/",
    )

    assert_result(await send(station, "diagnostics_status_notification", status="Idle"))
    # A status that would move an open request on: still not the finished one, nor another
    # station's.
    assert_result(await send(station, "diagnostics_status_notification", status="Uploading"))

    assert (await DiagnosticsRequest.objects.aget(pk=done.pk)).status == "Uploaded"
    assert (await DiagnosticsRequest.objects.aget(pk=running.pk)).status == ""
    assert (await ChargePoint.objects.aget(identity="CP1")).diagnostics_status == "Uploading"
