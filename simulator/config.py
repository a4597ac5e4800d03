"""What a simulated station is and how its driver behaves. Plain data, no Django."""

from __future__ import annotations

from dataclasses import dataclass, field

Range = tuple[float, float]


def parse_range(text: str) -> Range:
    """``"5"`` -> (5, 5); ``"5-20"`` -> (5, 20). Raises ValueError for anything else."""
    parts = [part.strip() for part in str(text).split("-")]
    if len(parts) == 1:
        low = high = float(parts[0])
    elif len(parts) == 2:
        low, high = float(parts[0]), float(parts[1])
    else:
        raise ValueError(f"expected N or A-B, got {text!r}")
    if low < 0 or high < low:
        raise ValueError(f"expected 0 <= A <= B, got {text!r}")
    return low, high


@dataclass(slots=True)
class StationConfig:
    """One simulated charge point. Times are seconds unless the name says otherwise."""

    identity: str
    url: str = "ws://127.0.0.1:8000/ocpp"
    password: str | None = None
    connectors: int = 2
    power_kw: float = 11.0  # per connector, what the hardware can deliver
    dc: bool = False
    phases: int = 0  # AC phases in use; 0: 1 up to 7.4 kW (32 A), else 3
    voltage: float = 230.0  # AC phase-to-neutral
    dc_voltage: float = 400.0
    battery_kwh: float = 60.0  # DC: the EV's battery, for SoC
    initial_soc: Range = (10.0, 60.0)

    # Drivers. Tags: the RFID cards drivers present; empty = one card per connector,
    # "<identity>-<connector>".
    tags: tuple[str, ...] = ()
    auto_sessions: bool = False
    first_session_seconds: Range = (1.0, 10.0)  # first plug-in after start
    idle_seconds: Range = (10.0, 120.0)  # between sessions
    session_minutes: Range | None = (5.0, 20.0)  # None: charge until stopped remotely
    session_kwh: Range | None = None  # driver also stops once this much energy is in

    # Initial values of the configuration keys the central system may change later.
    meter_interval: int = 60  # MeterValueSampleInterval
    heartbeat_interval: int = 300  # until BootNotification.conf says otherwise

    # Identification sent in BootNotification.
    vendor: str = "OCPP-Sim"
    model: str = ""  # default derived from power and AC/DC
    firmware_version: str = "1.0.0"

    # Timing of the simulated hardware and network behaviour.
    response_timeout: float = 30.0
    open_timeout: float = 10.0
    reconnect_min: float = 1.0
    reconnect_max: float = 30.0
    boot_retry_seconds: float = 30.0  # Pending/Rejected with interval 0
    reboot_seconds: float = 3.0
    unplug_seconds: float = 2.0  # Finishing -> Available
    firmware_step_seconds: float = 2.0  # each firmware update stage
    upload_method: str = "POST"  # GetDiagnostics over HTTP: POST multipart or PUT raw
    upload_timeout: float = 30.0
    seed: int | None = None  # random seed: sessions, SoC

    def __post_init__(self) -> None:
        if self.connectors < 1:
            raise ValueError("a station has at least one connector")
        if self.power_kw <= 0:
            raise ValueError("power_kw must be positive")
        if self.upload_method.upper() not in {"POST", "PUT"}:
            raise ValueError("upload_method is POST or PUT")
        self.upload_method = self.upload_method.upper()
        if self.phases == 0:
            self.phases = 1 if self.power_kw <= 7.4 else 3
        elif self.phases not in (1, 2, 3):
            raise ValueError("phases is 1, 2 or 3")
        if not self.model:
            kind = "DC" if self.dc else "AC"
            self.model = f"Sim{kind}-{self.power_kw:g}kW"

    def tags_for(self, connector_id: int) -> tuple[str, ...]:
        # idTag is at most 20 characters: keep the distinctive end of a long identity.
        return self.tags or (f"{self.identity}-{connector_id}"[-20:],)


@dataclass(slots=True)
class FleetConfig:
    """N stations ``<prefix><NNN>`` sharing one template."""

    station: StationConfig
    count: int = 1
    prefix: str = "SIM"
    start_index: int = 1
    ramp_seconds: float | None = None  # spread connects; None: count/50 s, at most 10 s
    duration: float | None = None  # run this long, then shut down cleanly
    shutdown_timeout: float = 15.0
    identities: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if not self.identities:
            width = max(3, len(str(self.start_index + self.count - 1)))
            self.identities = [
                f"{self.prefix}{number:0{width}d}"
                for number in range(self.start_index, self.start_index + self.count)
            ]

    @property
    def ramp(self) -> float:
        if self.ramp_seconds is not None:
            return self.ramp_seconds
        return min(self.count / 50.0, 10.0)

    def all_tags(self) -> list[str]:
        """Every tag a driver of this fleet may present (for seeding a test platform)."""
        if self.station.tags:
            return list(self.station.tags)
        return [
            f"{identity}-{connector}"[-20:]
            for identity in self.identities
            for connector in range(1, self.station.connectors + 1)
        ]
