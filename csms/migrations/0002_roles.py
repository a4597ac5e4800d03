"""Create the two staff roles as groups with the admin permissions they need."""

from __future__ import annotations

from django.db import migrations

READ_ONLY_APPS = ("csms", "billing", "wallet")


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    operators, _ = Group.objects.get_or_create(name="operators")
    support, _ = Group.objects.get_or_create(name="support")
    domain = Permission.objects.filter(content_type__app_label__in=READ_ONLY_APPS)
    operators.permissions.add(*domain)
    operators.permissions.add(
        *Permission.objects.filter(content_type__app_label__in=("auth", "authtoken"))
    )
    support.permissions.add(*domain.filter(codename__startswith="view_"))
    support.permissions.add(*domain.filter(codename="add_command"))


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["operators", "support"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("csms", "0001_initial"),
        ("billing", "0001_initial"),
        ("wallet", "0001_initial"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, drop_roles)]
