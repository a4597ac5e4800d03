"""TriggerMessage: the station sends the requested message once it has answered."""

from __future__ import annotations

import contextlib
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from simulator.state import ACCEPTED, REJECTED, NotConnected
from simulator.transactions import Transactions


class TriggerOperations(Transactions):
    """Handler of TriggerMessage."""

    @on(Action.trigger_message)
    def on_trigger_message(
        self,
        requested_message: str,
        connector_id: int | None = None,
        call_unique_id: str | None = None,
        **_: Any,
    ) -> call_result.TriggerMessage:
        if connector_id is not None and connector_id != 0 and connector_id not in self.connectors:
            return call_result.TriggerMessage(status=REJECTED)
        self._note(f"TriggerMessage {requested_message}: Accepted")
        self._follow_up(call_unique_id, self._triggered(requested_message, connector_id))
        return call_result.TriggerMessage(status=ACCEPTED)

    async def _triggered(self, message: str, connector_id: int | None) -> None:
        if message == "BootNotification":
            with contextlib.suppress(NotConnected):
                await self._boot_once()
        elif message == "Heartbeat":
            await self._request(call.Heartbeat())
        elif message == "StatusNotification":
            ids = [connector_id] if connector_id is not None else range(len(self.connectors) + 1)
            for number in ids:
                await self._send_status(number, self.status_of(number))
        elif message == "MeterValues":
            ids = [connector_id] if connector_id is not None else list(self.connectors)
            self._retune()
            for number in ids:
                await self._send_meter_values(number, "Trigger")
        elif message == "FirmwareStatusNotification":
            await self._request(call.FirmwareStatusNotification(status=self.firmware_status))
        elif message == "DiagnosticsStatusNotification":
            await self._request(call.DiagnosticsStatusNotification(status=self.diagnostics_status))

    @after(Action.trigger_message)
    def after_trigger_message(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)
