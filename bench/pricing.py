"""How long the pricing engine takes on the largest inputs the API accepts.

    .venv/bin/python bench/pricing.py

Prices three sessions, each 10,000 meter samples (the preview API's limit), best of 5 runs:
a plain energy tariff over a day, the demo tariff (FLAT, ENERGY, PARKING_TIME with steps)
over a day, and a 100-element tariff of ten-minute time windows over a month (every local-time
cut of the month in play). No database, no Django: the engine is pure.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from billing.pricing.engine import MeterSample, price_session
from billing.pricing.ocpi import tariff_from_ocpi

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
ZONE = "Europe/Amsterdam"


def component(kind: str, price: str, step: int = 1) -> dict[str, object]:
    return {"type": kind, "price": price, "vat": 21, "step_size": step}


def samples(span: dt.timedelta, count: int = 10_000) -> list[MeterSample]:
    every = span / count
    # Charging for 9 samples in 10, then one interval parked: both dimensions are exercised.
    energy, out = Decimal(0), []
    for i in range(count):
        out.append(MeterSample(START + every * i, energy, Decimal(11000), Decimal(48)))
        if i % 10 != 9:
            energy += Decimal(11000) * Decimal(every.total_seconds()) / 3600
    return out


CASES = {
    "energy only, 1 day": (
        {"currency": "EUR", "elements": [{"price_components": [component("ENERGY", "0.30")]}]},
        dt.timedelta(days=1),
    ),
    "FLAT + ENERGY + PARKING_TIME, 1 day": (
        {
            "currency": "EUR",
            "elements": [
                {"price_components": [component("FLAT", "1.00")]},
                {"price_components": [component("ENERGY", "0.35")]},
                {"price_components": [component("PARKING_TIME", "6.00", 60)]},
            ],
        },
        dt.timedelta(days=1),
    ),
    "100 elements of time windows, 30 days": (
        {
            "currency": "EUR",
            "elements": [
                {
                    "price_components": [component("TIME", f"{1 + i / 100:.2f}")],
                    "restrictions": {
                        "start_time": f"{i // 6:02d}:{i % 6 * 10:02d}",
                        "end_time": f"{i // 6:02d}:{i % 6 * 10 + 5:02d}",
                    },
                }
                for i in range(99)
            ]
            + [{"price_components": [component("ENERGY", "0.30")]}],
        },
        dt.timedelta(days=30),
    ),
}


def main() -> None:
    print("| Case (10,000 samples) | best of 5 | median | total cost |")
    print("|---|---|---|---|")
    for name, (document, span) in CASES.items():
        tariff, readings = tariff_from_ocpi(document), samples(span)
        runs = []
        for _ in range(5):
            began = time.perf_counter()
            priced = price_session(tariff=tariff, samples=readings, timezone=ZONE)
            runs.append(time.perf_counter() - began)
        cost = priced.total_cost
        print(
            f"| {name} | {min(runs) * 1000:.0f} ms | {statistics.median(runs) * 1000:.0f} ms "
            f"| {cost.excl_vat} excl. / {cost.incl_vat} incl. |"
        )


if __name__ == "__main__":
    main()
