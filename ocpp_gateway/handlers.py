"""One handler per station-initiated OCPP 1.6 action.

A handler takes the station's context and the validated payload (timestamps already aware
datetimes), calls csms services, and returns the CALLRESULT payload. Handlers are synchronous:
the consumer runs them inside the group-commit transaction (ocpp_gateway.committer), so the
answer leaves only after what the handler wrote is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from csms.models import ChargePoint
from csms.services.authorization import id_tag_authorize
from csms.services.firmware import diagnostics_status_record, firmware_status_record
from csms.services.logs import data_transfer_record
from csms.services.stations import (
    charge_point_boot,
    charge_point_clock_observe,
    connector_status_update,
)
from csms.services.transactions import (
    meter_values_record,
    transaction_start,
    transaction_stop,
    transactions_close_on_boot,
)
from ocpp_gateway.protocol import jsonable
from ocpp_gateway.schemas import INT32_MAX

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class StationContext:
    charge_point: ChargePoint

    @property
    def identity(self) -> str:
        return self.charge_point.identity


Handler = Callable[[StationContext, dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


def handles(action: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[action] = fn
        return fn

    return register


# --- DataTransfer vendor extensions --------------------------------------------------------

DataTransferHandler = Callable[[StationContext, str | None, str | None], tuple[str, str | None]]
DATA_TRANSFER_HANDLERS: dict[tuple[str, str | None], DataTransferHandler] = {}


def register_data_transfer_handler(
    vendor_id: str, message_id: str | None = None
) -> Callable[[DataTransferHandler], DataTransferHandler]:
    """Register ``fn(ctx, message_id, data) -> (status, response_data)`` for a vendor (and
    optionally one messageId). Without a handler we answer UnknownVendorId/UnknownMessageId;
    the message is stored either way. vendorId is a CiString255: it matches case-insensitively.

    ``fn`` runs inside the message's database transaction, and may run twice if the batch it
    rode in is replayed (ocpp_gateway.committer): keep outside effects idempotent or defer
    them with ``transaction.on_commit``. If it raises, the station is answered Rejected."""

    def register(fn: DataTransferHandler) -> DataTransferHandler:
        DATA_TRANSFER_HANDLERS[(vendor_id.casefold(), message_id)] = fn
        return fn

    return register


def _data_transfer_handler(vendor_id: str, message_id: str | None) -> DataTransferHandler | None:
    vendor = vendor_id.casefold()
    return DATA_TRANSFER_HANDLERS.get((vendor, message_id)) or DATA_TRANSFER_HANDLERS.get(
        (vendor, None)
    )


# --- Handlers -------------------------------------------------------------------------------


def _observe_queued_clock(ctx: StationContext, station_time: Any) -> None:
    """Clock reading from a transaction message (one the station may have queued offline).
    BootNotification and Heartbeat carry no station time in OCPP 1.6."""
    charge_point_clock_observe(
        charge_point=ctx.charge_point,
        station_time=station_time,
        received_at=timezone.now(),
        may_be_queued=True,
    )


@handles("BootNotification")
def boot_notification(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    now = timezone.now()
    status, interval = charge_point_boot(
        charge_point=ctx.charge_point, payload=payload, timestamp=now
    )
    transactions_close_on_boot(charge_point=ctx.charge_point, at=now)
    return {"status": status, "currentTime": now, "interval": interval}


@handles("Heartbeat")
def heartbeat(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    # 'last seen' is stamped for every frame by the consumer, in this same transaction.
    return {"currentTime": timezone.now()}


@handles("StatusNotification")
def status_notification(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("timestamp") is not None:
        charge_point_clock_observe(
            charge_point=ctx.charge_point,
            station_time=payload["timestamp"],
            received_at=timezone.now(),
        )
    connector_status_update(
        charge_point=ctx.charge_point,
        connector_id=payload["connectorId"],
        status=payload["status"],
        error_code=payload["errorCode"],
        info=payload.get("info", ""),
        vendor_id=payload.get("vendorId", ""),
        vendor_error_code=payload.get("vendorErrorCode", ""),
        timestamp=payload.get("timestamp"),
    )
    return {}


@handles("Authorize")
def authorize(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    _, info = id_tag_authorize(id_tag=payload["idTag"], charge_point_id=ctx.charge_point.pk)
    return {"idTagInfo": info}


@handles("StartTransaction")
def start_transaction(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    _observe_queued_clock(ctx, payload["timestamp"])
    tx, info = transaction_start(
        charge_point=ctx.charge_point,
        connector_id=payload["connectorId"],
        id_tag=payload["idTag"],
        meter_start=payload["meterStart"],
        timestamp=payload["timestamp"],
        reservation_id=_our_reservation_id(payload.get("reservationId")),
    )
    return {"transactionId": tx.pk, "idTagInfo": info}


def _our_reservation_id(value: int | None) -> int | None:
    """The reservationId if it can be one we issued (a positive int32, like our ids): the
    schema lets any integer through so the session is recorded (see schemas._SPEC_BOUNDS)."""
    if value is None or not 0 < value <= INT32_MAX:
        return None
    return value


@handles("StopTransaction")
def stop_transaction(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    _observe_queued_clock(ctx, payload["timestamp"])
    _, info = transaction_stop(
        charge_point=ctx.charge_point,
        transaction_id=payload["transactionId"],
        meter_stop=payload["meterStop"],
        timestamp=payload["timestamp"],
        reason=payload.get("reason", ""),
        id_tag=payload.get("idTag", ""),
        transaction_data=payload.get("transactionData"),
        transaction_data_raw=jsonable(payload.get("transactionData")),
    )
    return {"idTagInfo": info} if info is not None else {}


@handles("MeterValues")
def meter_values(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    # The newest reading is the one least delayed on its way to us.
    _observe_queued_clock(ctx, max(mv["timestamp"] for mv in payload["meterValue"]))
    meter_values_record(
        charge_point=ctx.charge_point,
        connector_id=payload["connectorId"],
        transaction_id=payload.get("transactionId"),
        meter_values=payload["meterValue"],
    )
    return {}


@handles("DataTransfer")
def data_transfer(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    vendor_id = payload["vendorId"]
    message_id = payload.get("messageId")
    data = payload.get("data")
    handler = _data_transfer_handler(vendor_id, message_id)
    response_data: str | None = None
    if handler is not None:
        try:
            # In a savepoint: a database error inside the handler must not abort the
            # transaction the message itself is stored in.
            with transaction.atomic():
                status, response_data = handler(ctx, message_id, data)
        except Exception:
            # A broken vendor integration must not make the station retry (and lose) the
            # message: answer Rejected and keep it for whoever fixes the integration.
            logger.exception("DataTransfer handler for %s/%s failed", vendor_id, message_id)
            status, response_data = "Rejected", None
    elif any(key[0] == vendor_id.casefold() for key in DATA_TRANSFER_HANDLERS):
        status = "UnknownMessageId"
    else:
        status = "UnknownVendorId"
    data_transfer_record(
        charge_point_id=ctx.charge_point.pk,
        vendor_id=vendor_id,
        message_id=message_id or "",
        data=data or "",
        response_status=status,
        response_data=response_data or "",
    )
    result: dict[str, Any] = {"status": status}
    if response_data is not None:
        result["data"] = response_data
    return result


@handles("FirmwareStatusNotification")
def firmware_status_notification(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    firmware_status_record(charge_point=ctx.charge_point, status=payload["status"])
    return {}


@handles("DiagnosticsStatusNotification")
def diagnostics_status_notification(ctx: StationContext, payload: dict[str, Any]) -> dict[str, Any]:
    diagnostics_status_record(charge_point=ctx.charge_point, status=payload["status"])
    return {}
