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


def test_it_keeps_sql_statements_out_of_the_log_even_at_debug():
    script = (
        "import django; django.setup(); import logging; "
        "print(logging.getLogger('django.db.backends').getEffectiveLevel(), "
        "logging.getLogger('csms').getEffectiveLevel())"
    )
    env = {
        **os.environ,
        "DEBUG": "true",
        "LOG_LEVEL": "DEBUG",
        "DJANGO_SETTINGS_MODULE": "csms.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )

    assert result.returncode == 0, result.stderr
    # Our own loggers follow LOG_LEVEL; Django's stay at INFO.
    assert result.stdout.split() == ["20", "10"]


def test_it_encrypts_what_the_redis_channel_layer_holds():
    # Calls travel whole in their channel-layer events (an AuthorizationKey, a firmware URL's
    # credentials) while the database keeps them masked: Redis must not hold them in clear.
    script = (
        "import django; django.setup(); from channels.layers import get_channel_layer; "
        "layer = get_channel_layer(); "
        "data = layer.serialize({'type': 'ocpp.call', 'request': {'value': 'KEY-0123abcd'}}); "
        "print(b'KEY-0123abcd' in data, layer.deserialize(data)['request']['value'])"
    )
    env = {
        **os.environ,
        "DEBUG": "true",
        # Only read to configure the layer: serializing connects to nothing.
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DJANGO_SETTINGS_MODULE": "csms.settings",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "KEY-0123abcd"]
