"""Station passwords (OCPP security profile 1, HTTP Basic on the WebSocket handshake).

Stored as ``hmac-sha256$<salt>$<digest>``: an HMAC-SHA256 of salt and password keyed with a
secret derived from the server's ``SECRET_KEY``, which never sits in the database. Why a keyed
hash and not a slow KDF or keys we generate ourselves:

* a database leak (a backup, a replica, an SQL injection) yields nothing to guess offline
  without the server secret, even for a weak password an installer typed into a charger;
* station keys are often fixed by the charger's maker or typed on site, so the CSMS cannot
  insist on generating them;
* every reconnect of up to 10,000 stations checks a password: an HMAC costs microseconds,
  where PBKDF2's ~0.4 s per check would make a restart (or an attacker's handshakes) an hour
  of CPU.

Rotating ``SECRET_KEY``: keep the old one in ``SECRET_KEY_FALLBACKS``; a station whose hash was
made with it still logs in, and its hash is remade with the current key then. Hashes of the
earlier scheme (``sha256$<salt>$<digest>``, unkeyed) are accepted and upgraded the same way.

AuthorizationKey (OCPP 1.6 security whitepaper): the configuration key carries the password
hex-encoded, 16-20 bytes as 32-40 hex digits, and the Basic-auth header carries the bytes
themselves (the OCTT's TC_085_CS). Chargers differ in practice, so a check accepts a password in
either form: the bytes, or their hex digits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator

from django.conf import settings

MIN_PASSWORD_LENGTH = 16
MAX_PASSWORD_LENGTH = 40
_SCHEME = "hmac-sha256"
_LEGACY_SCHEME = "sha256"
# Key separation: the HMAC key is derived from SECRET_KEY for this one purpose.
_KEY_PURPOSE = b"csms.station_auth.password.v1"

AUTHORIZATION_KEY = "AuthorizationKey"
AUTHORIZATION_KEY_MIN_BYTES = 16
AUTHORIZATION_KEY_MAX_BYTES = 20
_HEX_KEY = re.compile(r"(?:[0-9A-Fa-f]{2}){16,20}")


def _server_keys() -> Iterator[bytes]:
    """The current HMAC key, then those of SECRET_KEY_FALLBACKS (still accepted, rehashed)."""
    for secret in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
        yield hmac.new(str(secret).encode(), _KEY_PURPOSE, hashlib.sha256).digest()


def _as_bytes(password: str | bytes) -> bytes:
    return password if isinstance(password, bytes) else password.encode("utf-8")


def _digest(key: bytes, salt: str, password: bytes) -> str:
    return hmac.new(key, salt.encode() + password, hashlib.sha256).hexdigest()


def hash_station_password(password: str | bytes) -> str:
    """The stored form of a station password (text, or an AuthorizationKey's bytes)."""
    salt = secrets.token_hex(16)
    key = next(_server_keys())
    return f"{_SCHEME}${salt}${_digest(key, salt, _as_bytes(password))}"


def _candidates(presented: bytes) -> Iterator[bytes]:
    """The presented password, then the same secret in its other AuthorizationKey encoding:
    hex digits decoded to bytes, or 16-20 bytes written as hex digits (either case)."""
    yield presented
    if _HEX_KEY.fullmatch(presented.decode("latin-1")):
        yield bytes.fromhex(presented.decode("ascii"))
    if AUTHORIZATION_KEY_MIN_BYTES <= len(presented) <= AUTHORIZATION_KEY_MAX_BYTES:
        yield presented.hex().encode()
        yield presented.hex().upper().encode()


def verify_station_password(password: str | bytes, encoded: str) -> tuple[bool, bool]:
    """(matches, should_rehash): whether ``password`` matches the stored ``encoded`` hash, and
    whether that hash should be remade with hash_station_password now that the password is
    known (an unkeyed hash of the earlier scheme, or one keyed with a fallback SECRET_KEY)."""
    try:
        scheme, salt, digest = encoded.split("$", 2)
    except ValueError:
        return False, False
    candidates = list(_candidates(_as_bytes(password)))
    if scheme == _SCHEME:
        for index, key in enumerate(_server_keys()):
            if any(hmac.compare_digest(_digest(key, salt, c), digest) for c in candidates):
                return True, index > 0
        return False, False
    if scheme == _LEGACY_SCHEME:
        for candidate in candidates:
            legacy = hashlib.sha256(salt.encode() + candidate).hexdigest()
            if hmac.compare_digest(legacy, digest):
                return True, True
    return False, False


def check_station_password(password: str | bytes, encoded: str) -> bool:
    """Whether ``password`` matches the stored ``encoded`` hash (see verify_station_password)."""
    return verify_station_password(password, encoded)[0]


def authorization_key_password(value: str) -> bytes | None:
    """The Basic-auth password an AuthorizationKey value sets (its hex digits decoded), or None
    when the value is not 16-20 bytes written as 32-40 hex digits."""
    if not _HEX_KEY.fullmatch(value):
        return None
    return bytes.fromhex(value)


def parse_basic_auth(header: bytes | None) -> tuple[str, bytes] | None:
    """``Authorization: Basic b64(user:password)`` → (user, password bytes), or None if absent or
    bad. The password stays bytes: an AuthorizationKey password may be any 16-20 bytes, not
    necessarily UTF-8 text."""
    if not header:
        return None
    try:
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return None
        decoded = base64.b64decode(token.strip(), validate=True)
        user, sep, password = decoded.partition(b":")
        if not sep:
            return None
        return user.decode("utf-8"), password
    except (ValueError, UnicodeDecodeError):
        return None


def generate_station_password() -> str:
    return secrets.token_urlsafe(24)[:MAX_PASSWORD_LENGTH]
