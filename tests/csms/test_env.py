from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from csms.env import (
    database_from_parts,
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_list,
)


def test_it_reads_booleans_and_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG='maybe' is not a boolean"):
        env_bool("FLAG", False)


def test_it_uses_the_default_when_unset(monkeypatch):
    monkeypatch.delenv("UNSET_THING", raising=False)
    assert env_int("UNSET_THING", 7) == 7
    assert env_list("UNSET_THING", ["a"]) == ["a"]


def test_it_refuses_bad_and_out_of_range_numbers(monkeypatch):
    monkeypatch.setenv("N", "ten")
    with pytest.raises(ImproperlyConfigured, match="N='ten' is not an integer"):
        env_int("N", 1)
    monkeypatch.setenv("N", "-5")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env_int("N", 1, minimum=0)
    monkeypatch.setenv("F", "x")
    with pytest.raises(ImproperlyConfigured, match="not a number"):
        env_float("F", 1.0)


def test_it_parses_postgres_urls():
    db = database_from_url("postgres://u%40x:p%3Aw@db.example:6543/csms?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "u@x",
        "p:w",
        "db.example",
        "6543",
        "csms",
    )
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_it_parses_sqlite_urls():
    assert database_from_url("sqlite:////tmp/x.sqlite3")["NAME"] == "/tmp/x.sqlite3"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgres://u@h:5432/"])
def test_it_refuses_unsupported_database_urls(url):
    with pytest.raises(ImproperlyConfigured):
        database_from_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgres://csms:s3cr/et@postgres:5432/csms",  # a raw "/" in the password
        "postgres://csms:s3cr#et@postgres:5432/csms",  # a raw "#"
        "postgres://csms:s3cr?et@postgres:5432/csms",  # a raw "?"
    ],
)
def test_it_refuses_an_unencoded_password_without_showing_it(url):
    with pytest.raises(ImproperlyConfigured) as refused:
        database_from_url(url)

    message = str(refused.value)
    assert "s3cr" not in message and "et@" not in message
    assert "percent-encode" in message and "POSTGRES_PASSWORD" in message


def test_it_reads_a_raw_at_sign_in_the_password_as_the_password():
    # The credentials end at the last "@": this one parses as meant.
    assert database_from_url("postgres://csms:s3cr@et@postgres:5432/csms")["PASSWORD"] == "s3cr@et"


def test_it_never_shows_the_password_of_a_url_it_refuses():
    with pytest.raises(ImproperlyConfigured) as refused:
        database_from_url("postgres://csms:hunter2@db:5432/")

    assert "hunter2" not in str(refused.value)
    assert "postgres://csms:***@db:5432/" in str(refused.value)


def test_it_builds_the_database_from_parts_taking_the_password_as_it_is(monkeypatch):
    monkeypatch.setenv("POSTGRES_HOST", "postgres")
    monkeypatch.setenv("POSTGRES_PASSWORD", "p/a#s?s@w rd")
    monkeypatch.delenv("POSTGRES_PORT", raising=False)

    db = database_from_parts()

    assert db is not None
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"], db["PASSWORD"]) == (
        "postgres",
        "5432",
        "csms",
        "csms",
        "p/a#s?s@w rd",
    )
