"""ReserveNow and CancelReservation; a reservation expires by itself at its expiryDate."""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from simulator.smart_charging import parse_datetime
from simulator.state import ACCEPTED, REJECTED, Connector, Reservation, utcnow
from simulator.transactions import Transactions


class ReservationOperations(Transactions):
    """Handlers of reservations."""

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None = None,
        call_unique_id: str | None = None,
        **_: Any,
    ) -> call_result.ReserveNow:
        status = self._reserve(connector_id, expiry_date, id_tag, reservation_id, parent_id_tag)
        self._note(f"ReserveNow {reservation_id} connector {connector_id} for {id_tag}: {status}")
        if status == ACCEPTED:
            self._follow_up(call_unique_id, self._sync_statuses())
        return call_result.ReserveNow(status=status)

    def _reserve(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        parent_id_tag: str | None,
    ) -> str:
        connector = self.connectors.get(connector_id)
        if connector is None:  # connector 0: ReserveConnectorZeroSupported is false
            return REJECTED
        try:
            expiry = parse_datetime(expiry_date)
        except ValueError:
            return REJECTED
        if expiry <= utcnow() or self._install_pending:
            return REJECTED
        if not connector.operative or not self.operative:
            return "Unavailable"
        held = connector.reservation
        if connector.busy or (held is not None and held.id != reservation_id):
            return "Occupied"
        # A reservation id that already exists is replaced (possibly on another connector).
        for other in self.connectors.values():
            if other.reservation is not None and other.reservation.id == reservation_id:
                self._drop_reservation(other)
        reservation = Reservation(reservation_id, connector_id, id_tag, expiry, parent_id_tag)
        reservation.timer = self._spawn(self._expire_reservation(connector, reservation))
        connector.reservation = reservation
        return ACCEPTED

    @after(Action.reserve_now)
    def after_reserve_now(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(
        self, reservation_id: int, call_unique_id: str | None = None, **_: Any
    ) -> call_result.CancelReservation:
        for connector in self.connectors.values():
            if connector.reservation is not None and connector.reservation.id == reservation_id:
                self._drop_reservation(connector)
                self._note(f"CancelReservation {reservation_id}: Accepted")
                self._follow_up(call_unique_id, self._sync_statuses())
                return call_result.CancelReservation(status=ACCEPTED)
        return call_result.CancelReservation(status=REJECTED)

    @after(Action.cancel_reservation)
    def after_cancel_reservation(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    async def _expire_reservation(self, connector: Connector, reservation: Reservation) -> None:
        await asyncio.sleep(max(0.0, (reservation.expiry - utcnow()).total_seconds()))
        if connector.reservation is reservation:
            connector.reservation = None
            self._note(f"#{connector.id} reservation {reservation.id} expired")
            await self._sync_statuses()
