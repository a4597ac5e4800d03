"""csms.api.common: the one home of strict query parsing and ``*_or_404`` lookups, and what it
means for every API that uses it (the core API and the remote-operations API alike)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from csms.api import common
from csms.models import Command
from tests.factories import make_charge_point

factory = APIRequestFactory()


def request_with(**params: str) -> Request:
    return Request(factory.get("/", params))


# --- Parsers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("1", True), ("Yes", True), ("on", True), ("false", False), ("0", False)],
)
def test_it_reads_booleans_in_their_usual_spellings(raw, expected):
    assert common.query_bool(request_with(flag=raw), "flag") is expected


def test_it_treats_an_absent_or_empty_parameter_as_no_filter():
    for parse in (common.query_bool, common.query_int, common.query_text, common.query_datetime):
        assert parse(request_with(), "x") is None
        assert parse(request_with(x=""), "x") is None


@pytest.mark.parametrize(
    ("parse", "raw"),
    [
        (common.query_bool, "maybe"),
        (common.query_int, "1.5"),
        (common.query_datetime, "yesterday"),
        (common.query_text, "a\x00b"),
    ],
)
def test_it_refuses_an_unreadable_value_naming_the_parameter(parse, raw):
    with pytest.raises(exceptions.ValidationError) as refused:
        parse(request_with(x=raw), "x")

    assert list(refused.value.detail) == ["x"]


def test_it_reads_a_zoneless_datetime_as_utc_and_a_date_as_its_midnight():
    assert common.query_datetime(request_with(t="2025-01-31T08:00:00"), "t") == datetime(
        2025, 1, 31, 8, tzinfo=UTC
    )
    assert common.query_datetime(request_with(t="2025-01-31"), "t") == datetime(
        2025, 1, 31, tzinfo=UTC
    )
    # An unescaped '+' in a query string arrives as a space.
    assert common.query_datetime(request_with(t="2025-01-31T09:00:00 01:00"), "t") == datetime(
        2025, 1, 31, 8, tzinfo=UTC
    )


def test_it_takes_choices_as_a_choices_class_or_a_list_of_strings():
    assert common.query_choice(request_with(s="answered"), "s", Command.State) == "answered"
    assert common.query_choice(request_with(s="Full"), "s", ["Full", "Differential"]) == "Full"
    with pytest.raises(exceptions.ValidationError) as refused:
        common.query_choice(request_with(s="ANSWERED"), "s", Command.State)

    assert "answered" in str(refused.value.detail["s"])


def test_it_refuses_a_time_range_that_ends_before_it_starts():
    request = request_with(since="2025-02-01", until="2025-01-01")

    with pytest.raises(exceptions.ValidationError) as refused:
        common.query_time_range(request, "since", "until")

    assert list(refused.value.detail) == ["until"]


# --- Lookups ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_finds_a_station_by_identity_with_its_connectors_prefetched(
    django_assert_num_queries,
):
    make_charge_point(identity="CP1")

    with django_assert_num_queries(2):
        station = common.charge_point_or_404("CP1")
        assert list(station.connectors.all()) == []


@pytest.mark.django_db
def test_it_tells_an_impossible_identity_from_an_unknown_one():
    with pytest.raises(exceptions.ValidationError):
        common.charge_point_or_404("CP\x001")
    with pytest.raises(exceptions.NotFound):
        common.charge_point_or_404("CP-UNKNOWN")


# --- Every API uses them ----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/commands/?issued_by=a%00b",
        "/api/v1/commands/?charge_point=a%00b",
        "/api/v1/commands/?source=a%00b",
        "/api/v1/reservations/?charge_point=a%00b",
        "/api/v1/charging-profiles/?charge_point=a%00b",
        "/api/v1/composite-schedules/?charge_point=a%00b",
        "/api/v1/transactions/?charge_point=a%00b",
    ],
)
def test_it_answers_a_null_character_in_any_filter_with_a_400(operator_api, url):
    response = operator_api.get(url)

    assert response.status_code == 400
    assert "Null characters" in str(response.data)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["commands/", "local-list/", "messages/", "status-history/", ""])
def test_it_answers_an_impossible_station_identity_with_a_400_on_every_station_endpoint(
    operator_api, path
):
    response = operator_api.get(f"/api/v1/charge-points/CP%00X/{path}")

    assert response.status_code == 400
    assert "identity" in response.data


@pytest.mark.django_db
def test_it_filters_the_command_log_by_a_plain_date(operator_api):
    station = make_charge_point(identity="CP1")
    for day in (1, 3):
        Command.objects.create(
            charge_point=station,
            action="Reset",
            request={"type": "Soft"},
            timeout=5,
            created_at=datetime(2025, 1, day, 12, tzinfo=UTC),
        )

    response = operator_api.get("/api/v1/commands/?since=2025-01-02")

    assert response.status_code == 200
    assert [row["created_at"][:10] for row in response.data["results"]] == ["2025-01-03"]


@pytest.mark.django_db
def test_it_refuses_a_command_log_range_that_ends_before_it_starts(operator_api):
    response = operator_api.get("/api/v1/commands/?since=2025-02-01&until=2025-01-01")

    assert response.status_code == 400
    assert "until" in response.data
