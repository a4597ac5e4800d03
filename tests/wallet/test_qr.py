"""Connector QR codes: what they encode, the staff image endpoints, the admin's printable
page, and the page a phone without the app opens."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from csms.models import ChargePoint
from tests.factories import make_user
from tests.wallet.test_sessions_helpers import code_of, online_station
from wallet.selectors.qr import connector_qr_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def station() -> ChargePoint:
    return online_station("CP-QR", connectors=2)


def decoded(png: bytes) -> str | None:
    """What a PNG's QR code says, when a decoder is installed (none is a dependency)."""
    try:
        import io

        from PIL import Image  # type: ignore[import-not-found]
        from pyzbar.pyzbar import decode  # type: ignore[import-not-found]
    except ImportError:
        return None
    return decode(Image.open(io.BytesIO(png)))[0].data.decode()


def test_a_qr_code_encodes_the_public_url_ending_in_the_code(settings, station):
    settings.PUBLIC_BASE_URL = "https://charge.example.com"
    code = code_of(station)

    assert connector_qr_url(code) == f"https://charge.example.com/app/c/{code}"
    assert connector_qr_url(code).rsplit("/", 1)[-1] == code  # what the app reads


@pytest.mark.parametrize("persona", ["operator_api", "support_api"])
def test_staff_get_svg_and_png(request, persona, station):
    client = request.getfixturevalue(persona)
    svg = client.get("/api/v1/charge-points/CP-QR/connectors/2/qr.svg")
    png = client.get("/api/v1/charge-points/CP-QR/connectors/2/qr.png")

    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert b"<svg" in svg.content
    assert code_of(station, 2) in svg["Content-Disposition"]
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    text = decoded(png.content)
    assert text is None or text.endswith(f"/app/c/{code_of(station, 2)}")


def test_qr_endpoints_refuse_drivers_and_strangers(driver_app, anonymous_api, station):
    url = "/api/v1/charge-points/CP-QR/connectors/1/qr.svg"
    assert anonymous_api.get(url).status_code == 401
    assert driver_app.get(url).status_code in (401, 403)


def test_unknown_station_connector_or_format_is_404(operator_api, station):
    base = "/api/v1/charge-points"
    assert operator_api.get(f"{base}/NOPE/connectors/1/qr.svg").status_code == 404
    assert operator_api.get(f"{base}/CP-QR/connectors/9/qr.svg").status_code == 404
    assert operator_api.get(f"{base}/CP-QR/connectors/0/qr.svg").status_code == 404
    assert operator_api.get(f"{base}/CP-QR/connectors/1/qr.gif").status_code == 404


def test_the_admin_prints_one_qr_per_connector_with_its_code(station):
    other = online_station("CP-QR2", connectors=1)
    admin_user: Any = make_user(username="root", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(admin_user)

    response = client.post(
        "/admin/csms/chargepoint/",
        {"action": "print_qr_codes", "_selected_action": [station.pk, other.pk]},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<svg") == 3
    for cp, n in ((station, 1), (station, 2), (other, 1)):
        assert code_of(cp, n) in html


def test_the_action_is_offered_on_the_station_changelist(station):
    admin_user: Any = make_user(username="root", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(admin_user)

    assert b"print_qr_codes" in client.get("/admin/csms/chargepoint/").content


def test_the_code_page_names_the_code(client, station):
    code = code_of(station)
    response = client.get(f"/app/c/{code.lower()}")

    assert response.status_code == 200
    assert code in response.content.decode()
    assert client.get("/app/c/NOSUCHCD").status_code == 404
