"""Move the three-field tariffs into versions, stations' tariffs into assignments, and grant
the role groups (csms 0002) the new billing models' permissions.

- Each old tariff becomes version 1 with one unrestricted element: ENERGY price_per_kwh,
  TIME price_per_hour, FLAT session_fee, each only when not zero (a zero component would
  add nothing), and ENERGY 0 when all three are zero (OCPI needs one component). The old
  model had no VAT: ``vat`` stays empty, "not given", not 0.
- ``ChargePoint.tariff`` becomes a station-level TariffAssignment with no window (csms 0009
  then drops the column).
- Several old tariffs marked default: the oldest stays default (0004 adds the constraint).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import migrations

NEW_MODELS = ("site", "tariffversion", "tariffelement", "pricecomponent", "tariffassignment")


def forwards(apps, schema_editor):
    Tariff = apps.get_model("billing", "Tariff")
    TariffVersion = apps.get_model("billing", "TariffVersion")
    TariffElement = apps.get_model("billing", "TariffElement")
    PriceComponent = apps.get_model("billing", "PriceComponent")
    TariffAssignment = apps.get_model("billing", "TariffAssignment")
    ChargePoint = apps.get_model("csms", "ChargePoint")

    for tariff in Tariff.objects.order_by("pk"):
        version = TariffVersion.objects.create(
            tariff=tariff, number=1, created_at=tariff.created_at
        )
        element = TariffElement.objects.create(version=version, position=0)
        components = [
            (kind, price)
            for kind, price in (
                ("ENERGY", tariff.price_per_kwh),
                ("TIME", tariff.price_per_hour),
                ("FLAT", tariff.session_fee),
            )
            if price
        ] or [("ENERGY", Decimal("0"))]
        PriceComponent.objects.bulk_create(
            PriceComponent(element=element, position=i, type=kind, price=price, step_size=1)
            for i, (kind, price) in enumerate(components)
        )

    defaults = list(Tariff.objects.filter(is_default=True).order_by("created_at", "pk"))
    for extra in defaults[1:]:
        Tariff.objects.filter(pk=extra.pk).update(is_default=False)

    for charge_point in ChargePoint.objects.filter(tariff__isnull=False):
        TariffAssignment.objects.create(tariff_id=charge_point.tariff_id, charge_point=charge_point)


def backwards(apps, schema_editor):
    """Version 1's unrestricted components back into the three fields (newer versions and
    restricted elements have no old form and are dropped with the tables)."""
    Tariff = apps.get_model("billing", "Tariff")
    PriceComponent = apps.get_model("billing", "PriceComponent")
    TariffAssignment = apps.get_model("billing", "TariffAssignment")
    ChargePoint = apps.get_model("csms", "ChargePoint")
    fields = {"ENERGY": "price_per_kwh", "TIME": "price_per_hour", "FLAT": "session_fee"}
    for tariff in Tariff.objects.all():
        values = {}
        for component in PriceComponent.objects.filter(
            element__version__tariff=tariff, element__version__number=1, element__position=0
        ):
            if component.type in fields:
                values.setdefault(fields[component.type], component.price)
        Tariff.objects.filter(pk=tariff.pk).update(**values)
    for assignment in TariffAssignment.objects.filter(
        charge_point__isnull=False, connector_id__isnull=True
    ).order_by("pk"):
        ChargePoint.objects.filter(pk=assignment.charge_point_id).update(
            tariff_id=assignment.tariff_id
        )


def grant_roles(apps, schema_editor):
    """As csms 0002 does for the models that existed then: operators everything on the new
    models, support staff view only."""
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("billing")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    new = Permission.objects.filter(
        content_type__app_label="billing", content_type__model__in=NEW_MODELS
    )
    operators, _ = Group.objects.get_or_create(name="operators")
    support, _ = Group.objects.get_or_create(name="support")
    operators.permissions.add(*new)
    support.permissions.add(*new.filter(codename__startswith="view_"))


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_sites_and_tariff_versions"),
        ("csms", "0008_gateway_processes"),
        ("csms", "0002_roles"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
