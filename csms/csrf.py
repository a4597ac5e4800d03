"""The CSRF failure page (settings.CSRF_FAILURE_VIEW): say why when the cause is the
deployment, not the visitor.

With SECURE_COOKIES on (the default with DEBUG off) the CSRF and session cookies are marked
Secure, and a browser does not send them back over plain http:// (outside localhost). The
login form then fails Django's CSRF check with a bare "403 Forbidden", which tells an operator
trying a fresh deployment nothing. Any other CSRF failure gets Django's own page.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.csrf import csrf_failure as django_csrf_failure

logger = logging.getLogger(__name__)

PLAIN_HTTP_MESSAGE = (
    "Forbidden: this form was posted over plain HTTP, but SECURE_COOKIES is on, so the "
    "browser keeps this site's cookies for HTTPS only and the form could not be checked "
    "(CSRF). Serve the platform over https:// (a TLS reverse proxy: see the README, "
    '"Deploying"), or, for a trial on your own machine, set SECURE_COOKIES=false in .env '
    "and restart."
)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Explain a CSRF failure caused by secure cookies over plain HTTP; otherwise Django's."""
    if settings.CSRF_COOKIE_SECURE and not request.is_secure():
        logger.warning(
            "CSRF failure on %s over plain HTTP with SECURE_COOKIES on (%s)", request.path, reason
        )
        page = (
            "<!doctype html><title>403 Forbidden</title><h1>403 Forbidden</h1>"
            f"<p>{PLAIN_HTTP_MESSAGE}</p>"
        )
        return HttpResponseForbidden(page)
    return django_csrf_failure(request, reason=reason)
