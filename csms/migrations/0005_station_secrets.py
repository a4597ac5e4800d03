"""Station secrets (#8): the pending-password slot of an AuthorizationKey change, and masking
what earlier versions stored in clear: AuthorizationKey values and credentials in firmware /
diagnostics URLs, in commands, their records, the message log and configuration snapshots.
The masking is one-way: the originals are not kept anywhere."""

import json

from django.db import migrations, models
from django.db.models import Q

# Pure functions on plain values, stable in meaning: masking again what is masked is a no-op.
from csms.redaction import (
    REQUEST_MASKS,
    RESPONSE_MASKS,
    configuration_value_masked,
    url_credentials_masked,
)

CHUNK = 500


def _mask_commands(Command):
    changed = []
    actions = set(REQUEST_MASKS) | set(RESPONSE_MASKS)
    for command in Command.objects.filter(action__in=actions).iterator(chunk_size=CHUNK):
        request, response = command.request, command.response
        if command.action in REQUEST_MASKS and isinstance(request, dict):
            command.request = REQUEST_MASKS[command.action](request)
        if command.action in RESPONSE_MASKS and isinstance(response, dict):
            command.response = RESPONSE_MASKS[command.action](response)
        if (command.request, command.response) != (request, response):
            changed.append(command)
    Command.objects.bulk_update(changed, ["request", "response"], batch_size=CHUNK)


def _mask_locations(Model):
    changed = []
    suspects = Model.objects.filter(Q(location__contains="@") | Q(location__contains="?"))
    for record in suspects.iterator(chunk_size=CHUNK):
        masked = url_credentials_masked(record.location)
        if masked != record.location:
            record.location = masked
            changed.append(record)
    Model.objects.bulk_update(changed, ["location"], batch_size=CHUNK)


def _masked_frame(action, text):
    try:
        frame = json.loads(text)
    except ValueError:
        return text
    if not isinstance(frame, list):
        return text
    if frame[:1] == [2] and len(frame) == 4 and isinstance(frame[3], dict):
        mask, index = REQUEST_MASKS.get(action), 3
    elif frame[:1] == [3] and len(frame) == 3 and isinstance(frame[2], dict):
        mask, index = RESPONSE_MASKS.get(action), 2
    else:
        return text
    if mask is None:
        return text
    masked = mask(frame[index])
    if masked is frame[index]:
        return text
    frame[index] = masked
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def _mask_message_log(MessageLog):
    changed = []
    actions = set(REQUEST_MASKS) | set(RESPONSE_MASKS)
    rows = MessageLog.objects.filter(action__in=actions).only("id", "action", "payload")
    for row in rows.iterator(chunk_size=CHUNK):
        masked = _masked_frame(row.action, row.payload)
        if masked != row.payload:
            row.payload = masked
            changed.append(row)
    MessageLog.objects.bulk_update(changed, ["payload"], batch_size=CHUNK)


def _mask_snapshots(ChargePoint):
    changed = []
    for charge_point in ChargePoint.objects.only("id", "configuration").iterator(chunk_size=CHUNK):
        snapshot = charge_point.configuration or {}
        masked = {
            key: {**entry, "value": configuration_value_masked(key, entry.get("value"))}
            if isinstance(entry, dict)
            else entry
            for key, entry in snapshot.items()
        }
        if masked != snapshot:
            charge_point.configuration = masked
            changed.append(charge_point)
    ChargePoint.objects.bulk_update(changed, ["configuration"], batch_size=CHUNK)


def mask_stored_secrets(apps, schema_editor):
    _mask_commands(apps.get_model("csms", "Command"))
    _mask_locations(apps.get_model("csms", "FirmwareUpdate"))
    _mask_locations(apps.get_model("csms", "DiagnosticsRequest"))
    _mask_message_log(apps.get_model("csms", "MessageLog"))
    _mask_snapshots(apps.get_model("csms", "ChargePoint"))


class Migration(migrations.Migration):
    dependencies = [
        ("csms", "0004_id_tag_max_concurrent_sessions"),
    ]

    operations = [
        migrations.AddField(
            model_name="chargepoint",
            name="password_hash_next",
            field=models.CharField(blank=True, editable=False, max_length=200),
        ),
        migrations.AddField(
            model_name="command",
            name="new_password_hash",
            field=models.CharField(blank=True, editable=False, max_length=200),
        ),
        migrations.RunPython(mask_stored_secrets, migrations.RunPython.noop, elidable=True),
    ]
