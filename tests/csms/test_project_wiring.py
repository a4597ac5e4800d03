"""Project-level behaviour of the settings and URLs: favicon, logging."""

from __future__ import annotations

import os
import subprocess
import sys

from django.contrib.staticfiles import finders


def test_it_serves_a_favicon_instead_of_a_404(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == "/static/favicon.svg"
    assert finders.find("favicon.svg") is not None


def test_it_prints_each_django_request_line_once():
    # In a process of its own: pytest installs logging handlers of its own in this one.
    script = (
        "import django; django.setup(); import logging; "
        "logging.getLogger('django.request').warning('Not Found: /nowhere')"
    )
    env = {**os.environ, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "csms.settings"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Not Found: /nowhere") == 1
