"""Simulated OCPP 1.6J charge points (``python manage.py simulate``, or without Django
``python -m ocpp_gateway.simulator``). Nothing in this package imports Django: it drives any
OCPP 1.6J central system by URL."""

from __future__ import annotations

from ocpp_gateway.simulator.config import FleetConfig, StationConfig
from ocpp_gateway.simulator.runner import FleetSummary, run_fleet
from ocpp_gateway.simulator.station import SimulatedStation

__all__ = ["FleetConfig", "FleetSummary", "SimulatedStation", "StationConfig", "run_fleet"]
