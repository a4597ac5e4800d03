"""wallet's subscriptions to billing and csms events (connected in ``WalletConfig.ready``).

Each receiver only queues a task after commit; a failure to queue is logged (the broker down)
and never reaches the sender: billing or payment trouble never blocks charging.

The csms events of charging (a session started, meter values stored, a session ended, a
command answered) are sent inside the gateway's group-commit batch: those receivers touch no
database and raise nothing. They hand the ids to a task once the batch has committed, and the
publishing runs on a thread of our own (as billing's: with the broker down, kombu's connect
takes seconds, which the gateway's committer must never wait for). Lost work is caught up by
the beat task (``app_sessions_expire``) or by the next meter batch.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from celery import Task
from django.db import transaction

from csms.models import Command, Transaction

logger = logging.getLogger(__name__)


def on_order_billed(sender: Any, order_id: int, **kwargs: Any) -> None:
    from wallet.tasks import order_settle

    try:
        order_settle.delay(order_id)
    except Exception:
        logger.exception("could not queue the settlement of order %s", order_id)


# --- Publishing off the gateway's thread -----------------------------------------------------

_PUBLISH_QUEUE_SIZE = 10_000
_publish_queue: queue.Queue[tuple[Task, tuple[Any, ...]]] = queue.Queue(maxsize=_PUBLISH_QUEUE_SIZE)
_publisher_lock = threading.Lock()
_publisher: threading.Thread | None = None


def _publish(task: Task, args: tuple[Any, ...]) -> None:
    try:
        task.apply_async(args, retry=False)
    except Exception:
        logger.exception("could not queue %s%s", task.name, args)


def _publish_forever() -> None:
    while True:
        task, args = _publish_queue.get()
        _publish(task, args)


def _hand_to_publisher(task: Task, args: tuple[Any, ...]) -> None:
    global _publisher
    with _publisher_lock:
        if _publisher is None or not _publisher.is_alive():
            _publisher = threading.Thread(
                target=_publish_forever, name="wallet-publisher", daemon=True
            )
            _publisher.start()
    try:
        _publish_queue.put_nowait((task, args))
    except queue.Full:
        logger.warning("wallet publish queue full: %s%s dropped", task.name, args)


def _queue_on_commit(task: Task, *args: Any) -> None:
    def send() -> None:
        if task.app.conf.task_always_eager:
            _publish(task, args)  # no broker (make run, tests): run here and now
        else:
            _hand_to_publisher(task, args)

    transaction.on_commit(send, robust=True)


# --- Charging from the app -------------------------------------------------------------------


def on_transaction_started(sender: Any, transaction: Transaction, **kwargs: Any) -> None:
    from wallet.tasks import app_session_link

    _queue_on_commit(app_session_link, transaction.pk)


def on_transaction_meter_updated(sender: Any, transaction_ids: set[int], **kwargs: Any) -> None:
    from wallet.tasks import app_sessions_meter

    # One task per batch; it filters the app sessions out with one query.
    _queue_on_commit(app_sessions_meter, sorted(transaction_ids))


def on_transaction_stopped(sender: Any, transaction: Transaction, **kwargs: Any) -> None:
    from wallet.tasks import app_session_stopped

    _queue_on_commit(app_session_stopped, transaction.pk)


def on_command_answered(
    sender: Any, command: Command, response: dict[str, Any], **kwargs: Any
) -> None:
    from wallet.tasks import app_session_start_failed, app_session_stop_failed

    if command.source != "app" or response.get("status") == "Accepted":
        return
    if command.action == "RemoteStartTransaction":
        reason = f"The station refused to start charging ({response.get('status')})."
        _queue_on_commit(app_session_start_failed, str(command.pk), reason)
    elif command.action == "RemoteStopTransaction":
        _queue_on_commit(app_session_stop_failed, str(command.pk))


def on_command_not_done(sender: Any, command: Command, **kwargs: Any) -> None:
    from wallet.tasks import app_session_start_failed, app_session_stop_failed

    if command.source != "app":
        return
    if command.action == "RemoteStartTransaction":
        detail = command.error_description or command.error_code or command.state
        reason = f"The station did not take the start: {detail}"
        _queue_on_commit(app_session_start_failed, str(command.pk), reason)
    elif command.action == "RemoteStopTransaction":
        _queue_on_commit(app_session_stop_failed, str(command.pk))
