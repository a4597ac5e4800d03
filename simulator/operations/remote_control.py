"""RemoteStartTransaction, RemoteStopTransaction, Reset, UnlockConnector, ChangeAvailability."""

from __future__ import annotations

from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from simulator.smart_charging import TX_PROFILE, ChargingProfile
from simulator.state import ACCEPTED, PREPARING, REJECTED, Connector, utcnow
from simulator.transactions import Transactions


class RemoteControlOperations(Transactions):
    """Handlers that start, stop, reboot, unlock or (un)block."""

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        call_unique_id: str | None = None,
        **_: Any,
    ) -> call_result.RemoteStartTransaction:
        profile = None
        if charging_profile is not None:
            try:
                profile = ChargingProfile.from_ocpp(connector_id or 0, charging_profile, utcnow())
            except ValueError as exc:
                self._note(f"RemoteStartTransaction rejected: {exc}")
                return call_result.RemoteStartTransaction(status=REJECTED)
            if profile.purpose != TX_PROFILE:
                self._note("RemoteStartTransaction rejected: its profile is not a TxProfile")
                return call_result.RemoteStartTransaction(status=REJECTED)
        connector = self._connector_for_remote_start(id_tag, connector_id)
        if connector is None:
            self._note(f"RemoteStartTransaction for {id_tag} rejected: no free connector")
            return call_result.RemoteStartTransaction(status=REJECTED)
        if profile is not None:
            profile.connector_id = connector.id
        connector.phase = PREPARING
        connector.task = self._spawn(
            self._session(
                connector,
                id_tag,
                origin="remote",
                gate=self._gate(call_unique_id),
                profile=profile,
            )
        )
        self._note(f"RemoteStartTransaction for {id_tag} accepted on connector {connector.id}")
        return call_result.RemoteStartTransaction(status=ACCEPTED)

    def _connector_for_remote_start(
        self, id_tag: str, connector_id: int | None
    ) -> Connector | None:
        if connector_id is not None:
            connector = self.connectors.get(connector_id)
            return connector if connector and self._can_start(connector, id_tag) else None
        free = [c for c in self.connectors.values() if self._can_start(c, id_tag)]
        reserved = [c for c in free if c.reservation and c.reservation.admits(id_tag)]
        candidates = reserved or [c for c in free if c.reservation is None]
        return candidates[0] if candidates else None

    @after(Action.remote_start_transaction)
    def after_remote_start_transaction(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(
        self, transaction_id: int, call_unique_id: str | None = None, **_: Any
    ) -> call_result.RemoteStopTransaction:
        for connector in self.connectors.values():
            session = connector.session
            if session is not None and session.transaction_id == transaction_id:
                self._follow_up(call_unique_id, self._stop_later(connector, "Remote"))
                self._note(f"RemoteStopTransaction {transaction_id} accepted")
                return call_result.RemoteStopTransaction(status=ACCEPTED)
        self._note(f"RemoteStopTransaction {transaction_id} rejected: no such transaction")
        return call_result.RemoteStopTransaction(status=REJECTED)

    async def _stop_later(self, connector: Connector, reason: str) -> None:
        self._request_stop(connector, reason)

    @after(Action.remote_stop_transaction)
    def after_remote_stop_transaction(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.reset)
    def on_reset(self, call_unique_id: str | None = None, **payload: Any) -> call_result.Reset:
        kind = payload["type"]
        self._note(f"Reset {kind} accepted")
        self._follow_up(call_unique_id, self._reboot(f"{kind}Reset"))
        return call_result.Reset(status=ACCEPTED)

    @after(Action.reset)
    def after_reset(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.unlock_connector)
    def on_unlock_connector(
        self, connector_id: int, call_unique_id: str | None = None, **_: Any
    ) -> call_result.UnlockConnector:
        connector = self.connectors.get(connector_id)
        if connector is None:
            return call_result.UnlockConnector(status="NotSupported")
        if connector.task is not None:
            # The spec: a transaction on the connector is stopped first, then it unlocks.
            self._follow_up(call_unique_id, self._stop_later(connector, "UnlockCommand"))
        self._note(f"UnlockConnector {connector_id}: Unlocked")
        return call_result.UnlockConnector(status="Unlocked")

    @after(Action.unlock_connector)
    def after_unlock_connector(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.change_availability)
    def on_change_availability(
        self, connector_id: int, call_unique_id: str | None = None, **payload: Any
    ) -> call_result.ChangeAvailability:
        operative = payload["type"] == "Operative"
        if connector_id == 0:
            targets = list(self.connectors.values())
            self.operative = operative
        elif connector_id in self.connectors:
            targets = [self.connectors[connector_id]]
        else:
            return call_result.ChangeAvailability(status=REJECTED)
        scheduled = False
        for connector in targets:
            if connector.busy and connector.operative != operative:
                connector.pending_operative = operative
                scheduled = True
            else:
                connector.operative, connector.pending_operative = operative, None
        status = "Scheduled" if scheduled else ACCEPTED
        self._note(f"ChangeAvailability {connector_id} {payload['type']}: {status}")
        self._follow_up(call_unique_id, self._sync_statuses())
        return call_result.ChangeAvailability(status=status)

    @after(Action.change_availability)
    def after_change_availability(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)
