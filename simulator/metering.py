"""The electrical model: each connector's power follows ``--power-kw`` and the charging
profiles; energy is integrated over time; meter values sample it."""

from __future__ import annotations

import time
from typing import Any

from ocpp.v16 import call

from simulator.link import Link
from simulator.meter import Reading, sampled_values
from simulator.state import CHARGING, MIN_AC_AMPS, Connector, Session, iso, utcnow


class Metering(Link):
    """Power and energy per connector, MeterValues and StopTransaction transactionData."""

    # --- Electrical model -------------------------------------------------------------------

    @property
    def max_power_w(self) -> float:
        return self.config.power_kw * 1000.0

    def _retune(self) -> None:
        """Advance every meter to now at the power it had, then set each connector's power
        from the charging profiles for what comes next."""
        now_m, now = time.monotonic(), utcnow()
        for connector in self.connectors.values():
            elapsed = now_m - connector.last_tick
            connector.last_tick = now_m
            if elapsed > 0 and connector.power_w > 0:
                energy = connector.power_w * elapsed / 3600.0
                connector.register_wh += energy
                if connector.soc is not None:
                    capacity = self.config.battery_kwh * 1000.0
                    connector.soc = min(100.0, connector.soc + 100.0 * energy / capacity)
        charging = [
            c for c in self.connectors.values() if c.session is not None and c.phase == CHARGING
        ]
        station = self.profiles.station_limit(now)
        for connector in self.connectors.values():
            offered, phases = self.max_power_w, self.config.phases
            if connector in charging:
                assert connector.session is not None
                tx = self.profiles.transaction_limit(
                    connector.id,
                    now,
                    transaction_id=connector.session.transaction_id,
                    tx_start=connector.session.started_at,
                )
                if tx is not None and tx.watts < offered:
                    offered, phases = tx.watts, tx.phases or phases
                if station is not None and station.watts / len(charging) < offered:
                    offered, phases = station.watts / len(charging), station.phases or phases
            offered = max(0.0, offered)
            minimum = MIN_AC_AMPS * self.config.voltage * phases
            if not self.config.dc and offered < min(minimum, self.max_power_w):
                offered = 0.0
            connector.offered_w, connector.phases = offered, phases
            connector.ev_full = connector.soc is not None and connector.soc >= 100.0
            if connector in charging and not connector.ev_full:
                connector.power_w = offered
            else:
                connector.power_w = 0.0

    def _reading(self, connector: Connector) -> Reading:
        return Reading(
            register_wh=connector.register_wh,
            power_w=connector.power_w,
            offered_w=connector.offered_w,
            phases=connector.phases,
            soc=connector.soc,
            max_power_w=self.max_power_w,
        )

    def _station_reading(self) -> Reading:
        connectors = list(self.connectors.values())
        return Reading(
            register_wh=sum(c.register_wh for c in connectors),
            power_w=sum(c.power_w for c in connectors),
            offered_w=sum(c.offered_w for c in connectors),
            max_power_w=self.max_power_w * len(connectors),
        )

    def _samples(self, reading: Reading, measurands: list[str], context: str) -> list[Any]:
        return sampled_values(
            reading,
            measurands,
            context=context,
            dc=self.config.dc,
            voltage=self.config.voltage,
            dc_voltage=self.config.dc_voltage,
        )

    async def _send_meter_values(self, connector_id: int, context: str) -> None:
        if connector_id == 0:
            reading, transaction_id = self._station_reading(), None
        else:
            connector = self.connectors[connector_id]
            reading = self._reading(connector)
            session = connector.session
            transaction_id = session.transaction_id if session is not None else None
        values = self._samples(reading, self.keys.get_list("MeterValuesSampledData"), context)
        if not values:
            return
        result = await self._request(
            call.MeterValues(
                connector_id=connector_id,
                meter_value=[{"timestamp": iso(utcnow()), "sampledValue": values}],
                transaction_id=transaction_id,
            )
        )
        if result is not None:
            self.stats["meter_values"] += 1

    def _transaction_data(self, session: Session, end: Reading) -> list[dict[str, Any]]:
        measurands = self.keys.get_list("StopTxnSampledData")
        if not measurands:
            return []
        data = []
        if "Energy.Active.Import.Register" in measurands:
            begin = Reading(register_wh=session.meter_start, power_w=0.0, offered_w=0.0)
            data.append(
                {
                    "timestamp": iso(session.started_at),
                    "sampledValue": self._samples(
                        begin, ["Energy.Active.Import.Register"], "Transaction.Begin"
                    ),
                }
            )
        values = self._samples(end, measurands, "Transaction.End")
        if values:
            data.append({"timestamp": iso(utcnow()), "sampledValue": values})
        return data
