"""Grants the role groups (csms 0002) the order models' permissions, as billing 0003 does for
the tariff models: operators everything, support staff view only. The admin shows orders
read-only to both whatever they hold (billing.admin.orders)."""

from django.db import migrations

NEW_MODELS = ["sessionpricing", "order", "orderline", "billingfailure"]


def grant_roles(apps, schema_editor):
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
        ("billing", "0005_orders"),
        ("csms", "0002_roles"),
    ]

    operations = [migrations.RunPython(grant_roles, migrations.RunPython.noop)]
