"""The "Print QR codes" action of the station changelist: a printable page with one QR code
per connector (inline SVG) and its code in text under it, for stickers on the stations.

Registers nothing itself: ``WalletConfig.ready`` offers it on csms's ChargePoint admin through
``csms.admin.stations.charge_point_admin_action_register`` (csms imports nothing of wallet).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.safestring import mark_safe

from csms.models import ChargePoint, Connector
from wallet.selectors.qr import connector_qr_svg, connector_qr_url


@admin.action(description="Print QR codes of the connectors")
def print_qr_codes(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[ChargePoint]
) -> HttpResponse:
    connectors = (
        Connector.objects.filter(charge_point__in=queryset, connector_id__gt=0)
        .select_related("charge_point")
        .order_by("charge_point__identity", "connector_id")
    )
    cards = [
        {
            "identity": c.charge_point.identity,
            "name": c.charge_point.name,
            "connector_id": c.connector_id,
            "code": c.code,
            "url": connector_qr_url(c.code),
            # segno's SVG of our own URL: markup we made, nothing of a user's in it.
            "svg": mark_safe(connector_qr_svg(c.code, scale=6, inline=True)),
        }
        for c in connectors
    ]
    return TemplateResponse(
        request,
        "wallet/qr_codes.html",
        {"cards": cards, "title": "Connector QR codes", "opts": ChargePoint._meta},
    )
