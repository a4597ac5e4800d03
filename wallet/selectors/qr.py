"""Connector QR codes (segno): what they encode (``PUBLIC_BASE_URL/app/c/<code>``, whose last
segment is the connector code) and their SVG and PNG images."""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings


def connector_qr_url(code: str) -> str:
    """What a connector's QR code encodes: ``<PUBLIC_BASE_URL>/app/c/<code>``. The app takes
    the last path segment as the connector code; a phone without the app opens the page."""
    return f"{settings.PUBLIC_BASE_URL}/app/c/{code}"


def _qr(code: str) -> Any:
    import segno

    return segno.make(connector_qr_url(code), error="m")


def connector_qr_svg(code: str, *, scale: int = 8, inline: bool = False) -> str:
    """The QR code as SVG: a document, or (``inline``) an ``<svg>`` element for HTML."""
    qr = _qr(code)
    if inline:
        return str(qr.svg_inline(scale=scale, border=2))
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", scale=scale, border=4, xmldecl=True)
    return buffer.getvalue().decode()


def connector_qr_png(code: str, *, scale: int = 10) -> bytes:
    buffer = io.BytesIO()
    _qr(code).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()
