"""The station's configuration keys (OCPP 1.6 section 9): what GetConfiguration reads and
ChangeConfiguration writes.

Keys are matched case-insensitively (they are CiString50) and answered with their standard
spelling. Values are strings on the wire; booleans are "true"/"false", lists comma-separated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

BOOL, INT, CSL, TEXT = "bool", "int", "csl", "text"

# ChangeConfiguration answers (ocpp.v16.enums.ConfigurationStatus).
ACCEPTED, REJECTED, REBOOT_REQUIRED, NOT_SUPPORTED = (
    "Accepted",
    "Rejected",
    "RebootRequired",
    "NotSupported",
)

FEATURE_PROFILES = (
    "Core",
    "FirmwareManagement",
    "LocalAuthListManagement",
    "Reservation",
    "SmartCharging",
    "RemoteTrigger",
)

AC_MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Power.Offered",
    "Current.Import",
    "Current.Offered",
    "Voltage",
    "Frequency",
    "Temperature",
)
DC_MEASURANDS = (*tuple(m for m in AC_MEASURANDS if m != "Frequency"), "SoC")


@dataclass(slots=True)
class Key:
    name: str
    value: str
    readonly: bool = False
    kind: str = TEXT
    reboot_required: bool = False  # a change applies at the next boot
    allowed: tuple[str, ...] | None = None  # CSL: the items a value may contain
    max_items: int | None = None  # CSL


@dataclass(slots=True)
class ConfigurationStore:
    keys: dict[str, Key] = field(default_factory=dict)  # by upper-cased name
    listeners: list[Callable[[str, str], None]] = field(default_factory=list)

    @classmethod
    def of(cls, keys: Iterable[Key]) -> ConfigurationStore:
        return cls(keys={key.name.upper(): key for key in keys})

    def __contains__(self, name: str) -> bool:
        return name.upper() in self.keys

    def get(self, name: str) -> str:
        return self.keys[name.upper()].value

    def get_int(self, name: str) -> int:
        return int(self.get(name))

    def get_bool(self, name: str) -> bool:
        return self.get(name).lower() == "true"

    def get_list(self, name: str) -> list[str]:
        return [item.strip() for item in self.get(name).split(",") if item.strip()]

    def set(self, name: str, value: str) -> None:
        """Station-side update (e.g. HeartbeatInterval from BootNotification.conf): no checks,
        listeners notified."""
        key = self.keys[name.upper()]
        if key.value != value:
            key.value = value
            self._notify(key.name, value)

    def describe(self, names: list[str] | None) -> tuple[list[dict[str, object]], list[str]]:
        """GetConfiguration: (configurationKey entries, unknownKey names). No names = all."""
        if not names:
            return [self._entry(key) for key in self.keys.values()], []
        known: list[dict[str, object]] = []
        unknown: list[str] = []
        for name in names:
            key = self.keys.get(name.upper())
            if key is None:
                unknown.append(name)
            else:
                known.append(self._entry(key))
        return known, unknown

    def change(self, name: str, value: str) -> str:
        """ChangeConfiguration: NotSupported for an unknown key, Rejected for a read-only key
        or a value of the wrong type, else Accepted (RebootRequired for keys that apply at
        the next boot); the value is stored either way when accepted."""
        key = self.keys.get(name.upper())
        if key is None:
            return NOT_SUPPORTED
        if key.readonly:
            return REJECTED
        normalised = _normalise(key, value)
        if normalised is None:
            return REJECTED
        if key.value != normalised:
            key.value = normalised
            self._notify(key.name, normalised)
        return REBOOT_REQUIRED if key.reboot_required else ACCEPTED

    def _notify(self, name: str, value: str) -> None:
        for listener in self.listeners:
            listener(name, value)

    @staticmethod
    def _entry(key: Key) -> dict[str, object]:
        return {"key": key.name, "readonly": key.readonly, "value": key.value}


def _normalise(key: Key, value: str) -> str | None:
    value = value.strip()
    if key.kind == BOOL:
        return value.lower() if value.lower() in {"true", "false"} else None
    if key.kind == INT:
        try:
            number = int(value)
        except ValueError:
            return None
        return str(number) if number >= 0 else None
    if key.kind == CSL:
        items = [item.strip() for item in value.split(",") if item.strip()]
        if key.max_items is not None and len(items) > key.max_items:
            return None
        if key.allowed is not None:
            allowed = {item.upper(): item for item in key.allowed}
            if any(item.upper() not in allowed for item in items):
                return None
            items = [allowed[item.upper()] for item in items]
        return ",".join(items)
    return value


def standard_keys(
    *,
    connectors: int,
    dc: bool,
    heartbeat_interval: int,
    meter_interval: int,
) -> ConfigurationStore:
    """The OCPP 1.6 keys of the six feature profiles this station supports, with the
    read/write access most stations give them."""
    measurands = DC_MEASURANDS if dc else AC_MEASURANDS
    sampled = ["Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage"]
    if dc:
        sampled.append("SoC")
    max_items = len(measurands)
    rotation = ",".join(f"{n}.RST" for n in range(connectors + 1))

    def csl(name: str, value: str, *, allowed: tuple[str, ...] | None = measurands) -> Key:
        return Key(name, value, kind=CSL, allowed=allowed, max_items=max_items)

    def limit(name: str, value: int) -> Key:
        return Key(name, str(value), readonly=True, kind=INT)

    keys = [
        # Core
        Key("AllowOfflineTxForUnknownId", "false", kind=BOOL),
        Key("AuthorizationCacheEnabled", "true", kind=BOOL),
        Key("AuthorizeRemoteTxRequests", "true", kind=BOOL),
        Key("BlinkRepeat", "3", kind=INT),
        Key("ClockAlignedDataInterval", "0", kind=INT),
        Key("ConnectionTimeOut", "60", kind=INT),
        csl("ConnectorPhaseRotation", rotation, allowed=None),
        limit("ConnectorPhaseRotationMaxLength", connectors + 1),
        limit("GetConfigurationMaxKeys", 100),
        Key("HeartbeatInterval", str(heartbeat_interval), kind=INT),
        Key("LightIntensity", "100", kind=INT),
        Key("LocalAuthorizeOffline", "true", kind=BOOL),
        Key("LocalPreAuthorize", "false", kind=BOOL),
        Key("MaxEnergyOnInvalidId", "0", kind=INT),
        csl("MeterValuesAlignedData", "Energy.Active.Import.Register"),
        limit("MeterValuesAlignedDataMaxLength", max_items),
        csl("MeterValuesSampledData", ",".join(sampled)),
        limit("MeterValuesSampledDataMaxLength", max_items),
        Key("MeterValueSampleInterval", str(meter_interval), kind=INT),
        Key("MinimumStatusDuration", "0", kind=INT),
        limit("NumberOfConnectors", connectors),
        Key("ResetRetries", "3", kind=INT),
        Key("StopTransactionOnEVSideDisconnect", "true", kind=BOOL),
        Key("StopTransactionOnInvalidId", "true", kind=BOOL),
        csl("StopTxnAlignedData", ""),
        limit("StopTxnAlignedDataMaxLength", max_items),
        csl("StopTxnSampledData", "Energy.Active.Import.Register"),
        limit("StopTxnSampledDataMaxLength", max_items),
        Key(
            "SupportedFeatureProfiles",
            ",".join(FEATURE_PROFILES),
            readonly=True,
            kind=CSL,
        ),
        limit("SupportedFeatureProfilesMaxLength", len(FEATURE_PROFILES)),
        Key("TransactionMessageAttempts", "3", kind=INT),
        Key("TransactionMessageRetryInterval", "60", kind=INT),
        Key("UnlockConnectorOnEVSideDisconnect", "true", kind=BOOL),
        # The WebSocket is already open: a new ping interval applies from the next connection.
        Key("WebSocketPingInterval", "60", kind=INT, reboot_required=True),
        # Local Auth List Management
        Key("LocalAuthListEnabled", "true", kind=BOOL),
        limit("LocalAuthListMaxLength", 1000),
        limit("SendLocalListMaxLength", 250),
        # Reservation
        Key("ReserveConnectorZeroSupported", "false", readonly=True, kind=BOOL),
        # Smart Charging
        limit("ChargeProfileMaxStackLevel", 10),
        Key(
            "ChargingScheduleAllowedChargingRateUnit",
            "Current,Power",
            readonly=True,
            kind=CSL,
        ),
        limit("ChargingScheduleMaxPeriods", 24),
        Key("ConnectorSwitch3to1PhaseSupported", "false", readonly=True, kind=BOOL),
        limit("MaxChargingProfilesInstalled", 20),
    ]
    return ConfigurationStore.of(keys)
