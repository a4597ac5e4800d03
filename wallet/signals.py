"""wallet's subscriptions to billing and csms events (connected in ``WalletConfig.ready``).

Each receiver only queues a task after commit; a failure to queue is logged (the broker down)
and never reaches the sender: billing or payment trouble never blocks charging.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def on_order_billed(sender: Any, order_id: int, **kwargs: Any) -> None:
    from wallet.tasks import order_settle

    try:
        order_settle.delay(order_id)
    except Exception:
        logger.exception("could not queue the settlement of order %s", order_id)
