"""Reads of the driver's app sessions, as the API and the WebSocket show them: a session's
snapshot (live figures, the running cost or the order's), and a page of them with their
orders read in one query.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from billing.models import Order
from billing.selectors.orders import transaction_cost_so_far
from csms.models import Transaction
from wallet.models import AppSession, Wallet
from wallet.money import quantize


def app_session_list(*, wallet: Wallet) -> QuerySet[AppSession]:
    """The driver's app sessions, newest first, with what the snapshot reads joined."""
    return (
        AppSession.objects.filter(wallet=wallet)
        .select_related("charge_point", "transaction", "wallet")
        .order_by("-created_at", "-id")
    )


def app_session_get(*, wallet: Wallet, pk: int) -> AppSession | None:
    return app_session_list(wallet=wallet).filter(pk=pk).first()


def _amount(value: Decimal | None, currency: str) -> str | None:
    return None if value is None else str(quantize(Decimal(value), currency))


def _energy_kwh(tx: Transaction | None) -> Decimal | None:
    if tx is None:
        return None
    if tx.stopped_at is not None and tx.energy_wh is not None:
        wh = tx.energy_wh
    elif tx.last_meter_wh is not None:
        wh = max(0, tx.last_meter_wh - tx.meter_start)
    else:
        return Decimal("0.000")
    return (Decimal(wh) / 1000).quantize(Decimal("0.001"))


def _duration(session: AppSession, now: dt.datetime) -> int | None:
    tx = session.transaction
    if tx is None:
        return None
    end = tx.stopped_at or (session.finished_at if session.finished_at else now)
    return max(0, int((end - tx.started_at).total_seconds()))


def session_cost(
    session: AppSession, order: Order | None
) -> tuple[Decimal | None, Decimal | None] | None:
    """``(excl_vat, incl_vat)`` of the session: the order's once billed, else the running
    cost from the frozen tariff (None: not started, or no tariff applies)."""
    if order is not None:
        return order.total_excl_vat, order.total_incl_vat
    if session.transaction is None:
        return None
    cost = transaction_cost_so_far(transaction=session.transaction)
    if cost is None:
        return None
    return cost["excl_vat"], cost["incl_vat"]


def app_session_snapshot(
    session: AppSession,
    *,
    order: Order | None = None,
    order_read: bool = False,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The session as the API and the WebSocket show it. Pass ``order`` (None too, with
    ``order_read``) when it was read in bulk (lists); otherwise it is read here (one query).
    The running cost of an active session costs two more queries plus the pricing engine; a
    session that is over and has no order shows no cost."""
    now = now or timezone.now()
    tx = session.transaction
    currency = session.wallet.currency
    if order is None and tx is not None and not order_read:
        order = Order.objects.filter(transaction_id=tx.pk).first()
    priced = order is not None or session.state in AppSession.ACTIVE_STATES
    cost = session_cost(session, order) if priced else None
    power = None
    if tx is not None and tx.stopped_at is None and tx.last_power_w is not None:
        power = (Decimal(tx.last_power_w) / 1000).quantize(Decimal("0.001"))
    energy = _energy_kwh(tx)
    return {
        "id": session.pk,
        "state": session.state,
        "station": session.charge_point.identity,
        "connector_id": session.connector_id,
        "connector_code": session.connector_code,
        "transaction_id": session.transaction_id,
        "created_at": session.created_at.isoformat() if session.created_at else None,
        "charging_at": session.charging_at.isoformat() if session.charging_at else None,
        "stop_requested_at": (
            session.stop_requested_at.isoformat() if session.stop_requested_at else None
        ),
        "finished_at": session.finished_at.isoformat() if session.finished_at else None,
        "energy_kwh": None if energy is None else str(energy),
        "power_kw": None if power is None else str(power),
        "duration_seconds": _duration(session, now),
        "soc": tx.last_soc if tx is not None else None,
        "cost": None
        if cost is None
        else {
            "excl_vat": _amount(cost[0], currency),
            "incl_vat": _amount(cost[1], currency),
            "currency": currency,
        },
        "currency": currency,
        "held": _amount(session.held, currency),
        "stop_cause": session.stop_cause,
        "failure_reason": session.failure_reason,
        "order": None
        if order is None
        else {
            "id": order.pk,
            "state": order.state,
            "total_excl_vat": _amount(order.total_excl_vat, order.currency),
            "total_incl_vat": _amount(order.total_incl_vat, order.currency),
        },
    }


def app_session_snapshots(sessions: Sequence[AppSession]) -> list[dict[str, Any]]:
    """Snapshots of a page of sessions: their orders in one query; a running cost only for
    the active ones (a driver has one or two at most), billed ones show their order."""
    tx_ids = [s.transaction_id for s in sessions if s.transaction_id is not None]
    orders = {o.transaction_id: o for o in Order.objects.filter(transaction_id__in=tx_ids)}
    now = timezone.now()
    return [
        app_session_snapshot(
            session, order=orders.get(session.transaction_id or 0), order_read=True, now=now
        )
        for session in sessions
    ]
