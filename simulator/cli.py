"""Command line of the simulator, shared by ``python -m simulator`` (no Django)
and ``python manage.py simulate``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from simulator.config import FleetConfig, StationConfig, parse_range
from simulator.runner import FleetSummary, run_until_signalled

DEFAULT_URL = "ws://127.0.0.1:8000/ocpp"


def _range(text: str) -> tuple[float, float]:
    try:
        return parse_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _tags(text: str) -> tuple[str, ...]:
    tags = tuple(tag.strip() for tag in text.split(",") if tag.strip())
    if not tags or any(len(tag) > 20 for tag in tags):
        raise argparse.ArgumentTypeError("a comma-separated list of idTags of 1-20 characters")
    return tags


def add_arguments(parser: Any) -> None:
    add = parser.add_argument
    add(
        "--url",
        default=DEFAULT_URL,
        help=f"central system endpoint; stations connect to <url>/<identity> ({DEFAULT_URL})",
    )
    add("--count", type=int, default=1, help="number of stations (1)")
    add("--prefix", default="SIM", help="identity prefix: <prefix><NNN> (SIM)")
    add("--start-index", type=int, default=1, help="number of the first station (1)")
    add("--password", help="Basic auth password (user name = identity), security profile 1")
    add("--connectors", type=int, default=2, help="connectors per station (2)")
    add(
        "--power-kw",
        type=float,
        help="charging power per connector in kW (11 AC, 50 DC); profiles may lower it",
    )
    add(
        "--phases",
        type=int,
        default=0,
        choices=(0, 1, 2, 3),
        help="AC phases in use (default: 1 up to 7.4 kW, else 3)",
    )
    add("--dc", action="store_true", help="DC station: reports SoC, DC voltage and current")
    add(
        "--tags",
        type=_tags,
        help="idTags the drivers present, comma-separated (default: one per connector, "
        "<identity>-<connector>)",
    )
    add(
        "--auto-sessions",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="drivers come and charge on their own (on)",
    )
    add(
        "--first-session-seconds",
        type=_range,
        default=(1.0, 10.0),
        metavar="A-B",
        help="first automatic session starts within this many seconds (1-10)",
    )
    add(
        "--idle-seconds",
        type=_range,
        default=(10.0, 120.0),
        metavar="A-B",
        help="idle time between automatic sessions (10-120)",
    )
    add(
        "--session-minutes",
        type=_range,
        default=(5.0, 20.0),
        metavar="A-B",
        help="how long a driver charges (5-20); 0: until stopped remotely",
    )
    add(
        "--session-kwh",
        type=_range,
        metavar="A-B",
        help="a driver also leaves once this much energy is charged",
    )
    add(
        "--meter-interval",
        type=int,
        default=60,
        help="initial MeterValueSampleInterval in s (60); ChangeConfiguration may change it",
    )
    add("--duration", type=float, help="run this many seconds, then switch off and exit")
    add(
        "--ramp",
        type=float,
        help="spread the connects over this many seconds (default count/50, at most 10)",
    )
    add("--vendor", default="OCPP-Sim", help="chargePointVendor")
    add("--model", default="", help="chargePointModel (default from power and AC/DC)")
    add("--firmware-version", default="1.0.0")
    add(
        "--upload-method",
        default="POST",
        choices=("POST", "PUT"),
        help="GetDiagnostics over http(s): POST multipart/form-data or PUT raw (POST)",
    )
    add("--seed", type=int, help="random seed, for reproducible sessions")
    add(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="INFO: one line per notable event; DEBUG adds status changes and every frame",
    )


def fleet_from_options(options: dict[str, Any]) -> FleetConfig:
    """FleetConfig from parsed options; ValueError for inconsistent ones."""
    dc = bool(options.get("dc"))
    minutes = options.get("session_minutes")
    station = StationConfig(
        identity="",
        url=options.get("url") or DEFAULT_URL,
        password=options.get("password"),
        connectors=options.get("connectors") or 2,
        power_kw=options.get("power_kw") or (50.0 if dc else 11.0),
        phases=options.get("phases") or 0,
        dc=dc,
        tags=options.get("tags") or (),
        auto_sessions=bool(options.get("auto_sessions", True)),
        first_session_seconds=options.get("first_session_seconds") or (1.0, 10.0),
        idle_seconds=options.get("idle_seconds") or (10.0, 120.0),
        session_minutes=None if minutes is not None and minutes[1] == 0 else minutes,
        session_kwh=options.get("session_kwh"),
        meter_interval=options.get("meter_interval", 60),
        vendor=options.get("vendor") or "OCPP-Sim",
        model=options.get("model") or "",
        firmware_version=options.get("firmware_version") or "1.0.0",
        upload_method=options.get("upload_method") or "POST",
        seed=options.get("seed"),
    )
    if station.meter_interval < 0:
        raise ValueError("--meter-interval must be >= 0")
    return FleetConfig(
        station=station,
        count=options.get("count") or 1,
        prefix=options.get("prefix") or "SIM",
        start_index=options.get("start_index") or 1,
        ramp_seconds=options.get("ramp"),
        duration=options.get("duration"),
    )


def configure_logging(level: str, *, install_handler: bool) -> None:
    """Simulator events at ``level``; the ocpp package's per-frame lines only at DEBUG."""
    if install_handler:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger().setLevel(logging.WARNING if level != "DEBUG" else logging.DEBUG)
    logging.getLogger("simulator").setLevel(level)
    frames = logging.DEBUG if level == "DEBUG" else logging.WARNING
    logging.getLogger("simulator.frames").setLevel(frames)
    logging.getLogger("ocpp").setLevel(frames)


def run(fleet: FleetConfig) -> FleetSummary | None:
    """Run until Ctrl-C / SIGTERM / --duration. None when aborted (second Ctrl-C)."""
    try:
        return asyncio.run(run_until_signalled(fleet))
    except (KeyboardInterrupt, asyncio.CancelledError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="Simulated OCPP 1.6J charge points for any central system.",
    )
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    configure_logging(options["log_level"], install_handler=True)
    try:
        fleet = fleet_from_options(options)
    except ValueError as exc:
        parser.error(str(exc))
    summary = run(fleet)
    if summary is None:
        return 130
    print(summary, flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
