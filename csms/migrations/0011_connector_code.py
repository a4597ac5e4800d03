"""Connector codes: each connector gets a unique code a driver types or scans (its QR code).
Added in three steps so existing connectors get distinct codes, not one shared default."""

from __future__ import annotations

from django.db import migrations, models

import csms.models.stations


def fill_codes(apps, schema_editor):
    Connector = apps.get_model("csms", "Connector")
    taken: set[str] = set()
    for connector in Connector.objects.filter(code__isnull=True).only("pk"):
        code = csms.models.stations.connector_code_new()
        while code in taken:
            code = csms.models.stations.connector_code_new()
        taken.add(code)
        Connector.objects.filter(pk=connector.pk).update(code=code)


class Migration(migrations.Migration):
    dependencies = [("csms", "0010_transaction_energy_settlement")]

    operations = [
        migrations.AddField(
            model_name="connector",
            name="code",
            field=models.CharField(max_length=16, null=True),
        ),
        migrations.RunPython(fill_codes, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="connector",
            name="code",
            field=models.CharField(
                default=csms.models.stations.connector_code_new,
                help_text="What a driver types, or scans from the connector's QR code, to "
                "charge here.",
                max_length=16,
                unique=True,
            ),
        ),
    ]
