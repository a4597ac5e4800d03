"""MeterValues written per batch instead of per message.

Today each MeterValues costs three statements in the single database thread: a SELECT of the
transaction, an INSERT of its samples and an UPDATE of the session's live view. Here the
handler only builds rows: the station's transaction ids are remembered after the first check,
every sample of the whole group commit goes in one INSERT, and the live views of all sessions
in the batch are refreshed by one UPDATE ... FROM (VALUES ...). Still inside the batch's
transaction, so nothing is acknowledged before it is committed.

A sketch to measure the gain, not production code: no per-message error isolation for the
shared INSERT (a failing batch falls back to the committer's one-by-one path, where this
handler would then write nothing), and the id cache never forgets.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sitecustomize import after_import

_ENERGY = "Energy.Active.Import.Register"
_POWER = "Power.Active.Import"
_SOC = "SoC"

_rows: list[Any] = []
_live: dict[int, tuple[datetime, dict[str, Any]]] = {}
_owned: dict[int, set[int]] = {}  # charge point pk -> transaction ids known to be its own


def _patch(committer: Any) -> None:
    from django.db import connection

    from csms import services
    from csms.models import MeterValue, Transaction
    from ocpp_gateway import handlers

    def meter_values(ctx: Any, payload: dict[str, Any]) -> dict[str, Any]:
        charge_point = ctx.charge_point
        tx_id = payload.get("transactionId")
        tx_pk = None
        if tx_id is not None and 0 <= tx_id <= services.INT32_MAX:
            owned = _owned.setdefault(charge_point.pk, set())
            if tx_id in owned:
                tx_pk = tx_id
            elif Transaction.objects.filter(pk=tx_id, charge_point=charge_point).exists():
                owned.add(tx_id)
                tx_pk = tx_id
        connector_id = payload["connectorId"]
        live: dict[str, Any] = {}
        latest = None
        for meter_value in payload["meterValue"]:
            stamp = meter_value["timestamp"]
            for sample in meter_value.get("sampledValue", ()):
                measurand = sample.get("measurand", _ENERGY)
                unit = sample.get("unit", "")
                raw = sample["value"]
                number = services._to_decimal(raw) if sample.get("format", "Raw") == "Raw" else None
                _rows.append(
                    MeterValue(
                        charge_point_id=charge_point.pk,
                        connector_id=connector_id,
                        transaction_id=tx_pk,
                        timestamp=stamp,
                        value=raw[:2500],
                        value_decimal=number,
                        measurand=measurand,
                        phase=sample.get("phase", ""),
                        unit=unit,
                        context=sample.get("context", ""),
                        location=sample.get("location", ""),
                        format=sample.get("format", ""),
                    )
                )
                if number is None or sample.get("phase") or (latest and stamp < latest):
                    continue
                if measurand == _ENERGY:
                    live["wh"] = int(number * 1000 if unit == "kWh" else number)
                elif measurand == _POWER:
                    live["w"] = (number * 1000 if unit == "kW" else number).quantize(Decimal("0.1"))
                elif measurand == _SOC:
                    live["soc"] = max(0, min(100, int(number)))
                else:
                    continue
                latest = stamp
        if tx_pk is not None and live and latest is not None:
            previous = _live.get(tx_pk)
            if previous is None or previous[0] <= latest:
                _live[tx_pk] = (latest, live)
        return {}

    def flush_deferred() -> None:
        if _rows:
            MeterValue.objects.bulk_create(_rows, ignore_conflicts=True)
        if _live:
            values = []
            params: list[Any] = []
            for tx_pk, (at, live) in _live.items():
                values.append("(%s::int, %s::bigint, %s::numeric, %s::smallint, %s::timestamptz)")
                params += [tx_pk, live.get("wh"), live.get("w"), live.get("soc"), at]
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE csms_transaction t SET "
                    "last_meter_wh = COALESCE(v.wh, t.last_meter_wh), "
                    "last_power_w = COALESCE(v.w, t.last_power_w), "
                    "last_soc = COALESCE(v.soc, t.last_soc), last_meter_at = v.at "
                    f"FROM (VALUES {', '.join(values)}) AS v(id, wh, w, soc, at) "
                    "WHERE t.id = v.id AND t.stopped_at IS NULL "
                    "AND (t.last_meter_at IS NULL OR t.last_meter_at <= v.at)",
                    params,
                )

    original = committer._execute_once

    def _execute_once(batch: Any, *, isolate: bool) -> None:
        _rows.clear()
        _live.clear()
        jobs = batch.jobs
        # Run the original with a final pseudo-job that writes what the handlers deferred,
        # inside the same transaction, before the message log and the commit.
        batch.jobs = [*jobs, committer._Job(flush_deferred, (), _Done())]
        try:
            original(batch, isolate=isolate)
        finally:
            batch.jobs = jobs

    handlers.HANDLERS["MeterValues"] = meter_values
    committer._execute_once = _execute_once


class _Done:
    """Stands in for the pseudo-job's future (nobody awaits it)."""

    def done(self) -> bool:
        return True


after_import("ocpp_gateway.committer", _patch)
