"""The station's configuration key store."""

from __future__ import annotations

from simulator.keys import standard_keys


def keys(**overrides: object):
    settings: dict = {"connectors": 2, "dc": False, "heartbeat_interval": 300, "meter_interval": 60}
    settings.update(overrides)
    return standard_keys(**settings)


def test_keys_match_case_insensitively_and_answer_with_the_standard_spelling():
    store = keys()

    known, unknown = store.describe(["HEARTBEATINTERVAL", "numberofconnectors", "Foo"])

    assert known == [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
    ]
    assert unknown == ["Foo"]


def test_values_are_checked_against_the_keys_type():
    store = keys()

    assert store.change("AuthorizeRemoteTxRequests", "TRUE") == "Accepted"
    assert store.get("AuthorizeRemoteTxRequests") == "true"
    assert store.change("AuthorizeRemoteTxRequests", "yes") == "Rejected"
    assert store.change("MeterValueSampleInterval", "-5") == "Rejected"
    assert store.change("MeterValueSampleInterval", " 15 ") == "Accepted"
    assert store.get_int("MeterValueSampleInterval") == 15


def test_measurand_lists_accept_only_what_the_meter_measures():
    ac, dc = keys(), keys(dc=True)

    assert ac.change("MeterValuesSampledData", "voltage, Current.Import") == "Accepted"
    assert ac.get("MeterValuesSampledData") == "Voltage,Current.Import"
    assert ac.change("MeterValuesSampledData", "SoC") == "Rejected"
    assert dc.change("MeterValuesSampledData", "SoC,Energy.Active.Import.Register") == "Accepted"
    assert "SoC" in dc.get("MeterValuesSampledData")


def test_a_change_notifies_listeners_once_and_only_when_the_value_changes():
    store = keys()
    seen: list[tuple[str, str]] = []
    store.listeners.append(lambda name, value: seen.append((name, value)))

    store.change("heartbeatinterval", "60")
    store.change("HeartbeatInterval", "60")
    store.set("HeartbeatInterval", "30")

    assert seen == [("HeartbeatInterval", "60"), ("HeartbeatInterval", "30")]


def test_the_default_keys_describe_the_supported_profiles():
    store = keys(connectors=3)

    assert store.get_list("SupportedFeatureProfiles") == [
        "Core",
        "FirmwareManagement",
        "LocalAuthListManagement",
        "Reservation",
        "SmartCharging",
        "RemoteTrigger",
    ]
    assert store.get("ConnectorPhaseRotation") == "0.RST,1.RST,2.RST,3.RST"
    assert store.change("SupportedFeatureProfiles", "Core") == "Rejected"
