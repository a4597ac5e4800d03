"""Charging sessions: Authorize (local list / cache / central system), StartTransaction,
metering until the driver, the central system or the EV ends it, StopTransaction; and the
drivers that come and go (``--auto-sessions``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from ocpp.v16 import call

from simulator.metering import Metering
from simulator.smart_charging import ChargingProfile, parse_datetime
from simulator.state import (
    ACCEPTED,
    CHARGING,
    FINISHING,
    IDLE,
    PREPARING,
    Connector,
    Session,
    iso,
    logger,
    utcnow,
)


class Transactions(Metering):
    """Charging sessions from the plug-in to the unplug, the drivers, authorization of their
    tags, and the reboot that ends every session."""

    # --- Drivers ------------------------------------------------------------------------

    def present_tag(
        self,
        connector_id: int,
        id_tag: str,
        *,
        minutes: float | None = None,
        kwh: float | None = None,
    ) -> asyncio.Task[None] | None:
        """A driver plugs in at ``connector_id`` and presents ``id_tag``: Authorize, then
        StartTransaction. The driver leaves after ``minutes`` / ``kwh`` (default: drawn from
        the config; neither: until stopped). Returns the session's task, or None when the
        connector cannot take a session now."""
        connector = self.connectors.get(connector_id)
        if connector is None or not self._can_start(connector, id_tag):
            return None
        connector.phase = PREPARING
        connector.task = self._spawn(
            self._session(connector, id_tag, origin="rfid", minutes=minutes, kwh=kwh)
        )
        return connector.task

    def stop_session(self, connector_id: int, reason: str = "Local") -> bool:
        """The driver ends the session on ``connector_id`` (or something else does, by
        ``reason``). False when there is none."""
        connector = self.connectors.get(connector_id)
        if connector is None or connector.task is None:
            return False
        self._request_stop(connector, reason)
        return True

    # --- Sessions ---------------------------------------------------------------------------

    def _can_start(self, connector: Connector, id_tag: str) -> bool:
        if self._stopping or self._rebooting or self._install_pending:
            return False
        if connector.busy or not connector.operative or not self.operative:
            return False
        reservation = connector.reservation
        if reservation is not None:
            # With a parent tag on the reservation, Authorize tells whether the tag belongs.
            return reservation.admits(id_tag) or bool(reservation.parent_id_tag)
        return True

    def _request_stop(self, connector: Connector, reason: str, *, unplug: bool = True) -> None:
        if connector.stop_reason is None:
            connector.stop_reason = reason
            connector.unplug = unplug
        connector.wake.set()

    async def _stop_sessions(self, reason: str, *, unplug: bool) -> None:
        tasks = []
        for connector in self.connectors.values():
            if connector.task is not None and not connector.task.done():
                self._request_stop(connector, reason, unplug=unplug)
                tasks.append(connector.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _session(
        self,
        connector: Connector,
        id_tag: str,
        *,
        origin: str,
        gate: asyncio.Event | None = None,
        profile: ChargingProfile | None = None,
        minutes: float | None = None,
        kwh: float | None = None,
    ) -> None:
        try:
            if gate is not None:
                await self._await_gate(gate)
            await self._run_session(connector, id_tag, origin, profile, minutes, kwh)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s/%d session failed", self.identity, connector.id)
        finally:
            connector.task = None
            connector.stop_reason = None
            if connector.session is None:
                connector.phase = IDLE

    async def _run_session(
        self,
        connector: Connector,
        id_tag: str,
        origin: str,
        profile: ChargingProfile | None,
        minutes: float | None,
        kwh: float | None,
    ) -> None:
        connector.phase = PREPARING
        connector.stop_reason = None
        await self._sync_statuses()
        reservation = connector.reservation
        info: dict[str, Any] | None = {"status": ACCEPTED}
        needs_authorize = (
            origin == "rfid"
            or self.keys.get_bool("AuthorizeRemoteTxRequests")
            or (reservation is not None and not reservation.admits(id_tag))
        )
        if needs_authorize:
            info = await self._authorize(id_tag)
        status = (info or {}).get("status", "no answer")
        if status != ACCEPTED:
            self._note(f"#{connector.id} tag {id_tag} not authorized ({status})")
            self.stats["refused"] += 1
            await self._back_to_idle(connector)
            return
        if reservation is not None and not reservation.admits(
            id_tag, (info or {}).get("parent_id_tag")
        ):
            self._note(f"#{connector.id} tag {id_tag} does not hold reservation {reservation.id}")
            self.stats["refused"] += 1
            await self._back_to_idle(connector)
            return
        if connector.stop_reason is not None:
            await self._back_to_idle(connector)
            return

        minutes, kwh = self._driver_plan(minutes, kwh)
        now_m = time.monotonic()
        self._retune()
        session = Session(
            id_tag=id_tag,
            meter_start=int(connector.register_wh),
            started_at=utcnow(),
            origin=origin,
            reservation_id=reservation.id if reservation is not None else None,
            deadline=now_m + minutes * 60.0 if minutes else None,
            target_wh=connector.register_wh + kwh * 1000.0 if kwh else None,
        )
        if reservation is not None:
            self._drop_reservation(connector)
        if self.config.dc:
            connector.soc = self.rng.uniform(*self.config.initial_soc)
        connector.session = session
        connector.phase = CHARGING
        self._retune()
        result = await self._request(
            call.StartTransaction(
                connector_id=connector.id,
                id_tag=id_tag,
                meter_start=session.meter_start,
                timestamp=iso(session.started_at),
                reservation_id=session.reservation_id,
            ),
            queue=True,
        )
        if result is None:
            self._note(f"#{connector.id} StartTransaction refused; charging stopped")
            connector.session = None
            await self._back_to_idle(connector)
            return
        session.transaction_id = result.transaction_id
        session.id_tag_status = result.id_tag_info.get("status", ACCEPTED)
        self._remember(id_tag, result.id_tag_info)
        if profile is not None:
            profile.transaction_id = result.transaction_id
            self.profiles.install(profile)
        self._retune()
        self.stats["sessions_started"] += 1
        self._note(
            f"#{connector.id} session started, transaction {session.transaction_id}, tag "
            f"{id_tag} ({origin}), {connector.power_w / 1000:.1f} kW"
        )
        await self._sync_statuses()
        if session.id_tag_status != ACCEPTED and self.keys.get_bool("StopTransactionOnInvalidId"):
            self._request_stop(connector, "DeAuthorized")
        reason = await self._charge(connector, session)
        await self._end_session(connector, session, reason)

    def _driver_plan(self, minutes: float | None, kwh: float | None) -> tuple[float, float]:
        """How long / how much this driver charges: explicit, else drawn from the config."""
        if minutes is None and self.config.session_minutes is not None:
            minutes = self.rng.uniform(*self.config.session_minutes)
        if kwh is None and self.config.session_kwh is not None:
            kwh = self.rng.uniform(*self.config.session_kwh)
        return minutes or 0.0, kwh or 0.0

    async def _back_to_idle(self, connector: Connector) -> None:
        connector.phase = IDLE
        self._retune()
        await self._sync_statuses()

    async def _charge(self, connector: Connector, session: Session) -> str:
        """Meter the session until something ends it; returns the StopTransaction reason."""
        interval = self.keys.get_int("MeterValueSampleInterval")
        next_sample = time.monotonic() + interval
        while True:
            connector.wake.clear()
            if connector.stop_reason is not None:
                return connector.stop_reason
            self._retune()
            now_m = time.monotonic()
            if session.deadline is not None and now_m >= session.deadline:
                return "Local"
            if session.target_wh is not None and connector.register_wh >= session.target_wh:
                return "Local"
            if connector.ev_full:
                return "EVDisconnected"
            current = self.keys.get_int("MeterValueSampleInterval")
            if current != interval:
                interval, next_sample = current, now_m + current
            if interval > 0 and now_m >= next_sample:
                await self._send_meter_values(connector.id, "Sample.Periodic")
                next_sample += interval
                if next_sample <= now_m:
                    next_sample = now_m + interval
            await self._sync_statuses()

            waits = []
            if interval > 0:
                waits.append(next_sample - now_m)
            if session.deadline is not None:
                waits.append(session.deadline - now_m)
            if connector.power_w > 0:
                if session.target_wh is not None:
                    remaining = session.target_wh - connector.register_wh
                    waits.append(remaining / connector.power_w * 3600.0)
                if connector.soc is not None:
                    to_full = (100.0 - connector.soc) / 100.0 * self.config.battery_kwh * 1000
                    waits.append(to_full / connector.power_w * 3600.0)
            horizon = min(waits) if waits else 3600.0
            change = self.profiles.next_change(connector.id, utcnow(), horizon, session.started_at)
            if change is not None:
                waits.append(change + 0.01)
            timeout = max(0.0, min(waits)) if waits else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connector.wake.wait(), timeout)

    async def _end_session(self, connector: Connector, session: Session, reason: str) -> None:
        self._retune()
        end = self._reading(connector)
        end.power_w = 0.0
        meter_stop = int(connector.register_wh)
        stopped_at = utcnow()
        connector.phase = FINISHING if connector.unplug else IDLE
        self._retune()
        if session.transaction_id is not None:
            await self._request(
                call.StopTransaction(
                    meter_stop=meter_stop,
                    timestamp=iso(stopped_at),
                    transaction_id=session.transaction_id,
                    reason=reason,
                    # The tag that ended it, when a driver did (absent for resets and such).
                    id_tag=session.id_tag if reason == "Local" else None,
                    transaction_data=self._transaction_data(session, end) or None,
                ),
                queue=True,
            )
        self.profiles.end_transaction(connector.id)
        connector.session = None
        connector.soc, connector.ev_full = None, False
        energy = (meter_stop - session.meter_start) / 1000.0
        minutes = (stopped_at - session.started_at).total_seconds() / 60.0
        self.stats["sessions_stopped"] += 1
        self.stats["energy_wh"] += meter_stop - session.meter_start
        self._note(
            f"#{connector.id} session stopped, transaction {session.transaction_id}, "
            f"{energy:.2f} kWh in {minutes:.1f} min, reason {reason}"
        )
        if connector.pending_operative is not None:
            connector.operative, connector.pending_operative = connector.pending_operative, None
        if connector.phase == FINISHING:
            await self._sync_statuses()
            await self._pause(self.config.unplug_seconds)
        connector.phase = IDLE
        self._retune()
        await self._sync_statuses()

    async def _authorize(self, id_tag: str) -> dict[str, Any] | None:
        """idTagInfo for a tag: local list / cache first when LocalPreAuthorize, else the
        central system; offline, the local list / cache (LocalAuthorizeOffline) or
        AllowOfflineTxForUnknownId."""
        local = self._local_info(id_tag)
        pre_authorized = local is not None and local.get("status") == ACCEPTED
        if pre_authorized and self.keys.get_bool("LocalPreAuthorize"):
            return local
        if self._ready.is_set():
            result = await self._request(call.Authorize(id_tag=id_tag))
            if result is not None:
                self._remember(id_tag, result.id_tag_info)
                return dict(result.id_tag_info)
        if local is not None and self.keys.get_bool("LocalAuthorizeOffline"):
            return local
        if local is None and self.keys.get_bool("AllowOfflineTxForUnknownId"):
            return {"status": ACCEPTED}
        return None

    def _local_info(self, id_tag: str) -> dict[str, Any] | None:
        key = id_tag.upper()
        info = None
        if self.keys.get_bool("LocalAuthListEnabled") and key in self.local_list:
            info = self.local_list[key]
        elif self.keys.get_bool("AuthorizationCacheEnabled") and key in self.auth_cache:
            info = self.auth_cache[key]
        if info is None:
            return None
        info = dict(info)
        expiry = info.get("expiry_date")
        if info.get("status") == ACCEPTED and expiry:
            with contextlib.suppress(ValueError):
                if parse_datetime(expiry) <= utcnow():
                    info["status"] = "Expired"
        return info

    def _remember(self, id_tag: str, info: dict[str, Any]) -> None:
        if self.keys.get_bool("AuthorizationCacheEnabled"):
            self.auth_cache[id_tag.upper()] = dict(info)

    async def _auto_driver(self, connector: Connector) -> None:
        """Drivers come and go on this connector: plug in after a random idle time, present a
        random tag from the config, charge for a random time / energy, leave."""
        delay = self.rng.uniform(*self.config.first_session_seconds)
        tags = self.config.tags_for(connector.id)
        while True:
            await asyncio.sleep(delay)
            delay = self.rng.uniform(*self.config.idle_seconds)
            await self._ready.wait()
            if connector.task is not None:
                await asyncio.gather(connector.task, return_exceptions=True)
                continue
            task = self.present_tag(connector.id, self.rng.choice(tags))
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)

    async def _reboot(self, reason: str) -> None:
        if self._rebooting or self._stopping:
            return
        self._rebooting = True
        self._note(f"reboot ({reason})")
        await self._stop_sessions(reason, unplug=False)
        self._drop.set()
