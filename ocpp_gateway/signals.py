"""The gateway's subscriptions to csms domain events (csms.signals), connected once in
OcppGatewayConfig.ready(): csms announces, the gateway acts, so csms never imports it."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from csms import signals
from ocpp_gateway import operations

logger = logging.getLogger(__name__)


def close_deleted_station(
    sender: Any, *, channel_name: str, charge_point_id: int, **kwargs: Any
) -> None:
    """A deleted station that is connected has its socket closed once the deletion commits,
    so it cannot keep writing for a row that no longer exists."""
    layer = get_channel_layer()
    if channel_name and layer is not None:

        def close() -> None:
            try:
                async_to_sync(layer.send)(channel_name, {"type": "ocpp.replaced"})
            except Exception as exc:
                # Channel layer down: the deletion stands (it has committed); the socket ends
                # when the station next reconnects, its frames failing meanwhile.
                logger.warning("could not close the socket of deleted station: %s", exc)

        transaction.on_commit(close)


def connect() -> None:
    signals.charge_point_deleted.connect(close_deleted_station, dispatch_uid="ocpp-close-deleted")
    signals.command_answered.connect(operations.command_answered, dispatch_uid="ocpp-answered")
    signals.command_not_done.connect(operations.command_not_done, dispatch_uid="ocpp-not-done")
