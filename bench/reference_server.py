"""Reference OCPP 1.6J central system: only the ``ocpp`` package and ``websockets``.

No database, no channel layer, accepts everything. It is what a Python central system costs
when it does nothing but the protocol (the ``ocpp`` package's routing, its jsonschema
validation of every request and response, dataclass conversion), so it is the ceiling the
benchmark compares our server with.

    python bench/reference_server.py --port 18502
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import signal
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
from websockets.asyncio.server import ServerConnection, serve

_transaction_ids = itertools.count(1)
_ACCEPTED = {"status": AuthorizationStatus.accepted}


def _now() -> str:
    return datetime.now(UTC).isoformat()


class AcceptEverything(ChargePoint):
    @on(Action.boot_notification)
    def on_boot(self, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=_now(), interval=300, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    def on_status(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info=_ACCEPTED)

    @on(Action.start_transaction)
    def on_start(self, **_: Any) -> call_result.StartTransaction:
        return call_result.StartTransaction(
            transaction_id=next(_transaction_ids), id_tag_info=_ACCEPTED
        )

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop(self, **_: Any) -> call_result.StopTransaction:
        return call_result.StopTransaction(id_tag_info=_ACCEPTED)

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="Accepted")


async def handle(connection: ServerConnection) -> None:
    path = connection.request.path if connection.request else "/"
    identity = path.rstrip("/").rsplit("/", 1)[-1] or "unknown"
    try:
        await AcceptEverything(identity, connection).start()
    except Exception:
        # Closed by the station: ChargePoint.start() loops on recv() until it raises.
        return


async def main_async(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        handle, host, port, subprotocols=["ocpp1.6"], compression=None, ping_interval=None
    ):
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description="Reference OCPP 1.6J central system")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main_async(args.host, args.port))


if __name__ == "__main__":
    main()
