"""Station passwords (OCPP security profile 1, HTTP Basic on the WebSocket handshake).

Stored as salted SHA-256, not Django's PBKDF2: station keys are machine-generated secrets of
at least 16 characters (the OCPP security whitepaper's AuthorizationKey), so a slow hash buys
nothing, while 10,000 stations reconnecting after a restart would cost an hour of CPU at
PBKDF2's ~0.4 s per check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

MIN_PASSWORD_LENGTH = 16
MAX_PASSWORD_LENGTH = 40
_SCHEME = "sha256"


def hash_station_password(password: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.sha256((salt + password).encode()).hexdigest()
    return f"{_SCHEME}${salt}${digest}"


def check_station_password(password: str, encoded: str) -> bool:
    try:
        scheme, salt, digest = encoded.split("$", 2)
    except ValueError:
        return False
    if scheme != _SCHEME:
        return False
    candidate = hashlib.sha256((salt + password).encode()).hexdigest()
    return hmac.compare_digest(candidate, digest)


def parse_basic_auth(header: bytes | None) -> tuple[str, str] | None:
    """``Authorization: Basic b64(user:password)`` → (user, password), or None if absent/bad."""
    if not header:
        return None
    try:
        scheme, _, token = header.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return None
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password


def generate_station_password() -> str:
    return secrets.token_urlsafe(24)[:MAX_PASSWORD_LENGTH]
