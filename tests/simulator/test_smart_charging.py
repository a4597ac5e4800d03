"""Charging profiles: which limit applies when (pure), and how a simulated station's power
follows them (SetChargingProfile, ClearChargingProfile, GetCompositeSchedule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.v16 import call

from simulator.smart_charging import ChargingProfile, Electrical, ProfileStore
from tests.simulator.conftest import FakeCentralSystem

T0 = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)  # a Monday


def profile(
    *,
    id: int = 1,
    connector_id: int = 1,
    purpose: str = "TxDefaultProfile",
    stack_level: int = 0,
    kind: str = "Absolute",
    unit: str = "W",
    periods: list[tuple[int, float]] | None = None,
    start: datetime | None = T0,
    **extra: Any,
) -> ChargingProfile:
    schedule: dict[str, Any] = {
        "charging_rate_unit": unit,
        "charging_schedule_period": [
            {"start_period": s, "limit": limit} for s, limit in (periods or [(0, 7000.0)])
        ],
    }
    if start is not None:
        schedule["start_schedule"] = start.isoformat()
    for key in ("duration", "number_phases"):
        if key in extra:
            if key == "number_phases":
                for period in schedule["charging_schedule_period"]:
                    period["number_phases"] = extra.pop(key)
            else:
                schedule[key] = extra.pop(key)
    data = {
        "charging_profile_id": id,
        "stack_level": stack_level,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": kind,
        "charging_schedule": schedule,
        **extra,
    }
    return ChargingProfile.from_ocpp(connector_id, data, T0)


def store(*profiles: ChargingProfile) -> ProfileStore:
    result = ProfileStore(Electrical())
    for p in profiles:
        result.install(p)
    return result


def tx_limit(
    profiles: ProfileStore, t: datetime, *, tx_start: datetime | None = T0
) -> float | None:
    limit = profiles.transaction_limit(1, t, transaction_id=5, tx_start=tx_start)
    return None if limit is None else limit.watts


# --- Which limit applies ----------------------------------------------------------------------


def test_it_converts_amps_to_watts_with_the_periods_phases():
    three = store(profile(unit="A", periods=[(0, 16.0)]))
    one = store(profile(unit="A", periods=[(0, 16.0)], number_phases=1))

    assert tx_limit(three, T0) == 16 * 230 * 3
    assert tx_limit(one, T0) == 16 * 230


def test_the_highest_stack_level_with_a_period_wins_then_falls_back_when_it_ends():
    profiles = store(
        profile(id=1, stack_level=0, periods=[(0, 11000.0)]),
        profile(id=2, stack_level=5, periods=[(0, 4000.0)], duration=600),
    )

    assert tx_limit(profiles, T0 + timedelta(seconds=10)) == 4000.0
    assert tx_limit(profiles, T0 + timedelta(seconds=600)) == 11000.0


def test_a_tx_profile_overrides_defaults_and_connector_defaults_override_connector_zero():
    profiles = store(
        profile(id=1, connector_id=0, periods=[(0, 9000.0)]),
        profile(id=2, connector_id=1, periods=[(0, 8000.0)]),
    )
    assert tx_limit(profiles, T0) == 8000.0
    assert profiles.transaction_limit(2, T0, transaction_id=None, tx_start=None).watts == 9000.0

    profiles.install(
        profile(id=3, purpose="TxProfile", kind="Relative", start=None, periods=[(0, 5000.0)])
    )
    assert tx_limit(profiles, T0) == 5000.0
    assert tx_limit(profiles, T0, tx_start=None) == 8000.0  # no transaction: no TxProfile


def test_periods_are_followed_in_time_and_relative_profiles_start_with_the_transaction():
    relative = store(profile(kind="Relative", start=None, periods=[(0, 3000.0), (60, 6000.0)]))
    tx_start = T0 + timedelta(minutes=30)

    assert tx_limit(relative, tx_start + timedelta(seconds=59), tx_start=tx_start) == 3000.0
    assert tx_limit(relative, tx_start + timedelta(seconds=60), tx_start=tx_start) == 6000.0


def test_a_daily_recurring_profile_repeats_every_day():
    night = store(
        profile(
            kind="Recurring",
            recurrency_kind="Daily",
            start=T0.replace(hour=0),
            periods=[(0, 11000.0), (7 * 3600, 4000.0), (22 * 3600, 11000.0)],
        )
    )

    assert tx_limit(night, T0 + timedelta(days=3, hours=2)) == 4000.0  # 10:00
    assert tx_limit(night, T0 + timedelta(days=3, hours=15)) == 11000.0  # 23:00


def test_validity_bounds_are_respected():
    bounded = store(
        profile(
            periods=[(0, 2000.0)],
            valid_from=(T0 + timedelta(hours=1)).isoformat(),
            valid_to=(T0 + timedelta(hours=2)).isoformat(),
        )
    )

    assert tx_limit(bounded, T0) is None
    assert tx_limit(bounded, T0 + timedelta(minutes=90)) == 2000.0
    assert tx_limit(bounded, T0 + timedelta(hours=2)) is None


def test_a_new_profile_replaces_one_with_the_same_id_or_the_same_stack_level_and_purpose():
    profiles = store(profile(id=1, stack_level=1), profile(id=2, stack_level=2))

    profiles.install(profile(id=3, stack_level=1, periods=[(0, 1000.0)]))
    profiles.install(profile(id=2, stack_level=4, periods=[(0, 500.0)]))

    assert sorted((p.id, p.stack_level) for p in profiles.profiles) == [(2, 4), (3, 1)]


def test_clear_by_id_or_by_criteria():
    profiles = store(
        profile(id=1, connector_id=0, purpose="ChargePointMaxProfile"),
        profile(id=2, connector_id=1),
        profile(id=3, connector_id=2, stack_level=3),
    )

    assert profiles.clear(profile_id=9) == 0
    assert profiles.clear(purpose="TxDefaultProfile", stack_level=3) == 1
    assert profiles.clear(profile_id=1, connector_id=5) == 1  # id wins over the criteria
    assert [p.id for p in profiles.profiles] == [2]


def test_the_composite_schedule_is_the_lowest_limit_over_time_capped_by_the_hardware():
    profiles = store(
        profile(id=1, unit="A", periods=[(0, 32.0), (3600, 10.0)], duration=7200),
        profile(
            id=2,
            connector_id=0,
            purpose="ChargePointMaxProfile",
            periods=[(0, 20000.0), (5400, 5000.0)],
        ),
    )

    periods = profiles.composite(
        1, T0, 9000, "A", hardware_watts=11000.0, transaction_id=None, tx_start=None
    )

    assert periods == [
        {"start_period": 0, "limit": 15.9},  # 11 kW hardware on 3 x 230 V
        {"start_period": 3600, "limit": 10.0},
        {"start_period": 5400, "limit": 7.2},  # the station's 5 kW
    ]


def test_an_incomplete_profile_is_refused():
    try:
        profile(kind="Recurring", start=T0)  # no recurrencyKind
    except ValueError as exc:
        assert "recurrencyKind" in str(exc)
    else:
        raise AssertionError("accepted a Recurring profile without recurrencyKind")


# --- The station follows them -----------------------------------------------------------------


def cs_profile(
    profile_id: int, purpose: str, limit: float, unit: str = "W", **extra: Any
) -> dict[str, Any]:
    return {
        "chargingProfileId": profile_id,
        "stackLevel": extra.pop("stackLevel", 0),
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": extra.pop("kind", "Relative"),
        "chargingSchedule": {
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
        **extra,
    }


def power(meter_values: dict[str, Any]) -> int:
    for value in meter_values["meterValue"][0]["sampledValue"]:
        if value["measurand"] == "Power.Active.Import":
            return int(value["value"])
    raise AssertionError("no Power.Active.Import")


async def test_set_charging_profile_limits_the_power_and_clear_restores_it(
    central: FakeCentralSystem, start_station
):
    station = await start_station(meter_interval=0)
    station.present_tag(1, "TAG-ONE")
    await central.wait_for("StatusNotification", lambda p: p["status"] == "Charging")

    limited = await central.call(
        "SIM001",
        call.SetChargingProfile(
            connector_id=1, cs_charging_profiles=cs_profile(1, "TxProfile", 10.0, "A")
        ),
    )
    await central.call(
        "SIM001", call.TriggerMessage(requested_message="MeterValues", connector_id=1)
    )
    during = await central.wait_for("MeterValues")
    cleared = await central.call("SIM001", call.ClearChargingProfile(id=1))
    await central.call(
        "SIM001", call.TriggerMessage(requested_message="MeterValues", connector_id=1)
    )
    after = await central.wait_for("MeterValues", count=2)

    assert limited.status == "Accepted" and cleared.status == "Accepted"
    assert power(during) == 6900  # 10 A x 230 V x 3 phases
    assert power(after) == 11000


async def test_a_station_maximum_is_shared_by_the_charging_connectors(
    central: FakeCentralSystem, start_station
):
    station = await start_station(power_kw=22, meter_interval=0)
    station.present_tag(1, "TAG-ONE")
    station.present_tag(2, "TAG-TWO")
    await central.wait_for("StatusNotification", lambda p: p["status"] == "Charging", count=2)

    answer = await central.call(
        "SIM001",
        call.SetChargingProfile(
            connector_id=0,
            cs_charging_profiles=cs_profile(5, "ChargePointMaxProfile", 16000.0, kind="Absolute"),
        ),
    )
    await central.call("SIM001", call.TriggerMessage(requested_message="MeterValues"))
    first = await central.wait_for("MeterValues", lambda p: p["connectorId"] == 1)
    second = await central.wait_for("MeterValues", lambda p: p["connectorId"] == 2)

    assert answer.status == "Accepted"
    assert power(first) == power(second) == 8000


async def test_a_zero_limit_suspends_charging(central: FakeCentralSystem, start_station):
    station = await start_station(meter_interval=0)
    station.present_tag(1, "TAG-ONE")
    await central.wait_for("StatusNotification", lambda p: p["status"] == "Charging")

    await central.call(
        "SIM001",
        call.SetChargingProfile(connector_id=1, cs_charging_profiles=cs_profile(1, "TxProfile", 0)),
    )
    await central.wait_for("StatusNotification", lambda p: p["status"] == "SuspendedEVSE")

    assert station.connectors[1].power_w == 0


async def test_profiles_a_station_cannot_apply_are_rejected(
    central: FakeCentralSystem, start_station
):
    await start_station()

    tx_without_session = await central.call(
        "SIM001",
        call.SetChargingProfile(connector_id=1, cs_charging_profiles=cs_profile(1, "TxProfile", 1)),
    )
    max_on_a_connector = await central.call(
        "SIM001",
        call.SetChargingProfile(
            connector_id=1, cs_charging_profiles=cs_profile(2, "ChargePointMaxProfile", 1)
        ),
    )
    too_high = await central.call(
        "SIM001",
        call.SetChargingProfile(
            connector_id=1,
            cs_charging_profiles=cs_profile(3, "TxDefaultProfile", 1, stackLevel=11),
        ),
    )
    unknown = await central.call("SIM001", call.ClearChargingProfile(id=42))

    assert tx_without_session.status == "Rejected"
    assert max_on_a_connector.status == "Rejected"
    assert too_high.status == "Rejected"
    assert unknown.status == "Unknown"


def periods(answer: Any) -> list[tuple[int, float]]:
    return [
        (p["start_period"], float(p["limit"]))
        for p in answer.charging_schedule["charging_schedule_period"]
    ]


async def test_get_composite_schedule_reports_the_installed_limits(
    central: FakeCentralSystem, start_station
):
    await start_station()
    await central.call(
        "SIM001",
        call.SetChargingProfile(
            connector_id=1, cs_charging_profiles=cs_profile(1, "TxDefaultProfile", 4600.0)
        ),
    )

    in_amps = await central.call(
        "SIM001", call.GetCompositeSchedule(connector_id=1, duration=3600, charging_rate_unit="A")
    )
    in_watts = await central.call(
        "SIM001", call.GetCompositeSchedule(connector_id=2, duration=60, charging_rate_unit="W")
    )
    unknown = await central.call("SIM001", call.GetCompositeSchedule(connector_id=9, duration=60))

    assert in_amps.status == "Accepted" and in_amps.connector_id == 1
    assert in_amps.charging_schedule["charging_rate_unit"] == "A"
    # (the ocpp package hands schedule numbers over as Decimal)
    assert periods(in_amps) == [(0, 6.7)]  # 4.6 kW on 3 x 230 V
    assert periods(in_watts) == [(0, 11000.0)]  # no profile on connector 2: the hardware
    assert unknown.status == "Rejected"
