"""SetChargingProfile, ClearChargingProfile, GetCompositeSchedule (the profiles themselves are
in ``simulator.smart_charging``)."""

from __future__ import annotations

from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from simulator.smart_charging import MAX_PROFILE, TX_PROFILE, ChargingProfile
from simulator.state import ACCEPTED, REJECTED, iso, utcnow
from simulator.transactions import Transactions


class SmartChargingOperations(Transactions):
    """Handlers of charging profiles."""

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self,
        connector_id: int,
        cs_charging_profiles: dict[str, Any],
        call_unique_id: str | None = None,
        **_: Any,
    ) -> call_result.SetChargingProfile:
        status, detail = self._install_profile(connector_id, cs_charging_profiles)
        self._note(f"SetChargingProfile on connector {connector_id}: {status}{detail}")
        if status == ACCEPTED:
            self._follow_up(call_unique_id, self._profiles_changed())
        return call_result.SetChargingProfile(status=status)

    def _install_profile(self, connector_id: int, data: dict[str, Any]) -> tuple[str, str]:
        if connector_id != 0 and connector_id not in self.connectors:
            return REJECTED, " (unknown connector)"
        try:
            profile = ChargingProfile.from_ocpp(connector_id, data, utcnow())
        except ValueError as exc:
            return REJECTED, f" ({exc})"
        if profile.stack_level > self.keys.get_int("ChargeProfileMaxStackLevel"):
            return REJECTED, " (stack level too high)"
        if len(profile.periods) > self.keys.get_int("ChargingScheduleMaxPeriods"):
            return REJECTED, " (too many periods)"
        if profile.purpose == MAX_PROFILE and connector_id != 0:
            return REJECTED, " (ChargePointMaxProfile belongs on connector 0)"
        if profile.purpose == TX_PROFILE:
            session = self.connectors[connector_id].session if connector_id else None
            if session is None or session.transaction_id is None:
                return REJECTED, " (no transaction on the connector)"
            if profile.transaction_id not in (None, session.transaction_id):
                return REJECTED, " (another transaction)"
            profile.transaction_id = session.transaction_id
        installed = [p for p in self.profiles.profiles if p.id != profile.id]
        if len(installed) >= self.keys.get_int("MaxChargingProfilesInstalled"):
            return REJECTED, " (too many profiles)"
        self._retune()  # energy so far at the old power
        self.profiles.install(profile)
        self._retune()
        return ACCEPTED, ""

    async def _profiles_changed(self) -> None:
        for connector in self.connectors.values():
            connector.wake.set()
        await self._sync_statuses()

    @after(Action.set_charging_profile)
    def after_set_charging_profile(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,  # the OCPP field name
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        call_unique_id: str | None = None,
        **_: Any,
    ) -> call_result.ClearChargingProfile:
        self._retune()
        removed = self.profiles.clear(
            profile_id=id,
            connector_id=connector_id,
            purpose=charging_profile_purpose,
            stack_level=stack_level,
        )
        self._retune()
        status = ACCEPTED if removed else "Unknown"
        self._note(f"ClearChargingProfile: {status} ({removed} removed)")
        if removed:
            self._follow_up(call_unique_id, self._profiles_changed())
        return call_result.ClearChargingProfile(status=status)

    @after(Action.clear_charging_profile)
    def after_clear_charging_profile(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self,
        connector_id: int,
        duration: int,
        charging_rate_unit: str | None = None,
        **_: Any,
    ) -> call_result.GetCompositeSchedule:
        if connector_id != 0 and connector_id not in self.connectors:
            return call_result.GetCompositeSchedule(status=REJECTED)
        unit = charging_rate_unit or ("W" if self.config.dc else "A")
        start = utcnow().replace(microsecond=0)
        session = self.connectors[connector_id].session if connector_id else None
        hardware = self.max_power_w * (len(self.connectors) if connector_id == 0 else 1)
        periods = self.profiles.composite(
            connector_id,
            start,
            duration,
            unit,
            hardware_watts=hardware,
            transaction_id=session.transaction_id if session else None,
            tx_start=session.started_at if session else None,
        )
        return call_result.GetCompositeSchedule(
            status=ACCEPTED,
            connector_id=connector_id,
            schedule_start=iso(start),
            charging_schedule={
                "duration": duration,
                "start_schedule": iso(start),
                "charging_rate_unit": unit,
                "charging_schedule_period": periods,
            },
        )
