"""Authentication (DRF tokens from `manage.py drf_create_token`, sessions) and the OpenAPI
schema and docs, which must work with no internet."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.factories import make_charge_point, make_user

pytestmark = pytest.mark.django_db


def test_a_token_from_drf_create_token_authenticates(operator):
    out = io.StringIO()
    call_command("drf_create_token", operator.username, stdout=out)
    token = re.search(r"Generated token (\w+)", out.getvalue()).group(1)
    make_charge_point(identity="CP1")

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/api/v1/charge-points/")

    assert response.status_code == 200
    assert response.data["results"][0]["identity"] == "CP1"


def test_a_wrong_token_is_401(anonymous_api):
    anonymous_api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anonymous_api.get("/api/v1/charge-points/").status_code == 401


def test_a_session_authenticates_reads_and_csrf_guards_writes():
    user = make_user(role="operator")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/v1/id-tags/").status_code == 200
    # Session writes need the CSRF token, as for any browser form.
    assert client.post("/api/v1/id-tags/", {"id_tag": "X"}, format="json").status_code == 403


def test_a_superuser_is_an_operator():
    admin = make_user(is_superuser=True, is_staff=True)
    client = APIClient()
    client.force_authenticate(admin)
    assert client.post("/api/v1/id-tags/", {"id_tag": "X"}, format="json").status_code == 201


def test_the_schema_describes_the_core_api(anonymous_api):
    response = anonymous_api.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in [
        "/api/v1/charge-points/",
        "/api/v1/charge-points/{identity}/",
        "/api/v1/charge-points/{identity}/messages/",
        "/api/v1/charge-points/{identity}/status-history/",
        "/api/v1/connection-attempts/",
        "/api/v1/connection-attempts/{id}/register/",
        "/api/v1/id-tags/",
        "/api/v1/id-tags/{id_tag}/",
        "/api/v1/transactions/",
        "/api/v1/transactions/{id}/",
        "/api/v1/transactions/{id}/meter-values/",
    ]:
        assert path in paths, path
    params = {p["name"] for p in paths["/api/v1/transactions/"]["get"]["parameters"]}
    assert {"charge_point", "id_tag", "active", "started_after", "started_before"} <= params
    schemas = response.json()["components"]["schemas"]
    assert "password" in schemas["ChargePointCreateRequest"]["properties"]
    assert "password" not in schemas["ChargePointOutput"]["properties"]


def test_the_schema_generates_without_warnings(tmp_path):
    # `spectacular --fail-on-warn` exits non-zero on any warning or error.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )
    assert "/api/v1/charge-points/" in (tmp_path / "schema.yaml").read_text()


def test_the_docs_page_serves_swagger_ui_from_our_static_files(anonymous_api):
    response = anonymous_api.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "/api/schema/" in html
    for cdn in ("cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com"):
        assert cdn not in html


def test_the_sidecar_assets_exist():
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css")
