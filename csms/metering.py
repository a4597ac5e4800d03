"""Energy readings of a session in Wh, whatever unit the station used. Pure: no database.

OCPP 1.6 says meterStart and meterStop are integer Wh and a sampled value's unit defaults to
Wh, but real stations differ: some report every Energy.Active.Import.Register in kWh (``unit:
kWh``, which the spec allows) and some of those send meterStart/meterStop in kWh as well (12
for 12 kWh). The samples carry their unit, so **the samples decide**:

- a register sample is read in Wh from its unit (``register_wh``);
- on a station whose register samples are in kWh, meterStart (meterStop) is read as kWh when
  that puts it nearer the session's first (last) register sample than reading it as Wh does
  (``meter_reading_wh``): 12 next to samples of 12.3 kWh is 12,000 Wh;
- meterStop is **implausible** when it is below meterStart, or below the last register sample
  by more than 1% of that sample, or above it by more than 1% when that sample was taken at
  the stop or later (a Transaction.End reading; a sample taken earlier may rightly be
  exceeded by what was charged since). Then the samples win: the energy is the last sample
  minus meterStart (``energy_settle``), and the session is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

ENERGY_REGISTER = "Energy.Active.Import.Register"
_UNIT_FACTOR = {"": Decimal(1), "Wh": Decimal(1), "kWh": Decimal(1000)}
TOLERANCE = Decimal("0.01")


@dataclass(frozen=True)
class Register:
    """An Energy.Active.Import.Register sample: when, its value in Wh, whether sent in kWh."""

    timestamp: datetime
    wh: Decimal
    kwh: bool


def register_wh(value: Decimal | None, unit: str) -> Decimal | None:
    """A register sample's value in Wh (no unit: Wh); None for a unit that is not energy."""
    factor = _UNIT_FACTOR.get(unit)
    if value is None or factor is None:
        return None
    return value * factor


def meter_reading_wh(value: int, *, kwh_registers: bool, near: Decimal | None) -> Decimal:
    """meterStart or meterStop in Wh: as sent, unless the station's registers are in kWh and
    reading ``value`` as kWh puts it nearer ``near`` (the register sample around that time)."""
    as_wh = Decimal(value)
    if not kwh_registers or near is None:
        return as_wh
    as_kwh = as_wh * 1000
    return as_kwh if abs(as_kwh - near) < abs(as_wh - near) else as_wh


@dataclass(frozen=True)
class Settled:
    """What a stopped session delivered: ``energy_wh``, whether meterStop was implausible,
    and a note saying how the figure was reached when it is not plain meterStop - meterStart."""

    energy_wh: int
    implausible: bool
    note: str
    stop_wh: Decimal  # the register at the end, in Wh


def energy_settle(
    *,
    meter_start: int,
    meter_stop: int,
    stopped_at: datetime,
    first: Register | None,
    last: Register | None,
) -> Settled:
    """The session's energy from its readings and its first and last register samples (see
    the module's rules)."""
    kwh = bool((first and first.kwh) or (last and last.kwh))
    start_wh = meter_reading_wh(meter_start, kwh_registers=kwh, near=first.wh if first else None)
    stop_wh = meter_reading_wh(meter_stop, kwh_registers=kwh, near=last.wh if last else None)
    notes = []
    if start_wh != meter_start or stop_wh != meter_stop:
        notes.append("meterStart/meterStop read as kWh, like the station's register samples")
    problem = ""
    if stop_wh < start_wh:
        problem = f"meterStop {meter_stop} is below meterStart {meter_start}"
    elif last is not None:
        allowed = max(abs(last.wh) * TOLERANCE, Decimal(1))
        if last.wh - stop_wh > allowed:
            problem = f"meterStop {meter_stop} is below the last register sample ({last.wh} Wh)"
        elif stop_wh - last.wh > allowed and last.timestamp >= stopped_at:
            problem = (
                f"meterStop {meter_stop} is above the register sample at the stop ({last.wh} Wh)"
            )
    if problem and last is not None:
        end_wh = max(last.wh, start_wh)
        notes.append(f"{problem}: the energy is taken from the samples")
        return Settled(_whole(end_wh - start_wh), True, "; ".join(notes), end_wh)
    if problem:  # below meterStart and no sample to go by: nothing provably delivered
        notes.append(f"{problem}: no register sample, so no energy is counted")
        return Settled(0, True, "; ".join(notes), start_wh)
    return Settled(_whole(stop_wh - start_wh), False, "; ".join(notes), stop_wh)


def _whole(wh: Decimal) -> int:
    return int(wh.to_integral_value())
