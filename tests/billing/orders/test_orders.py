"""Orders: one per stopped session, priced with the tariff frozen at its start, with the
billing policies (free short sessions, no flat fee without energy), idempotent, re-priced
through adjustment lines when samples arrive late, failures retried with backoff."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from billing.models import BillingFailure, Order, OrderLine, SessionPricing
from billing.services.orders import (
    billing_failures_retry,
    billing_run,
    billing_sweep,
    order_create,
    order_reprice,
)
from tests.billing.orders.support import add_samples, make_tariff, stopped_session
from tests.factories import make_id_tag, make_user

pytestmark = pytest.mark.django_db


def lines(order: Order) -> list[tuple[str, str, Decimal, Decimal, Decimal | None]]:
    return [
        (line.kind, line.dimension, line.volume, line.amount_excl_vat, line.amount_incl_vat)
        for line in order.lines.order_by("position")
    ]


def test_it_writes_an_order_with_a_line_per_dimension_and_totals():
    make_tariff(energy="0.30", time="1.20", flat="0.50", vat="20")
    dana = make_user(username="dana-driver")
    tag = make_id_tag(id_tag="DANA", user=dana)
    tx = stopped_session(minutes=60, energy_wh=10_000, id_tag="DANA", id_tag_ref=tag)

    order = order_create(transaction_id=tx.pk)

    assert order is not None
    assert order.driver == dana and order.id_tag == "DANA"
    assert order.charge_point == tx.charge_point and order.connector_id == 1
    assert order.energy_kwh == Decimal("10") and order.duration_seconds == 3600
    assert order.currency == "EUR" and order.state == Order.State.PENDING
    assert sorted(lines(order)) == sorted(
        [
            ("normal", "ENERGY", Decimal("10"), Decimal("3.00"), Decimal("3.60")),
            ("normal", "TIME", Decimal("1"), Decimal("1.20"), Decimal("1.44")),
            ("normal", "FLAT", Decimal("1"), Decimal("0.50"), Decimal("0.60")),
        ]
    )
    assert (order.total_excl_vat, order.total_incl_vat) == (Decimal("4.70"), Decimal("5.64"))
    assert order.priced["total_cost"] == {"excl_vat": "4.70", "incl_vat": "5.64"}
    line = order.lines.get(dimension="ENERGY")
    assert (line.unit_price, line.vat_rate) == (Decimal("0.30"), Decimal("20"))
    # The tariff was frozen at billing, since this session had no snapshot from its start.
    assert SessionPricing.objects.get(transaction=tx).taken == SessionPricing.Taken.BILLING


def test_it_has_no_driver_for_a_tag_nobody_owns():
    make_tariff()
    order = order_create(transaction_id=stopped_session(id_tag="STRANGER").pk)
    assert order is not None and order.driver is None and order.id_tag == "STRANGER"


def test_it_is_idempotent_one_order_whatever_the_runs():
    make_tariff()
    tx = stopped_session()

    first = order_create(transaction_id=tx.pk)
    second = order_create(transaction_id=tx.pk)

    assert first == second
    assert Order.objects.filter(transaction=tx).count() == 1
    assert OrderLine.objects.filter(order=first).count() == 1


def test_it_returns_the_winners_order_when_a_concurrent_run_inserted_first():
    make_tariff()
    tx = stopped_session()
    winner = order_create(transaction_id=tx.pk)
    # The loser of the race checked before the winner inserted, then hits the unique key.
    with mock.patch.object(Order.objects, "filter", wraps=Order.objects.filter) as filtered:
        filtered.return_value.first.return_value = None
        loser = order_create(transaction_id=tx.pk)
    assert loser == winner
    assert Order.objects.filter(transaction=tx).count() == 1


def test_it_bills_nothing_for_a_running_session():
    make_tariff()
    tx = stopped_session()
    tx.stopped_at = None
    tx.save()
    assert order_create(transaction_id=tx.pk) is None
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("minutes", "energy_wh", "free"),
    [(1, 150, True), (1, 250, False), (3, 150, False), (3, 250, False)],
)
def test_it_makes_a_free_order_below_both_minimums(minutes, energy_wh, free):
    make_tariff(energy="0.30", flat="1.00")
    order = order_create(
        transaction_id=stopped_session(minutes=minutes, energy_wh=energy_wh, samples=False).pk
    )
    assert order is not None
    if free:
        assert order.state == Order.State.FREE
        assert order.free_reason == Order.FreeReason.SHORT_SESSION
        assert order.total_excl_vat == 0 and not order.lines.exists()
    else:
        assert order.state == Order.State.PENDING and order.total_excl_vat > 0


def test_it_follows_the_free_order_settings(settings):
    settings.BILLING_FREE_BELOW_SECONDS = 0
    make_tariff(energy="0.30")
    order = order_create(transaction_id=stopped_session(minutes=1, energy_wh=150).pk)
    assert order is not None and order.state == Order.State.PENDING


def test_it_charges_no_flat_fee_and_no_minimum_for_a_session_without_energy():
    make_tariff(
        energy="0.30", flat="2.00", parking="6.00", vat="20", min_price={"excl_vat": "5.00"}
    )
    tx = stopped_session(minutes=30, energy_wh=0)

    order = order_create(transaction_id=tx.pk)

    assert order is not None
    # Thirty minutes parked at 6.00/h: the spot was blocked, that is charged; the fee is not.
    assert lines(order) == [
        ("normal", "PARKING_TIME", Decimal("0.5"), Decimal("3.00"), Decimal("3.60"))
    ]
    assert order.total_excl_vat == Decimal("3.00")


def test_it_is_free_when_no_tariff_applies():
    order = order_create(transaction_id=stopped_session().pk)
    assert order is not None
    assert order.state == Order.State.FREE and order.free_reason == Order.FreeReason.NO_TARIFF


def test_it_leaves_incl_vat_unknown_when_the_tariff_gives_no_vat():
    make_tariff(energy="0.30", vat=None)
    order = order_create(transaction_id=stopped_session().pk)
    assert order is not None
    assert order.total_excl_vat == Decimal("3.00") and order.total_incl_vat is None


def test_it_reconciles_rounding_and_max_price_with_a_line():
    make_tariff(energy="0.30", time="2.00", max_price={"excl_vat": "4.00", "incl_vat": "4.80"})
    order = order_create(transaction_id=stopped_session(minutes=60, energy_wh=10_000).pk)
    assert order is not None
    assert order.total_excl_vat == Decimal("4.00")
    rounding = order.lines.get(dimension="ROUNDING")
    assert rounding.amount_excl_vat == Decimal("-1.00")
    assert sum(line.amount_excl_vat for line in order.lines.all()) == order.total_excl_vat


def test_it_reprices_late_samples_through_an_adjustment_line_never_a_second_order():
    make_tariff(energy="0.30", vat="20")
    tx = stopped_session(minutes=60, energy_wh=10_000, samples=False)
    # The station's meterStop was implausible: settled from the samples it had sent (4 kWh).
    tx.energy_wh = 4000
    tx.meter_stop_implausible = True
    tx.save()
    order = order_create(transaction_id=tx.pk)
    assert order is not None and order.total_excl_vat == Decimal("1.20")

    # Its offline queue arrives after billing: a reading at 50 minutes.
    add_samples(tx, [(50, 1000 + 3500)])
    tx.energy_wh = 4000  # unchanged: the stop settled the end
    order = order_reprice(transaction_id=tx.pk)
    again = order_reprice(transaction_id=tx.pk)

    assert Order.objects.filter(transaction=tx).count() == 1
    assert again is not None and again.lines.count() == order.lines.count()


def test_it_adds_the_difference_per_dimension_as_adjustment_lines():
    make_tariff(energy="0.30", time="1.00", vat="20", max_price=None)
    tx = stopped_session(minutes=60, energy_wh=10_000, samples=False)
    order = order_create(transaction_id=tx.pk)
    assert order is not None and order.total_excl_vat == Decimal("4.00")  # 3.00 + 1.00

    # Late readings show the car was full after 30 minutes: the last half hour was parking,
    # which this tariff does not charge.
    add_samples(tx, [(30, 11_000), (45, 11_000)])
    order = order_reprice(transaction_id=tx.pk)

    assert order is not None
    adjustments = [line for line in lines(order) if line[0] == "adjustment"]
    assert adjustments == [
        ("adjustment", "TIME", Decimal("-0.5"), Decimal("-0.50"), Decimal("-0.60"))
    ]
    assert order.total_excl_vat == Decimal("3.50")
    assert sum(line.amount_excl_vat for line in order.lines.all()) == order.total_excl_vat
    assert order.state == Order.State.PENDING
    assert order_reprice(transaction_id=tx.pk).lines.count() == 3  # a second run adds nothing


def test_it_keeps_the_state_the_wallet_set_when_repricing():
    make_tariff(energy="0.30", time="1.00")
    tx = stopped_session(minutes=60, energy_wh=10_000, samples=False)
    order = order_create(transaction_id=tx.pk)
    Order.objects.filter(pk=order.pk).update(state=Order.State.PAID)
    add_samples(tx, [(30, 11_000), (45, 11_000)])
    assert order_reprice(transaction_id=tx.pk).state == Order.State.PAID


def test_it_records_a_failure_and_retries_it_with_backoff():
    make_tariff()
    tx = stopped_session()
    with mock.patch("billing.services.orders.session_bill", side_effect=RuntimeError("boom")):
        assert billing_run(transaction_id=tx.pk, kind="order") is False
        failure = BillingFailure.objects.get(transaction=tx)
        assert failure.attempts == 1 and "boom" in failure.error
        assert failure.next_attempt_at > timezone.now()

        # Not due yet: nothing is retried.
        assert billing_failures_retry() == 0
        later = failure.next_attempt_at + dt.timedelta(seconds=1)
        assert billing_failures_retry(now=later) == 0  # it failed again
        failure.refresh_from_db()
        assert failure.attempts == 2
        assert failure.next_attempt_at - later >= dt.timedelta(minutes=2)

    assert billing_failures_retry(now=failure.next_attempt_at) == 1
    failure.refresh_from_db()
    assert failure.resolved_at is not None
    assert Order.objects.filter(transaction=tx).count() == 1


def test_the_sweep_bills_stopped_sessions_without_an_order_and_snapshots_running_ones():
    make_tariff()
    stopped = stopped_session()
    running = stopped_session()
    running.stopped_at = None
    running.save()
    later = timezone.now() + dt.timedelta(minutes=5)

    assert billing_sweep(now=timezone.now()) == {"snapshots": 0, "orders": 0, "repriced": 0}
    counts = billing_sweep(now=later)

    assert counts == {"snapshots": 1, "orders": 1, "repriced": 0}
    assert Order.objects.filter(transaction=stopped).exists()
    assert SessionPricing.objects.filter(transaction=running).exists()
    assert billing_sweep(now=later) == {"snapshots": 0, "orders": 0, "repriced": 0}


def test_the_sweep_reprices_orders_with_newer_samples():
    make_tariff(energy="0.30", time="1.00")
    tx = stopped_session(minutes=60, energy_wh=10_000, samples=False)
    order_create(transaction_id=tx.pk)
    add_samples(tx, [(30, 11_000), (45, 11_000)])

    assert billing_sweep()["repriced"] == 1
    assert Order.objects.get(transaction=tx).lines.filter(kind="adjustment").exists()
    assert billing_sweep()["repriced"] == 0


def test_a_late_sample_that_changes_no_price_adds_no_line():
    # 20 minutes is 1/3 h: stored lines keep 6 places, the engine's volume is exact, and the
    # two must compare equal or every re-price writes a zero adjustment.
    make_tariff(energy="0.30", time="1.20", vat="20")
    tx = stopped_session(minutes=20, energy_wh=3000)
    order = order_create(transaction_id=tx.pk)
    assert order is not None
    before = lines(order)

    add_samples(tx, [(10, 1000 + 1500)])  # on the straight line the session already had
    order_reprice(transaction_id=tx.pk)

    assert lines(order) == before
