"""UpdateFirmware (simulated, no download) and GetDiagnostics (really uploaded)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from simulator.smart_charging import parse_datetime
from simulator.state import iso, utcnow
from simulator.transactions import Transactions
from simulator.upload import UploadError, upload_file


class FirmwareDiagnosticsOperations(Transactions):
    """Handlers of firmware updates and diagnostics."""

    @on(Action.update_firmware)
    def on_update_firmware(
        self,
        location: str,
        retrieve_date: str,
        call_unique_id: str | None = None,
        **_: Any,
    ) -> call_result.UpdateFirmware:
        self._note(f"UpdateFirmware from {location} at {retrieve_date}")
        if self._firmware_task is not None and not self._firmware_task.done():
            self._firmware_task.cancel()  # the newer request replaces the older one
        gate = self._gate(call_unique_id)
        self._firmware_task = self._spawn(self._update_firmware(gate, location, retrieve_date))
        return call_result.UpdateFirmware()

    async def _firmware_step(self, status: str) -> None:
        self.firmware_status = status
        self._note(f"firmware {status}")
        # Kept until delivered (e.g. across the reboot of a Reset that came meanwhile).
        await self._request(call.FirmwareStatusNotification(status=status), queue=True)

    async def _update_firmware(self, gate: asyncio.Event, location: str, retrieve: str) -> None:
        await self._await_gate(gate)
        try:
            when = parse_datetime(retrieve)
        except ValueError:
            when = utcnow()
        await asyncio.sleep(max(0.0, (when - utcnow()).total_seconds()))
        step = self.config.firmware_step_seconds
        await self._firmware_step("Downloading")
        await asyncio.sleep(step)
        if urlsplit(location).scheme.lower() not in {"http", "https", "ftp", "ftps", "sftp"}:
            await self._firmware_step("DownloadFailed")
            self.firmware_status = "Idle"
            return
        # Install only once no session runs; from now on no new session starts.
        self._install_pending = True
        try:
            await self._firmware_step("Downloaded")
            while running := [c.task for c in self.connectors.values() if c.task is not None]:
                await asyncio.gather(*running, return_exceptions=True)
            await self._firmware_step("Installing")
            await asyncio.sleep(step)
            name = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
            self.firmware_version = (name.rsplit(".", 1)[0] if "." in name else name)[:50] or (
                f"{self.firmware_version}+1"
            )
            await self._firmware_step("Installed")
            self.firmware_status = "Idle"
        finally:
            self._install_pending = False
        await self._reboot("Reboot")

    @after(Action.update_firmware)
    def after_update_firmware(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    @on(Action.get_diagnostics)
    def on_get_diagnostics(
        self,
        location: str,
        retries: int | None = None,
        retry_interval: int | None = None,
        start_time: str | None = None,
        stop_time: str | None = None,
        call_unique_id: str | None = None,
        **_: Any,
    ) -> call_result.GetDiagnostics:
        file_name = f"{self.identity}-diagnostics-{utcnow():%Y%m%dT%H%M%SZ}.log"
        self._note(f"GetDiagnostics to {location}: {file_name}")
        content = self._diagnostics_report(start_time, stop_time)
        self._follow_up(
            call_unique_id,
            self._upload_diagnostics(location, file_name, content, retries, retry_interval),
        )
        return call_result.GetDiagnostics(file_name=file_name)

    @after(Action.get_diagnostics)
    def after_get_diagnostics(self, call_unique_id: str, **_: Any) -> None:
        self._open_gate(call_unique_id)

    async def _upload_diagnostics(
        self,
        location: str,
        file_name: str,
        content: bytes,
        retries: int | None,
        retry_interval: int | None,
    ) -> None:
        self.diagnostics_status = "Uploading"
        await self._request(call.DiagnosticsStatusNotification(status="Uploading"), queue=True)
        attempts = 1 + max(0, retries or 0)
        status = "UploadFailed"
        for attempt in range(attempts):
            try:
                code = await upload_file(
                    location,
                    file_name,
                    content,
                    method=self.config.upload_method,
                    timeout=self.config.upload_timeout,
                )
            except UploadError as exc:
                self._note(f"diagnostics upload failed: {exc}")
                if attempt + 1 < attempts:
                    await asyncio.sleep(retry_interval or 0)
                continue
            self._note(f"diagnostics uploaded (HTTP {code})")
            status = "Uploaded"
            break
        self.diagnostics_status = "Idle"
        await self._request(call.DiagnosticsStatusNotification(status=status), queue=True)

    def _diagnostics_report(self, start_time: str | None, stop_time: str | None) -> bytes:
        def bound(value: str | None) -> datetime | None:
            try:
                return parse_datetime(value) if value else None
            except ValueError:
                return None

        since, until = bound(start_time), bound(stop_time)
        lines = [
            f"station {self.identity}",
            f"vendor {self.config.vendor} model {self.config.model}",
            f"firmware {self.firmware_version}",
            f"generated {iso(utcnow())}",
            "",
            "[connectors]",
        ]
        for number in range(len(self.connectors) + 1):
            lines.append(f"{number} {self.status_of(number)}")
        lines += ["", "[configuration]"]
        lines += [f"{entry['key']}={entry['value']}" for entry in self.keys.describe(None)[0]]
        lines += ["", "[events]"]
        for moment, event in self.events:
            if (since is None or moment >= since) and (until is None or moment <= until):
                lines.append(f"{iso(moment)} {event}")
        return ("\n".join(lines) + "\n").encode()
