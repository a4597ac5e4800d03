"""The driver's whole journey through the real server (daphne, eager Celery) and a simulated
station, over HTTP and WebSocket only, as the app does it: sign up, top up in the sandbox
(its checkout page's Pay button), start by connector code, watch the cost rise live, stop, the
order paid from the wallet, the invoice PDF downloaded, and the statement telling it all."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from decimal import Decimal
from typing import Any

import pytest
import websockets

from tests.e2e.conftest import E2E_MARKS, STARTUP_TIMEOUT, Server
from tests.e2e.test_app_session import STEP, connector_code, seed, station, until
from tests.servers import free_port, start_daphne, stop

pytestmark = E2E_MARKS

EMAIL = "journey@example.com"
PASSWORD = "correct-horse-battery-staple-9"


class App:
    """What the mobile app does: JSON over HTTP with its access token; a cookie jar for the
    sandbox's checkout page (a web page with a CSRF-protected form)."""

    def __init__(self, server: Server) -> None:
        self.base = server.http_url
        self.access = ""
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if self.access:
            all_headers["Authorization"] = f"Bearer {self.access}"
        request = urllib.request.Request(
            self.base + path,
            data=None if body is None else json.dumps(body).encode(),
            headers=all_headers,
            method=method,
        )
        try:
            with self.opener.open(request, timeout=STEP) as response:
                raw = response.read()
                kind = response.headers.get("Content-Type", "")
                data = json.loads(raw) if "json" in kind else raw
                return response.status, data, dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}"), dict(error.headers)

    def press(self, page_path: str, button: str) -> int:
        """Open the checkout page and press one of its buttons (a form POST with its CSRF
        token), as a browser would."""
        with self.opener.open(self.base + page_path, timeout=STEP) as response:
            page = response.read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, page
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token.group(1), "decision": button}
        ).encode()
        request = urllib.request.Request(
            self.base + page_path, data=form, method="POST", headers={"Referer": self.base}
        )
        with self.opener.open(request, timeout=STEP) as response:
            return response.status


@pytest.fixture
def journey_server(server_database: tuple[str, str]) -> Any:
    url, alias = server_database
    seed(url, balance=None)  # the tariff and the station; the driver signs up
    port = free_port()
    process = start_daphne(
        port,
        startup_timeout=STARTUP_TIMEOUT,
        DATABASE_URL=url,
        OCPP_ALLOW_UNKNOWN_CHARGE_POINTS="false",
        CELERY_TASK_ALWAYS_EAGER="true",
        PAYMENT_PROVIDER="sandbox",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        LOG_LEVEL="WARNING",
    )
    yield Server(port=port, db=alias, process=process)
    stop(process)


async def journey(server: Server, app: App, tmp_path: Any) -> dict[str, Any]:
    status, signed_up, _ = await asyncio.to_thread(
        app.call,
        "POST",
        "/api/v1/app/auth/signup/",
        {"email": EMAIL, "password": PASSWORD, "first_name": "Jo", "last_name": "Urney"},
    )
    assert status == 201, signed_up
    app.access = signed_up["access"]

    key = str(uuid.uuid4())
    status, top_up, _ = await asyncio.to_thread(
        app.call,
        "POST",
        "/api/v1/app/wallet/top-ups/",
        {"amount": "30.00"},
        {"Idempotency-Key": key},
    )
    assert status == 201, top_up
    assert top_up["state"] == "pending" and top_up["next_action"]["type"] == "redirect"
    checkout = urllib.parse.urlsplit(top_up["next_action"]["url"]).path
    assert await asyncio.to_thread(app.press, checkout, "pay") == 200
    status, wallet, _ = await asyncio.to_thread(app.call, "GET", "/api/v1/app/wallet/")
    assert (status, wallet["available"]) == (200, "30.00"), wallet

    simulated = station(server, power_kw=150)
    running = asyncio.create_task(simulated.run())
    try:
        code = await connector_code(server)
        status, started, _ = await asyncio.to_thread(
            app.call,
            "POST",
            "/api/v1/app/sessions/",
            {"connector_code": code},
            {"Idempotency-Key": str(uuid.uuid4())},
        )
        assert status == 201 and started["state"] == "starting", started
        session_id = started["id"]
        async with websockets.connect(
            f"ws://127.0.0.1:{server.port}/ws/app/sessions/{session_id}/?token={app.access}",
            open_timeout=STEP,
        ) as ws:
            costs: list[Decimal] = []

            def rising(message: dict[str, Any]) -> bool:
                cost = (message.get("cost") or {}).get("incl_vat")
                if message["state"] == "charging" and cost is not None:
                    if not costs or Decimal(cost) > costs[-1]:
                        costs.append(Decimal(cost))
                # Past billing's free-session threshold (200 Wh), so the order is paid.
                energy = Decimal(message.get("energy_kwh") or 0)
                return len(costs) >= 3 and energy >= Decimal("0.3")

            await until(ws, rising)
            status, stopping, _ = await asyncio.to_thread(
                app.call, "POST", f"/api/v1/app/sessions/{session_id}/stop/"
            )
            assert status == 200 and stopping["state"] in ("stopping", "finished"), stopping
            finished = (await until(ws, lambda m: m["state"] == "finished"))[-1]
    finally:
        await simulated.stop(timeout=10)
        await asyncio.wait_for(running, 15)

    status, orders, _ = await asyncio.to_thread(app.call, "GET", "/api/v1/app/orders/")
    assert status == 200
    (order,) = orders["results"]
    assert order["state"] == "paid" and order["invoice"] is not None, order
    status, pdf, headers = await asyncio.to_thread(
        app.call, "GET", f"/api/v1/app/orders/{order['id']}/invoice.pdf"
    )
    assert status == 200 and pdf[:5] == b"%PDF-"
    assert order["invoice"]["number"] in headers["Content-Disposition"]
    (tmp_path / "invoice.pdf").write_bytes(pdf)
    status, wallet, _ = await asyncio.to_thread(app.call, "GET", "/api/v1/app/wallet/")
    return {"costs": costs, "finished": finished, "order": order, "wallet": wallet}


def test_a_driver_signs_up_tops_up_charges_stops_pays_and_downloads_the_invoice(
    journey_server: Server, tmp_path: Any
):
    result = asyncio.run(journey(journey_server, App(journey_server), tmp_path))

    costs, order, wallet = result["costs"], result["order"], result["wallet"]
    assert costs == sorted(costs) and costs[-1] > costs[0]  # the cost rose, live
    assert result["finished"]["stop_cause"] == "driver"
    total = Decimal(order["total_incl_vat"])
    assert total >= costs[-1] > 0
    assert Decimal(wallet["available"]) == Decimal("30.00") - total
    assert (wallet["held"], wallet["owed"]) == ("0.00", "0.00")
    kinds = [entry["kind"] for entry in wallet["entries"]["results"]]
    # Newest first: the rest of the hold back, the session charged, the hold, the top-up.
    assert kinds == ["release", "capture", "hold", "top_up"], kinds
