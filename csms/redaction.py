"""Masking secrets wherever a call is stored or shown: the AuthorizationKey configuration key
(a station's Basic-auth password) and credentials inside URLs (UpdateFirmware, GetDiagnostics
locations). The station still receives the original; only what we keep and show is masked.

Pure functions on plain values: the gateway's operations use them before a command is stored
or logged, and the migration that masked what earlier versions had stored uses them too.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

# Configuration keys whose value is a secret (CiString50, compared case-insensitively). OCPP 1.6
# security whitepaper: AuthorizationKey is write-only; a station must not report it.
SECRET_CONFIGURATION_KEYS = frozenset({"AUTHORIZATIONKEY"})

# Query parameters that carry credentials in signed download/upload URLs (S3/GCS/Azure
# pre-signed URLs, ?token=, ?access_key=...). Their names are kept; the values are masked.
_SECRET_QUERY_NAME = re.compile(
    r"sig|signature|token|secret|password|passwd|pwd|credential|auth|key", re.IGNORECASE
)
_USERINFO = re.compile(r"(?<=://)[^/?#@]*@")


def is_secret_configuration_key(key: Any) -> bool:
    return isinstance(key, str) and key.upper() in SECRET_CONFIGURATION_KEYS


def configuration_value_masked(key: Any, value: Any) -> Any:
    """``value`` of configuration key ``key`` as it may be stored: MASK for a secret key that
    has a value, the value itself otherwise."""
    if is_secret_configuration_key(key) and value not in (None, ""):
        return MASK
    return value


def url_credentials_masked(url: Any) -> Any:
    """``url`` with the password of its user info and the values of credential-bearing query
    parameters masked: ``ftp://user:pass@host/x?X-Amz-Signature=abc`` →
    ``ftp://user:***@host/x?X-Amz-Signature=***``. A user name alone is kept (it names an
    account, it does not open it). Anything that is not a string is returned as it is; a URL
    too malformed to parse loses its whole user info."""
    if not isinstance(url, str) or ("@" not in url and "?" not in url):
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        userinfo, at, hostport = netloc.rpartition("@")
        if at:
            user, colon, _ = userinfo.partition(":")
            netloc = f"{user}:{MASK}@{hostport}" if colon else netloc
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(_SECRET_QUERY_NAME.search(name) for name, _ in pairs):
                query = urlencode(
                    [(n, MASK if _SECRET_QUERY_NAME.search(n) else v) for n, v in pairs],
                    safe="*",
                )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return _USERINFO.sub(f"{MASK}@", url)


# --- Per call: what the gateway's operations (Operation.redact) and the migration use ------


def configuration_change_masked(request: dict[str, Any]) -> dict[str, Any]:
    """A ChangeConfiguration request with a secret key's value masked."""
    if not is_secret_configuration_key(request.get("key")) or "value" not in request:
        return request
    return {**request, "value": MASK}


def configuration_report_masked(response: dict[str, Any]) -> dict[str, Any]:
    """A GetConfiguration answer with the values of secret keys masked (AuthorizationKey is
    write-only, but a station that reports it anyway must not have it stored or shown)."""
    keys = response.get("configurationKey")
    if not isinstance(keys, list) or not any(
        isinstance(item, dict) and is_secret_configuration_key(item.get("key")) for item in keys
    ):
        return response
    masked = [
        {**item, "value": configuration_value_masked(item.get("key"), item.get("value"))}
        if isinstance(item, dict) and "value" in item
        else item
        for item in keys
    ]
    return {**response, "configurationKey": masked}


def location_masked(request: dict[str, Any]) -> dict[str, Any]:
    """An UpdateFirmware / GetDiagnostics request with credentials in its location masked."""
    location = request.get("location")
    masked = url_credentials_masked(location)
    return request if masked == location else {**request, "location": masked}


# action -> masker, for requests we send and for the answers stations give.
REQUEST_MASKS = {
    "ChangeConfiguration": configuration_change_masked,
    "UpdateFirmware": location_masked,
    "GetDiagnostics": location_masked,
}
RESPONSE_MASKS = {"GetConfiguration": configuration_report_masked}
