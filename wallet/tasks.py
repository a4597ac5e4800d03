"""Celery tasks of wallet: each takes ids (never model instances) and calls one service."""

from __future__ import annotations

from celery import shared_task

from wallet.services import accounts, invoices, refunds, sessions, settlement


@shared_task(acks_late=True)
def order_settle(order_id: int) -> None:
    settlement.order_settle(order_id=order_id)


@shared_task(acks_late=True)
def invoice_render(invoice_id: int) -> None:
    invoices.invoice_render(invoice_id=invoice_id)


@shared_task(acks_late=True)
def orders_settle_sweep() -> None:
    settlement.orders_settle_sweep()


@shared_task(acks_late=True)
def password_reset_send(user_id: int) -> None:
    accounts.password_reset_send(user_id=user_id)


@shared_task(acks_late=True)
def refund_send(refund_id: int) -> None:
    refunds.refund_send(refund_id=refund_id)


@shared_task(acks_late=True)
def app_session_link(transaction_id: int) -> None:
    sessions.app_session_link(transaction_id=transaction_id)


@shared_task(acks_late=True)
def app_sessions_meter(transaction_ids: list[int]) -> None:
    sessions.app_sessions_meter(transaction_ids=list(transaction_ids))


@shared_task(acks_late=True)
def app_session_stopped(transaction_id: int) -> None:
    sessions.app_session_station_stopped(transaction_id=transaction_id)


@shared_task(acks_late=True)
def app_session_start_failed(command_id: str, reason: str) -> None:
    sessions.app_session_start_failed(command_id=command_id, reason=reason)


@shared_task(acks_late=True)
def app_session_stop_failed(command_id: str) -> None:
    sessions.app_session_stop_failed(command_id=command_id)


@shared_task(acks_late=True)
def app_sessions_expire() -> None:
    sessions.app_sessions_expire()
