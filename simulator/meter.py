"""Sampled values a station's meter reports (MeterValues, transactionData)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PHASES = ("L1", "L2", "L3")


@dataclass(slots=True)
class Reading:
    """The electrical state of one connector (or the whole station) at one instant."""

    register_wh: float
    power_w: float
    offered_w: float
    phases: int = 3
    soc: float | None = None  # DC only
    max_power_w: float = 1.0


def sampled_values(
    reading: Reading,
    measurands: list[str],
    *,
    context: str,
    dc: bool,
    voltage: float,
    dc_voltage: float,
) -> list[dict[str, Any]]:
    """One sampledValue per measurand (per phase for AC current and voltage). Measurands the
    station cannot measure (e.g. SoC on AC) are left out."""
    values: list[dict[str, Any]] = []

    def add(measurand: str, value: str, unit: str | None, **extra: str) -> None:
        item: dict[str, Any] = {
            "value": value,
            "context": context,
            "format": "Raw",
            "measurand": measurand,
            "location": extra.pop("location", "Outlet"),
        }
        item.update(extra)
        if unit is not None:
            item["unit"] = unit
        values.append(item)

    active_phases = PHASES[: max(1, min(3, reading.phases))]
    for measurand in measurands:
        if measurand == "Energy.Active.Import.Register":
            add(measurand, str(int(reading.register_wh)), "Wh")
        elif measurand == "Power.Active.Import":
            add(measurand, str(round(reading.power_w)), "W")
        elif measurand == "Power.Offered":
            add(measurand, str(round(reading.offered_w)), "W")
        elif measurand == "Current.Import":
            if dc:
                add(measurand, f"{reading.power_w / dc_voltage:.1f}", "A")
            else:
                amps = reading.power_w / (voltage * len(active_phases))
                for phase in PHASES:
                    add(
                        measurand,
                        f"{amps if phase in active_phases else 0.0:.1f}",
                        "A",
                        phase=phase,
                    )
        elif measurand == "Current.Offered":
            if dc:
                add(measurand, f"{reading.offered_w / dc_voltage:.1f}", "A")
            else:
                add(measurand, f"{reading.offered_w / (voltage * len(active_phases)):.1f}", "A")
        elif measurand == "Voltage":
            if dc:
                add(measurand, f"{dc_voltage:.1f}", "V")
            else:
                for phase in PHASES:
                    add(measurand, f"{voltage:.1f}", "V", phase=f"{phase}-N")
        elif measurand == "Frequency" and not dc:
            add(measurand, "50.0", None)
        elif measurand == "Temperature":
            load = reading.power_w / reading.max_power_w if reading.max_power_w else 0.0
            add(measurand, f"{25.0 + 15.0 * load:.1f}", "Celsius", location="Body")
        elif measurand == "SoC" and dc and reading.soc is not None:
            add(measurand, str(int(reading.soc)), "Percent", location="EV")
    return values
