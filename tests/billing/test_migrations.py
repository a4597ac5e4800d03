"""The migration from the three-field tariff: prices become version 1's components, a
station's tariff a station-level assignment, and one default remains."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

OLD = [("billing", "0001_initial"), ("csms", "0008_gateway_processes")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_it_moves_old_tariffs_into_versions_and_assignments():
    try:
        old = _migrate(OLD)
        Tariff = old.get_model("billing", "Tariff")
        ChargePoint = old.get_model("csms", "ChargePoint")
        standard = Tariff.objects.create(
            name="Standard",
            price_per_kwh=Decimal("0.3500"),
            price_per_hour=Decimal("1.2000"),
            session_fee=Decimal("0.50"),
            is_default=True,
        )
        Tariff.objects.create(name="Also default", is_default=True)
        ChargePoint.objects.create(identity="CP1", tariff=standard)
        ChargePoint.objects.create(identity="CP2")

        new = _migrate(
            [("billing", "0004_drop_old_tariff_fields"), ("csms", "0009_charge_point_site")]
        )

        from billing.models import Tariff as NewTariff
        from billing.models import TariffAssignment
        from csms.models import ChargePoint as NewChargePoint

        tariff = NewTariff.objects.get(name="Standard")
        pricing = tariff.current_version.as_pricing()
        assert [(c.type.value, c.price, c.vat) for c in pricing.elements[0].price_components] == [
            ("ENERGY", Decimal("0.35"), None),
            ("TIME", Decimal("1.2"), None),
            ("FLAT", Decimal("0.5"), None),
        ]
        assert pricing.elements[0].restrictions is None
        free = NewTariff.objects.get(name="Also default").current_version.as_pricing()
        assert [(c.type.value, c.price) for c in free.elements[0].price_components] == [
            ("ENERGY", Decimal("0"))
        ]
        assert list(NewTariff.objects.filter(is_default=True)) == [tariff]
        assignment = TariffAssignment.objects.get()
        assert assignment.charge_point == NewChargePoint.objects.get(identity="CP1")
        assert (assignment.tariff, assignment.connector_id, assignment.valid_from) == (
            tariff,
            None,
            None,
        )
        assert new.get_model("billing", "TariffVersion").objects.count() == 2
        from django.contrib.auth.models import Group

        support = Group.objects.get(name="support").permissions.values_list("codename", flat=True)
        assert "view_tariffversion" in support and "add_tariffversion" not in support
    finally:
        call_command("migrate", verbosity=0)
