"""``manage.py demo_tariff`` (make demo): a fresh platform gets a default tariff; a priced one
is left alone."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from billing.models import Tariff
from tests.billing.factories import make_tariff

pytestmark = pytest.mark.django_db


def run() -> str:
    out = StringIO()
    call_command("demo_tariff", stdout=out)
    return out.getvalue()


def test_it_creates_a_default_tariff_once():
    first = run()
    second = run()

    assert "Created the default tariff 'Demo'" in first
    assert "already set: Demo" in second
    assert Tariff.objects.get().is_default


def test_it_leaves_an_operators_default_alone():
    make_tariff(name="Ours", is_default=True)

    assert "already set: Ours" in run()
    assert list(Tariff.objects.values_list("name", flat=True)) == ["Ours"]
