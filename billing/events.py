"""Events billing sends to the apps built on it (the wallet settles orders on them). billing
never imports those apps; they connect receivers in their ``AppConfig.ready``.

Sent after the transaction that wrote the order has committed (a receiver reads what was
committed and may queue a task); a receiver's failure is logged, never billing's failure."""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

# An order was written, or re-priced to new totals (late samples). Kwargs: ``order_id``.
order_billed = Signal()


def order_billed_on_commit(*, order_id: int) -> None:
    from billing.models import Order

    transaction.on_commit(
        lambda: order_billed.send_robust(sender=Order, order_id=order_id), robust=True
    )
