"""Masking secrets (csms.redaction): credentials in URLs, secret configuration keys, and the
migration that masks what earlier versions stored in clear."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from django.apps import apps
from django.utils import timezone

from csms.models import ChargePoint, Command, DiagnosticsRequest, FirmwareUpdate, MessageLog
from csms.redaction import (
    configuration_change_masked,
    configuration_report_masked,
    url_credentials_masked,
)
from tests.factories import make_charge_point

KEY = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    "url,shown",
    [
        ("ftp://user:pass@host/fw.bin", "ftp://user:***@host/fw.bin"),
        ("ftp://user:p%40ss@host:2121/d/", "ftp://user:***@host:2121/d/"),
        ("ftp://user@host/fw.bin", "ftp://user@host/fw.bin"),  # a user name alone opens nothing
        (
            "https://host/fw.bin?X-Amz-Signature=abc&v=2",
            "https://host/fw.bin?X-Amz-Signature=***&v=2",
        ),
        ("https://host/fw.bin?token=abc", "https://host/fw.bin?token=***"),
        ("https://host/fw.bin?v=2", "https://host/fw.bin?v=2"),
        ("https://host/fw.bin", "https://host/fw.bin"),
        ("ftp://u:p@[::1/broken", "ftp://***@[::1/broken"),  # unparseable: all user info goes
    ],
)
def test_it_masks_credentials_in_a_url(url, shown):
    assert url_credentials_masked(url) == shown


def test_it_masks_only_secret_configuration_keys_whatever_their_case():
    assert configuration_change_masked({"key": "authorizationkey", "value": KEY}) == {
        "key": "authorizationkey",
        "value": "***",
    }
    assert configuration_change_masked({"key": "HeartbeatInterval", "value": "60"}) == {
        "key": "HeartbeatInterval",
        "value": "60",
    }
    report = {
        "configurationKey": [
            {"key": "AuthorizationKey", "readonly": False, "value": KEY},
            {"key": "AuthorizationKey", "readonly": False},  # as a conforming station reports it
            {"key": "HeartbeatInterval", "readonly": False, "value": "60"},
        ]
    }
    assert [
        item.get("value") for item in configuration_report_masked(report)["configurationKey"]
    ] == [
        "***",
        None,
        "60",
    ]


def _migration_masking():
    """The migration's function, wherever the migration's number ends up."""
    for path in sorted((Path(__file__).parents[2] / "csms" / "migrations").glob("0*.py")):
        module = importlib.import_module(f"csms.migrations.{path.stem}")
        if hasattr(module, "mask_stored_secrets"):
            return module.mask_stored_secrets
    raise AssertionError("no migration masks stored secrets")


@pytest.mark.django_db
def test_the_migration_masks_what_earlier_versions_stored_in_clear():
    station = make_charge_point(
        identity="CP1",
        configuration={
            "AuthorizationKey": {"value": KEY, "readonly": False},
            "HeartbeatInterval": {"value": "60", "readonly": False},
        },
    )
    url = "ftp://user:s3cret@host/fw.bin"
    change = Command.objects.create(
        charge_point=station,
        action="ChangeConfiguration",
        request={"key": "AuthorizationKey", "value": KEY},
    )
    update = Command.objects.create(
        charge_point=station,
        action="UpdateFirmware",
        request={"location": url, "retrieveDate": "2030-01-01T00:00:00Z"},
    )
    FirmwareUpdate.objects.create(
        charge_point=station, location=url, retrieve_date=timezone.now(), command=update
    )
    DiagnosticsRequest.objects.create(charge_point=station, location=url)
    call = [2, str(change.pk), "ChangeConfiguration", {"key": "AuthorizationKey", "value": KEY}]
    MessageLog.objects.create(
        charge_point=station,
        identity="CP1",
        direction="out",
        message_type=2,
        action="ChangeConfiguration",
        message_id=str(change.pk),
        payload=json.dumps(call),
    )
    untouched = MessageLog.objects.create(
        charge_point=station, identity="CP1", direction="in", payload="not json"
    )

    _migration_masking()(apps, None)

    change.refresh_from_db()
    assert change.request == {"key": "AuthorizationKey", "value": "***"}
    update.refresh_from_db()
    assert update.request["location"] == "ftp://user:***@host/fw.bin"
    assert FirmwareUpdate.objects.get().location == "ftp://user:***@host/fw.bin"
    assert DiagnosticsRequest.objects.get().location == "ftp://user:***@host/fw.bin"
    assert json.loads(MessageLog.objects.get(message_type=2).payload)[3]["value"] == "***"
    assert MessageLog.objects.get(pk=untouched.pk).payload == "not json"
    station.refresh_from_db()
    assert station.configuration["AuthorizationKey"]["value"] == "***"
    assert station.configuration["HeartbeatInterval"]["value"] == "60"
    dumped = json.dumps(
        [*Command.objects.values(), *MessageLog.objects.values(), *ChargePoint.objects.values()],
        default=str,
    )
    assert KEY not in dumped and "s3cret" not in dumped
