"""Charging profiles as a station applies them (OCPP 1.6 section 3.13).

Which limit applies to a connector at time t:
- station level: the ChargePointMaxProfile (connector 0) with the highest stack level that has
  a period at t; it caps the sum of all connectors;
- transaction level: during a transaction the TxProfile of that connector (highest stack level
  with a period at t), else the TxDefaultProfile of that connector, else the one of connector 0;
- the connector delivers the lowest of its hardware power, the transaction-level limit and its
  share of the station-level limit.
Limits in A are converted to W with the period's numberPhases (default 3) and the phase voltage
(AC), or the DC voltage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

TX_PROFILE = "TxProfile"
TX_DEFAULT_PROFILE = "TxDefaultProfile"
MAX_PROFILE = "ChargePointMaxProfile"
PURPOSES = (MAX_PROFILE, TX_DEFAULT_PROFILE, TX_PROFILE)
KINDS = ("Absolute", "Recurring", "Relative")
RECURRENCY = {"Daily": timedelta(days=1), "Weekly": timedelta(weeks=1)}


def parse_datetime(value: Any) -> datetime:
    """ISO 8601 from the wire; without a zone it is UTC. Raises ValueError."""
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).strip().replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Period:
    start: int  # seconds from the start of the schedule
    limit: float
    phases: int | None = None


@dataclass(frozen=True, slots=True)
class Electrical:
    """What converts A to W for this station."""

    dc: bool = False
    voltage: float = 230.0
    dc_voltage: float = 400.0
    phases: int = 3

    def watts(self, limit: float, unit: str, phases: int | None) -> float:
        if unit == "W":
            return limit
        if self.dc:
            return limit * self.dc_voltage
        return limit * self.voltage * (phases or self.phases)

    def in_unit(self, watts: float, unit: str, phases: int | None) -> float:
        if unit == "W":
            return watts
        if self.dc:
            return watts / self.dc_voltage
        return watts / (self.voltage * (phases or self.phases))


@dataclass(slots=True)
class ChargingProfile:
    id: int
    connector_id: int
    stack_level: int
    purpose: str
    kind: str
    unit: str
    periods: list[Period]
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: int | None = None
    duration: int | None = None
    start_schedule: datetime | None = None
    min_rate: float | None = None
    installed_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def from_ocpp(cls, connector_id: int, data: dict[str, Any], now: datetime) -> ChargingProfile:
        """From a csChargingProfiles object with snake_case keys (as the ocpp package hands
        it over). Raises ValueError for a profile a station cannot apply."""
        try:
            schedule = data["charging_schedule"]
            periods = sorted(
                (
                    Period(
                        start=int(p["start_period"]),
                        limit=float(p["limit"]),
                        phases=int(p["number_phases"]) if p.get("number_phases") else None,
                    )
                    for p in schedule["charging_schedule_period"]
                ),
                key=lambda p: p.start,
            )
            profile = cls(
                id=int(data["charging_profile_id"]),
                connector_id=connector_id,
                stack_level=int(data["stack_level"]),
                purpose=str(data["charging_profile_purpose"]),
                kind=str(data["charging_profile_kind"]),
                unit=str(schedule["charging_rate_unit"]),
                periods=periods,
                recurrency=data.get("recurrency_kind"),
                valid_from=_optional_datetime(data.get("valid_from")),
                valid_to=_optional_datetime(data.get("valid_to")),
                transaction_id=(
                    int(data["transaction_id"]) if data.get("transaction_id") is not None else None
                ),
                duration=int(schedule["duration"]) if schedule.get("duration") else None,
                start_schedule=_optional_datetime(schedule.get("start_schedule")),
                min_rate=(
                    float(schedule["min_charging_rate"])
                    if schedule.get("min_charging_rate") is not None
                    else None
                ),
                installed_at=now,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"incomplete charging profile: {exc}") from exc
        if profile.purpose not in PURPOSES:
            raise ValueError(f"unknown purpose {profile.purpose}")
        if profile.kind not in KINDS:
            raise ValueError(f"unknown kind {profile.kind}")
        if profile.unit not in ("A", "W"):
            raise ValueError(f"unknown unit {profile.unit}")
        if not periods or periods[0].start != 0:
            raise ValueError("the first schedule period must start at 0")
        if any(p.limit < 0 for p in periods):
            raise ValueError("negative limit")
        if profile.kind == "Recurring" and (
            profile.recurrency not in RECURRENCY or profile.start_schedule is None
        ):
            raise ValueError("a Recurring profile needs recurrencyKind and startSchedule")
        return profile

    def schedule_start(self, t: datetime, relative_start: datetime) -> datetime:
        if self.kind == "Relative":
            return relative_start
        if self.kind == "Recurring":
            assert self.start_schedule is not None and self.recurrency is not None
            cycle = RECURRENCY[self.recurrency]
            return self.start_schedule + cycle * ((t - self.start_schedule) // cycle)
        # Absolute without startSchedule: from when we received it (lenient, as most are).
        return self.start_schedule or self.installed_at

    def period_at(self, t: datetime, relative_start: datetime) -> Period | None:
        """The schedule period in force at t, or None (not valid, not started, or over)."""
        if self.valid_from is not None and t < self.valid_from:
            return None
        if self.valid_to is not None and t >= self.valid_to:
            return None
        start = self.schedule_start(t, relative_start)
        if t < start:
            return None
        offset = (t - start).total_seconds()
        if self.duration is not None and offset >= self.duration:
            return None
        current = None
        for period in self.periods:
            if period.start <= offset:
                current = period
            else:
                break
        return current

    def boundaries(self, start: datetime, end: datetime, relative_start: datetime) -> set[datetime]:
        """Instants in [start, end) where this profile's limit may change."""
        points: set[datetime] = set()
        for instant in (self.valid_from, self.valid_to):
            if instant is not None:
                points.add(instant)
        if self.kind == "Recurring":
            assert self.recurrency is not None
            cycle = RECURRENCY[self.recurrency]
            origin = self.schedule_start(start, relative_start)
            origins = []
            while origin < end:
                origins.append(origin)
                origin += cycle
        else:
            origins = [self.schedule_start(start, relative_start)]
        for origin in origins:
            points.update(origin + timedelta(seconds=p.start) for p in self.periods)
            if self.duration is not None:
                points.add(origin + timedelta(seconds=self.duration))
        return {point for point in points if start <= point < end}


def _optional_datetime(value: Any) -> datetime | None:
    return parse_datetime(value) if value else None


@dataclass(slots=True)
class Limit:
    watts: float
    phases: int | None = None


@dataclass(slots=True)
class ProfileStore:
    electrical: Electrical = field(default_factory=Electrical)
    profiles: list[ChargingProfile] = field(default_factory=list)

    def install(self, profile: ChargingProfile) -> None:
        """Replaces a profile with the same id, or the same connector, purpose and stack
        level (section 3.13.2)."""
        self.profiles = [
            p
            for p in self.profiles
            if p.id != profile.id
            and not (
                p.connector_id == profile.connector_id
                and p.purpose == profile.purpose
                and p.stack_level == profile.stack_level
            )
        ]
        self.profiles.append(profile)

    def clear(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> int:
        """ClearChargingProfile: by id, else by every criterion given. Returns how many."""

        def matches(p: ChargingProfile) -> bool:
            if profile_id is not None:
                return p.id == profile_id
            return (
                (connector_id is None or p.connector_id == connector_id)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        kept = [p for p in self.profiles if not matches(p)]
        removed = len(self.profiles) - len(kept)
        self.profiles = kept
        return removed

    def end_transaction(self, connector_id: int) -> None:
        """A TxProfile lives as long as its transaction."""
        self.profiles = [
            p
            for p in self.profiles
            if not (p.purpose == TX_PROFILE and p.connector_id == connector_id)
        ]

    def _highest(
        self, candidates: list[ChargingProfile], t: datetime, relative_start: datetime
    ) -> Limit | None:
        for profile in sorted(candidates, key=lambda p: p.stack_level, reverse=True):
            period = profile.period_at(t, relative_start)
            if period is not None:
                watts = self.electrical.watts(period.limit, profile.unit, period.phases)
                return Limit(watts, period.phases)
        return None

    def station_limit(self, t: datetime) -> Limit | None:
        candidates = [p for p in self.profiles if p.purpose == MAX_PROFILE]
        return self._highest(candidates, t, t)

    def transaction_limit(
        self,
        connector_id: int,
        t: datetime,
        *,
        transaction_id: int | None,
        tx_start: datetime | None,
    ) -> Limit | None:
        relative_start = tx_start or t
        if tx_start is not None:
            tx_profiles = [
                p
                for p in self.profiles
                if p.purpose == TX_PROFILE
                and p.connector_id == connector_id
                and (p.transaction_id is None or p.transaction_id == transaction_id)
            ]
            found = self._highest(tx_profiles, t, relative_start)
            if found is not None:
                return found
        for scope in (connector_id, 0):
            defaults = [
                p
                for p in self.profiles
                if p.purpose == TX_DEFAULT_PROFILE and p.connector_id == scope
            ]
            found = self._highest(defaults, t, relative_start)
            if found is not None:
                return found
        return None

    def next_change(
        self, connector_id: int, t: datetime, horizon: float, tx_start: datetime | None
    ) -> float | None:
        """Seconds from t to the next instant within horizon where a limit may change."""
        end = t + timedelta(seconds=horizon)
        relative_start = tx_start or t
        points: set[datetime] = set()
        for p in self.profiles:
            if p.connector_id in (0, connector_id):
                points |= p.boundaries(t, end, relative_start)
        later = [point for point in points if point > t]
        return (min(later) - t).total_seconds() if later else None

    def composite(
        self,
        connector_id: int,
        start: datetime,
        duration: int,
        unit: str,
        *,
        hardware_watts: float,
        transaction_id: int | None,
        tx_start: datetime | None,
    ) -> list[dict[str, Any]]:
        """GetCompositeSchedule's periods: the lowest applicable limit over [start,
        start+duration), with the hardware limit as the ceiling, equal neighbours merged."""
        end = start + timedelta(seconds=max(duration, 1))
        relative_start = tx_start or start
        points = {start}
        for p in self.profiles:
            if connector_id == 0 and p.purpose != MAX_PROFILE:
                continue
            if p.connector_id in (0, connector_id):
                points |= p.boundaries(start, end, relative_start)
        periods: list[dict[str, Any]] = []
        for instant in sorted(points):
            limits = [Limit(hardware_watts)]
            station = self.station_limit(instant)
            if station is not None:
                limits.append(station)
            if connector_id != 0:
                tx = self.transaction_limit(
                    connector_id, instant, transaction_id=transaction_id, tx_start=tx_start
                )
                if tx is not None:
                    limits.append(tx)
            lowest = min(limits, key=lambda limit: limit.watts)
            value = round(self.electrical.in_unit(lowest.watts, unit, lowest.phases), 1)
            entry: dict[str, Any] = {
                "start_period": int((instant - start).total_seconds()),
                "limit": value,
            }
            if lowest.phases is not None and not self.electrical.dc:
                entry["number_phases"] = lowest.phases
            if periods and {k: v for k, v in periods[-1].items() if k != "start_period"} == {
                k: v for k, v in entry.items() if k != "start_period"
            }:
                continue
            periods.append(entry)
        return periods
