"""wallet's subscriptions to billing and csms events (connected in ``WalletConfig.ready``).

Each receiver only queues a task after commit; a failure to queue is logged (the broker down)
and never reaches the sender: billing or payment trouble never blocks charging.

The csms events of charging (a session started, meter values stored, a session ended, a
command answered) are sent inside the gateway's group-commit batch: those receivers touch no
database and raise nothing. They hand the ids to a task once the batch has committed,
published off the gateway's thread (``csms.publishing.task_publish_on_commit``: with the
broker down, kombu's connect takes seconds, which the gateway's committer must never wait
for). Lost work is caught up by
the beat task (``app_sessions_expire``) or by the next meter batch.
"""

from __future__ import annotations

import logging
from typing import Any

from csms.models import Command, Transaction
from csms.publishing import task_publish_on_commit

logger = logging.getLogger(__name__)


def on_order_billed(sender: Any, order_id: int, **kwargs: Any) -> None:
    from wallet.tasks import order_settle

    try:
        order_settle.delay(order_id)
    except Exception:
        logger.exception("could not queue the settlement of order %s", order_id)


# --- Charging from the app -------------------------------------------------------------------


def on_transaction_started(sender: Any, transaction: Transaction, **kwargs: Any) -> None:
    from wallet.tasks import app_session_link

    task_publish_on_commit(app_session_link, transaction.pk)


def on_transaction_meter_updated(sender: Any, transaction_ids: set[int], **kwargs: Any) -> None:
    from wallet.tasks import app_sessions_meter

    # One task per batch; it filters the app sessions out with one query.
    task_publish_on_commit(app_sessions_meter, sorted(transaction_ids))


def on_transaction_stopped(sender: Any, transaction: Transaction, **kwargs: Any) -> None:
    from wallet.tasks import app_session_stopped

    task_publish_on_commit(app_session_stopped, transaction.pk)


def on_command_answered(
    sender: Any, command: Command, response: dict[str, Any], **kwargs: Any
) -> None:
    from wallet.tasks import app_session_start_failed, app_session_stop_failed

    if command.source != "app" or response.get("status") == "Accepted":
        return
    if command.action == "RemoteStartTransaction":
        reason = f"The station refused to start charging ({response.get('status')})."
        task_publish_on_commit(app_session_start_failed, str(command.pk), reason)
    elif command.action == "RemoteStopTransaction":
        task_publish_on_commit(app_session_stop_failed, str(command.pk))


def on_command_not_done(sender: Any, command: Command, **kwargs: Any) -> None:
    from wallet.tasks import app_session_start_failed, app_session_stop_failed

    if command.source != "app":
        return
    if command.action == "RemoteStartTransaction":
        detail = command.error_description or command.error_code or command.state
        reason = f"The station did not take the start: {detail}"
        task_publish_on_commit(app_session_start_failed, str(command.pk), reason)
    elif command.action == "RemoteStopTransaction":
        task_publish_on_commit(app_session_stop_failed, str(command.pk))
