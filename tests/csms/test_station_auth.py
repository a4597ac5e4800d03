"""Station password hashes (csms.station_auth): keyed with a server secret, cheap to check,
and the hashes of earlier schemes or secret keys still accepted (and flagged for a rehash)."""

from __future__ import annotations

import hashlib

import pytest

from csms.station_auth import (
    authorization_key_password,
    check_station_password,
    hash_station_password,
    parse_basic_auth,
    verify_station_password,
)

PASSWORD = "s3cret-station-key-0001"


def legacy_hash(password: str, salt: str = "ab" * 16) -> str:
    """What the earlier scheme stored: an unkeyed, salted SHA-256."""
    return f"sha256${salt}${hashlib.sha256((salt + password).encode()).hexdigest()}"


def test_it_keys_the_hash_with_the_server_secret(settings):
    settings.SECRET_KEY = "the-server-secret-" * 3
    encoded = hash_station_password(PASSWORD)
    _, salt, digest = encoded.split("$")

    # A database leak alone is not enough to check a guess: the digest is not the plain
    # salted SHA-256 anyone could compute from the stored salt.
    assert digest != hashlib.sha256((salt + PASSWORD).encode()).hexdigest()
    assert PASSWORD not in encoded
    assert check_station_password(PASSWORD, encoded)
    settings.SECRET_KEY = "another-server-secret-" * 3
    assert not check_station_password(PASSWORD, encoded)


def test_it_accepts_a_hash_keyed_with_a_fallback_secret_and_asks_for_a_rehash(settings):
    settings.SECRET_KEY = "the-old-secret-" * 4
    encoded = hash_station_password(PASSWORD)
    settings.SECRET_KEY = "the-new-secret-" * 4
    settings.SECRET_KEY_FALLBACKS = ["the-old-secret-" * 4]

    assert verify_station_password(PASSWORD, encoded) == (True, True)
    assert verify_station_password(PASSWORD, hash_station_password(PASSWORD)) == (True, False)
    assert verify_station_password(PASSWORD + "x", encoded) == (False, False)


def test_it_accepts_a_hash_of_the_earlier_unkeyed_scheme_and_asks_for_a_rehash():
    assert verify_station_password(PASSWORD, legacy_hash(PASSWORD)) == (True, True)
    assert verify_station_password(PASSWORD + "x", legacy_hash(PASSWORD)) == (False, False)


@pytest.mark.parametrize("encoded", ["", "garbage", "md5$x$y", "hmac-sha256$only-two"])
def test_it_refuses_against_a_malformed_stored_hash(encoded):
    assert verify_station_password(PASSWORD, encoded) == (False, False)


def test_it_accepts_an_authorization_key_as_its_bytes_or_as_its_hex_digits():
    key = "0123456789abcdef0123456789ABCDEF01234567"
    encoded = hash_station_password(authorization_key_password(key))

    assert check_station_password(bytes.fromhex(key), encoded)  # what the whitepaper sends
    assert check_station_password(key, encoded)  # what some chargers send instead
    assert not check_station_password(key[:-2] + "00", encoded)


def test_it_accepts_a_typed_hex_password_sent_as_its_bytes():
    typed = "00112233445566778899aabbccddeeff"
    encoded = hash_station_password(typed)

    assert check_station_password(typed, encoded)
    assert check_station_password(bytes.fromhex(typed), encoded)


@pytest.mark.parametrize(
    "value",
    ["0123", "0123456789abcdef0123456789abcdef0", "zz23456789abcdef0123456789abcdef", "x" * 32],
)
def test_it_refuses_an_authorization_key_that_is_not_16_to_20_bytes_in_hex(value):
    assert authorization_key_password(value) is None


def test_it_reads_a_binary_basic_auth_password_as_bytes():
    import base64

    token = base64.b64encode(b"CP1:" + bytes(range(250, 256)) + b"\x00:x")

    assert parse_basic_auth(b"Basic " + token) == ("CP1", bytes(range(250, 256)) + b"\x00:x")
