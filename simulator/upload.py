"""Upload a diagnostics file over HTTP(S) with asyncio streams (no HTTP client dependency).

POST sends multipart/form-data with the file in the field ``file`` (what web upload endpoints
expect); PUT sends the raw bytes, to ``<location>/<file name>`` when the location ends with a
slash. Credentials in the URL (``https://user:pass@host/...``) become Basic auth.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import uuid
from urllib.parse import unquote, urlsplit


class UploadError(Exception):
    pass


async def upload_file(
    location: str,
    file_name: str,
    content: bytes,
    *,
    method: str = "POST",
    timeout: float = 30.0,  # noqa: ASYNC109 - one budget for connect, send and answer
) -> int:
    """Upload and return the HTTP status code; raises UploadError when the location is not
    http(s), the server cannot be reached or it answers outside 2xx."""
    parts = urlsplit(location)
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise UploadError(f"unsupported location scheme {scheme or '(none)'!r}")
    if not parts.hostname:
        raise UploadError("location has no host")
    port = parts.port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if method == "PUT" and path.endswith("/"):
        path += file_name
    if parts.query:
        path += f"?{parts.query}"

    headers = {
        "Host": parts.netloc.rsplit("@", 1)[-1],
        "User-Agent": "ocpp-simulator",
        "Connection": "close",
    }
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    if method == "PUT":
        body = content
        headers["Content-Type"] = "text/plain; charset=utf-8"
        headers["Content-Disposition"] = f'attachment; filename="{file_name}"'
    else:
        boundary = uuid.uuid4().hex
        body = (
            (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
                "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    headers["Content-Length"] = str(len(body))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())

    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                parts.hostname,
                port,
                ssl=ssl.create_default_context() if scheme == "https" else None,
            )
            try:
                writer.write(head.encode("latin-1") + b"\r\n" + body)
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
                try:
                    await writer.wait_closed()
                except (OSError, ssl.SSLError):
                    pass
    except TimeoutError as exc:
        raise UploadError(f"no answer within {timeout:g} s") from exc
    except (OSError, ssl.SSLError) as exc:
        raise UploadError(f"cannot reach {parts.hostname}:{port}: {exc}") from exc
    fields = status_line.decode("latin-1").split(" ", 2)
    if len(fields) < 2 or not fields[1].isdigit():
        raise UploadError(f"not an HTTP answer: {status_line[:80]!r}")
    code = int(fields[1])
    if not 200 <= code < 300:
        raise UploadError(f"HTTP {code}")
    return code
