"""Typed readers for settings that come from the environment.

Each helper fails loudly (``ImproperlyConfigured``) on a value it cannot parse, naming the
variable, so a typo in a deployment stops the process at start-up instead of misbehaving later.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"Environment variable {name} is required.")
        return default
    return value


def env_optional(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true/false, 1/0, yes/no).")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        parsed = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
    if minimum is not None and parsed < minimum:
        raise ImproperlyConfigured(f"{name}={parsed} must be at least {minimum}.")
    return parsed


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        parsed = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
    if minimum is not None and parsed < minimum:
        raise ImproperlyConfigured(f"{name}={parsed} must be at least {minimum}.")
    return parsed


def env_decimal(name: str, default: str, *, minimum: str | None = None) -> Decimal:
    """A Decimal setting (money): parsed from the string, never through float."""
    value = os.environ.get(name)
    raw = default if value is None or value.strip() == "" else value.strip()
    try:
        parsed = Decimal(raw)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a decimal number.") from None
    if not parsed.is_finite():
        raise ImproperlyConfigured(f"{name}={raw!r} is not a finite number.")
    if minimum is not None and parsed < Decimal(minimum):
        raise ImproperlyConfigured(f"{name}={parsed} must be at least {minimum}.")
    return parsed


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages: a DATABASE_URL in an error
    must not put the database password in a log."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    # The credentials end at the last "@" (a raw password may itself hold "@", "/", "#").
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://{user}@{host}"


def database_from_url(url: str) -> dict[str, Any]:
    """Translate ``postgres://user:pass@host:port/name`` or ``sqlite:///path`` into DATABASES.

    User and password must be percent-encoded (``/`` is ``%2F``, ``#`` ``%23``, ``?`` ``%3F``,
    ``@`` ``%40``); a URL that does not parse is refused without echoing its password. To give
    a password as it is, leave DATABASE_URL unset and use the POSTGRES_* variables
    (``database_from_parts``)."""
    parsed = urlparse(url)
    scheme = parsed.scheme
    if scheme in {"postgres", "postgresql", "pgsql"}:
        unencoded = (
            "DATABASE_URL {url} does not parse: percent-encode the user name and password "
            "(/ is %2F, # %23, ? %3F, @ %40), or leave DATABASE_URL unset and give "
            "POSTGRES_HOST, POSTGRES_DB, POSTGRES_USER and POSTGRES_PASSWORD as they are."
        )
        try:
            port = parsed.port
        except ValueError:
            raise ImproperlyConfigured(unencoded.format(url=redact_url(url))) from None
        # A raw "/", "?" or "#" in the password ends the host part early: what is left of the
        # credentials then shows up in the path, query or fragment.
        if "@" in parsed.path or "@" in parsed.query or "@" in parsed.fragment or parsed.fragment:
            raise ImproperlyConfigured(unencoded.format(url=redact_url(url)))
        options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        name = unquote(parsed.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL {redact_url(url)} names no database.")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(port or ""),
            "OPTIONS": options,
        }
    if scheme == "sqlite":
        path = unquote(parsed.path)
        if path.startswith("//"):
            path = path[1:]
        name = path if path.lstrip("/") else ":memory:"
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {scheme!r} is not supported (use postgres:// or sqlite:///)."
    )


def database_from_parts() -> dict[str, Any] | None:
    """PostgreSQL from POSTGRES_HOST, POSTGRES_PORT (5432), POSTGRES_DB (csms), POSTGRES_USER
    (csms) and POSTGRES_PASSWORD, each taken as it is: no URL, so nothing to encode (what
    docker-compose uses). None when POSTGRES_HOST is unset."""
    host = env_optional("POSTGRES_HOST")
    if host is None:
        return None
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": env_optional("POSTGRES_DB") or "csms",
        "USER": env_optional("POSTGRES_USER") or "csms",
        "PASSWORD": os.environ.get("POSTGRES_PASSWORD", ""),
        "HOST": host,
        "PORT": str(env_int("POSTGRES_PORT", 5432, minimum=1)),
        "OPTIONS": {},
    }
