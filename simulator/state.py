"""What a simulated station knows about itself: its connectors, sessions and reservations,
and the constants and clock helpers every part of the station shares."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

logger = logging.getLogger("simulator")
# Every frame in and out, from the ocpp package (INFO there): quiet unless asked for.
frames_logger = logging.getLogger("simulator.frames")

SUBPROTOCOL = "ocpp1.6"
ACCEPTED = "Accepted"
REJECTED = "Rejected"

# Connector phases (the station's own view; the OCPP status is derived from them).
IDLE, PREPARING, CHARGING, FINISHING = "idle", "preparing", "charging", "finishing"
# Below 6 A per phase an AC EV cannot charge (IEC 61851): it pauses instead.
MIN_AC_AMPS = 6.0
GATE_TIMEOUT = 2.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class NotConnected(Exception):
    """The WebSocket closed (or was never open) while a CALL waited for its answer."""


@dataclass(eq=False, slots=True)
class Reservation:
    id: int
    connector_id: int
    id_tag: str
    expiry: datetime
    parent_id_tag: str | None = None
    timer: asyncio.Task[None] | None = None

    def admits(self, id_tag: str, parent_id_tag: str | None = None) -> bool:
        if id_tag.upper() == self.id_tag.upper():
            return True
        return bool(
            self.parent_id_tag
            and parent_id_tag
            and parent_id_tag.upper() == self.parent_id_tag.upper()
        )


@dataclass(eq=False, slots=True)
class Session:
    id_tag: str
    meter_start: int
    started_at: datetime
    origin: str  # "rfid" or "remote"
    reservation_id: int | None = None
    deadline: float | None = None  # monotonic time the driver stops at
    target_wh: float | None = None  # register value the driver stops at
    transaction_id: int | None = None
    id_tag_status: str = ACCEPTED


@dataclass(eq=False, slots=True)
class Connector:
    id: int
    operative: bool = True
    pending_operative: bool | None = None  # ChangeAvailability Scheduled
    phase: str = IDLE
    reservation: Reservation | None = None
    session: Session | None = None
    task: asyncio.Task[None] | None = None
    register_wh: float = 0.0
    power_w: float = 0.0
    offered_w: float = 0.0
    phases: int = 3
    soc: float | None = None
    ev_full: bool = False
    stop_reason: str | None = None
    unplug: bool = True  # go through Finishing after the stop (False on reboot/shutdown)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    last_tick: float = field(default_factory=time.monotonic)

    @property
    def busy(self) -> bool:
        return self.task is not None or self.phase != IDLE
