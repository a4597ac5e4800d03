"""GET /api/v1/transactions/, /transactions/<id>/ and /transactions/<id>/meter-values/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from csms.models import MeterValue
from csms.services.transactions import meter_values_record
from tests.conftest import load_frame
from tests.factories import make_charge_point, make_transaction

pytestmark = pytest.mark.django_db

LIST = "/api/v1/transactions/"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def sessions():
    """CP1: a finished session (tag abc) and a running one (tag XYZ); CP2: one finished (ABC)."""
    cp1 = make_charge_point(identity="CP1")
    cp2 = make_charge_point(identity="CP2")
    finished = make_transaction(
        charge_point=cp1,
        connector_id=1,
        id_tag="abc",
        meter_start=1000,
        started_at=T0,
        meter_stop=8500,
        stopped_at=T0 + timedelta(hours=2),
        stop_reason="EVDisconnected",
        energy_wh=7500,
    )
    running = make_transaction(
        charge_point=cp1,
        connector_id=2,
        id_tag="XYZ",
        meter_start=500,
        started_at=T0 + timedelta(hours=3),
        reservation_id=7,
        last_meter_wh=2500,
        last_power_w=Decimal("7200.0"),
        last_soc=64,
        last_meter_at=T0 + timedelta(hours=3, minutes=20),
    )
    other = make_transaction(
        charge_point=cp2,
        id_tag="ABC",
        started_at=T0 + timedelta(days=1),
        meter_stop=2000,
        stopped_at=T0 + timedelta(days=1, hours=1),
        energy_wh=1000,
    )
    return {"finished": finished, "running": running, "other": other}


def ids(client, query: str = "") -> list[int]:
    response = client.get(LIST + query)
    assert response.status_code == 200, response.data
    return [row["id"] for row in response.data["results"]]


def test_it_lists_transactions_newest_first(support_api, sessions):
    assert ids(support_api) == [
        sessions["other"].pk,
        sessions["running"].pk,
        sessions["finished"].pk,
    ]


def test_it_filters_transactions(operator_api, sessions):
    f, r, o = sessions["finished"].pk, sessions["running"].pk, sessions["other"].pk
    assert ids(operator_api, "?charge_point=CP1") == [r, f]
    assert ids(operator_api, "?charge_point=CP1&connector_id=2") == [r]
    assert ids(operator_api, "?id_tag=Abc") == [o, f]  # case-insensitive
    assert ids(operator_api, "?active=true") == [r]
    assert ids(operator_api, "?active=false") == [o, f]
    assert ids(operator_api, "?started_after=2025-03-01T09:00:00Z") == [o, r]
    assert ids(operator_api, "?started_before=2025-03-01T09:00:00Z") == [f]
    assert ids(operator_api, "?started_after=2025-03-01&started_before=2025-03-02") == [r, f]
    assert ids(operator_api, "?charge_point=NOPE") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?started_after=last-week", "started_after"),
        ("?started_before=2025-02-30T00:00:00Z", "started_before"),
        ("?active=sometimes", "active"),
        ("?connector_id=first", "connector_id"),
        (
            "?started_after=2025-03-02T00:00:00Z&started_before=2025-03-01T00:00:00Z",
            "started_before",
        ),
    ],
)
def test_it_rejects_unreadable_filters_with_400(operator_api, sessions, query, field):
    response = operator_api.get(LIST + query)
    assert response.status_code == 400
    assert field in response.data


def test_it_shows_a_finished_transaction(operator_api, sessions):
    tx = sessions["finished"]
    body = operator_api.get(f"{LIST}{tx.pk}/").data
    assert body["id"] == tx.pk
    assert body["charge_point"] == "CP1"
    assert body["connector_id"] == 1
    assert body["id_tag"] == "abc"
    assert (body["meter_start"], body["meter_stop"], body["energy_wh"]) == (1000, 8500, 7500)
    assert body["started_at"] == "2025-03-01T08:00:00Z"
    assert body["stopped_at"] == "2025-03-01T10:00:00Z"
    assert body["stop_reason"] == "EVDisconnected"
    assert body["active"] is False


def test_it_shows_the_live_figures_of_a_running_transaction(operator_api, sessions):
    body = operator_api.get(f"{LIST}{sessions['running'].pk}/").data
    assert body["active"] is True
    assert body["stopped_at"] is None and body["energy_wh"] is None
    assert body["reservation_id"] == 7
    assert body["last_meter_wh"] == 2500
    assert body["last_power_w"] == "7200.0"
    assert body["last_soc"] == 64
    assert body["last_meter_at"] == "2025-03-01T11:20:00Z"


def test_unknown_transactions_are_404(operator_api):
    response = operator_api.get(f"{LIST}424242/")
    assert response.status_code == 404
    assert "424242" in response.data["detail"]
    assert operator_api.get(f"{LIST}424242/meter-values/").status_code == 404


def test_drivers_and_anonymous_cannot_read_transactions(driver_api, anonymous_api, sessions):
    pk = sessions["finished"].pk
    for url in (LIST, f"{LIST}{pk}/", f"{LIST}{pk}/meter-values/"):
        assert driver_api.get(url).status_code == 403
        assert anonymous_api.get(url).status_code == 401


def test_transactions_are_read_only(operator_api, sessions):
    pk = sessions["finished"].pk
    assert operator_api.post(LIST, {}, format="json").status_code == 405
    assert operator_api.patch(f"{LIST}{pk}/", {"meter_stop": 1}, format="json").status_code == 405
    assert operator_api.delete(f"{LIST}{pk}/").status_code == 405


def test_the_list_costs_a_fixed_number_of_queries(operator_api, django_assert_max_num_queries):
    stations = [make_charge_point(identity=f"CP{n}") for n in range(5)]
    for n in range(30):
        make_transaction(charge_point=stations[n % 5], started_at=T0 + timedelta(minutes=n))
    operator_api.get(LIST)
    # auth token + user groups + count + one joined page query
    with django_assert_max_num_queries(5):
        response = operator_api.get(LIST)
    assert len(response.data["results"]) == 30
    assert {row["charge_point"] for row in response.data["results"]} == {f"CP{n}" for n in range(5)}


# --- Meter values -------------------------------------------------------------------------


def sample(tx, *, minutes: int, measurand: str, value: str, unit: str = "Wh", **fields):
    return MeterValue.objects.create(
        charge_point=tx.charge_point,
        connector_id=tx.connector_id,
        transaction=tx,
        timestamp=T0 + timedelta(minutes=minutes),
        measurand=measurand,
        value=value,
        value_decimal=Decimal(value),
        unit=unit,
        **fields,
    )


def test_it_lists_meter_values_in_time_order_with_filters(support_api, sessions):
    tx = sessions["finished"]
    sample(tx, minutes=10, measurand="Energy.Active.Import.Register", value="2000")
    sample(tx, minutes=10, measurand="Power.Active.Import", value="7.2", unit="kW")
    sample(
        tx,
        minutes=0,
        measurand="Energy.Active.Import.Register",
        value="1000",
        context="Transaction.Begin",
    )
    sample(
        tx,
        minutes=5,
        measurand="Current.Import",
        value="16.1",
        unit="A",
        phase="L1",
        location="Outlet",
    )
    sample(sessions["other"], minutes=1, measurand="Energy.Active.Import.Register", value="9")
    url = f"{LIST}{tx.pk}/meter-values/"

    rows = support_api.get(url).data["results"]
    assert [(r["measurand"], r["value"]) for r in rows] == [
        ("Energy.Active.Import.Register", "1000"),
        ("Current.Import", "16.1"),
        ("Energy.Active.Import.Register", "2000"),
        ("Power.Active.Import", "7.2"),
    ]
    assert rows[0]["context"] == "Transaction.Begin"
    assert (rows[1]["phase"], rows[1]["unit"], rows[1]["location"]) == ("L1", "A", "Outlet")
    assert rows[1]["value_decimal"] == "16.100000"

    energy = support_api.get(url + "?measurand=Energy.Active.Import.Register").data["results"]
    assert [r["value"] for r in energy] == ["1000", "2000"]
    window = support_api.get(url + "?since=2025-03-01T08:05:00Z&until=2025-03-01T08:10:00Z")
    assert [r["value"] for r in window.data["results"]] == ["16.1"]
    assert support_api.get(url + "?since=noon").status_code == 400


def test_meter_values_are_paginated(operator_api, sessions):
    tx = sessions["finished"]
    for minute in range(7):
        sample(tx, minutes=minute, measurand="Energy.Active.Import.Register", value=str(minute))
    url = f"{LIST}{tx.pk}/meter-values/?page_size=3"
    values: list[str] = []
    while url:
        page = operator_api.get(url).data
        values += [r["value"] for r in page["results"]]
        url = page["next"]
    assert values == [str(minute) for minute in range(7)]


def test_it_gives_energy_in_wh_and_power_in_w_whatever_unit_the_station_sent(support_api, sessions):
    tx = sessions["running"]
    payload = load_frame("meter_values")[3]  # energy in kWh, power in kW
    for meter_value in payload["meterValue"]:
        meter_value["timestamp"] = datetime.fromisoformat(meter_value["timestamp"])
    meter_values_record(
        charge_point=tx.charge_point,
        connector_id=tx.connector_id,
        transaction=tx,
        meter_values=payload["meterValue"],
    )

    rows = support_api.get(f"{LIST}{tx.pk}/meter-values/").data["results"]

    normalised = {r["measurand"]: (r["value"], r["value_wh"], r["value_w"]) for r in rows}
    assert normalised == {
        "Energy.Active.Import.Register": ("1290.512", "1290512.000000", None),
        "Power.Active.Import": ("7.36", None, "7360.000000"),
        "Voltage": ("231.4", None, None),
        "Current.Import": ("31.8", None, None),
        "SoC": ("57", None, None),
    }


@pytest.mark.parametrize(
    ("measurand", "unit", "value", "value_wh", "value_w"),
    [
        ("Energy.Active.Import.Register", "Wh", "2000", "2000.000000", None),
        ("Energy.Active.Import.Register", "kWh", "12.345678", "12345.678000", None),
        # OCPP 1.6: a sampled value without a unit is in Wh.
        ("Energy.Active.Import.Register", "", "150", "150.000000", None),
        ("Energy.Active.Export.Register", "kWh", "3", "3000.000000", None),
        ("Energy.Active.Import.Interval", "kWh", "0.5", "500.000000", None),
        (
            "Energy.Active.Import.Register",
            "kWh",
            "99999999999999",
            "99999999999999000.000000",
            None,
        ),
        ("Power.Active.Import", "W", "11000", None, "11000.000000"),
        ("Power.Active.Export", "kW", "-1.5", None, "-1500.000000"),
        ("Power.Offered", "kW", "22", None, "22000.000000"),
        # No unit on a power reading: W (the spec's default, Wh, is not a power unit).
        ("Power.Active.Import", "", "7400", None, "7400.000000"),
        # Reactive energy and power are in varh and var, not Wh and W.
        ("Energy.Reactive.Import.Register", "kvarh", "1", None, None),
        ("Power.Reactive.Import", "kvar", "1", None, None),
        ("Power.Factor", "", "0.98", None, None),
        ("Current.Import", "A", "16", None, None),
        ("SoC", "Percent", "80", None, None),
        # A unit that does not fit the measurand: no guess.
        ("Energy.Active.Import.Register", "kW", "7", None, None),
        ("Power.Active.Import", "kWh", "7", None, None),
    ],
)
def test_it_normalises_energy_to_wh_and_power_to_w(
    operator_api, sessions, measurand, unit, value, value_wh, value_w
):
    tx = sessions["finished"]
    sample(tx, minutes=1, measurand=measurand, value=value, unit=unit)

    row = operator_api.get(f"{LIST}{tx.pk}/meter-values/").data["results"][0]

    assert (row["value_wh"], row["value_w"]) == (value_wh, value_w)


def test_a_value_that_is_not_a_number_has_no_normalised_value(operator_api, sessions):
    tx = sessions["finished"]
    MeterValue.objects.create(
        charge_point=tx.charge_point,
        connector_id=1,
        transaction=tx,
        timestamp=T0,
        measurand="Energy.Active.Import.Register",
        unit="kWh",
        format="SignedData",
        value="3045022100abcdef",
        value_decimal=None,
    )

    row = operator_api.get(f"{LIST}{tx.pk}/meter-values/").data["results"][0]

    assert (row["value_decimal"], row["value_wh"], row["value_w"]) == (None, None, None)


def test_a_page_of_meter_values_costs_the_same_queries_however_long(
    operator_api, sessions, django_assert_max_num_queries
):
    tx = sessions["finished"]
    for minute in range(40):
        sample(tx, minutes=minute, measurand="Energy.Active.Import.Register", value="1", unit="kWh")
        sample(tx, minutes=minute, measurand="Power.Active.Import", value="7", unit="kW")

    # auth token + user groups + the transaction + one page query
    with django_assert_max_num_queries(4):
        response = operator_api.get(f"{LIST}{tx.pk}/meter-values/?page_size=80")
    assert len(response.data["results"]) == 80


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/api/v1/transactions/?id_tag=%00", 400),
        ("/api/v1/transactions/?charge_point=A%00", 400),
        ("/api/v1/charge-points/?search=%00", 400),
        ("/api/v1/id-tags/?search=%00", 400),
        ("/api/v1/connection-attempts/?identity=%00", 400),
        ("/api/v1/id-tags/A%00/", 404),
    ],
)
def test_it_answers_a_nul_character_in_a_filter_or_tag_with_a_4xx(operator_api, url, expected):
    # PostgreSQL text cannot hold NUL: passed on, the database would raise (a 500).
    assert operator_api.get(url).status_code == expected


def test_it_shows_why_a_stale_session_ended_and_the_stations_late_stop(operator_api):
    late = {"meterStop": 2500, "timestamp": "2024-05-14T11:00:00Z", "reason": "PowerLoss"}
    tx = make_transaction(
        stopped_at=datetime(2024, 5, 14, 10, tzinfo=UTC),
        meter_stop=2000,
        stop_reason="StaleReboot",
        late_stop=late,
    )

    body = operator_api.get(f"{LIST}{tx.pk}/").data

    assert (body["stop_reason"], body["meter_stop"]) == ("StaleReboot", 2000)
    assert body["late_stop"] == late
