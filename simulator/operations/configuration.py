"""GetConfiguration, ChangeConfiguration, ClearCache, SendLocalList, GetLocalListVersion,
DataTransfer."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from simulator.state import ACCEPTED
from simulator.transactions import Transactions


class ConfigurationOperations(Transactions):
    """Handlers of configuration keys, authorization data and vendor data."""

    @on(Action.get_configuration)
    def on_get_configuration(
        self, key: list[str] | None = None, **_: Any
    ) -> call_result.GetConfiguration:
        known, unknown = self.keys.describe(key)
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(
        self, key: str, value: str, **_: Any
    ) -> call_result.ChangeConfiguration:
        status = self.keys.change(key, value)
        self._note(f"ChangeConfiguration {key}={value}: {status}")
        return call_result.ChangeConfiguration(status=status)

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        self.auth_cache.clear()
        self._note("ClearCache: Accepted")
        return call_result.ClearCache(status=ACCEPTED)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="UnknownVendorId")

    # Local authorization list

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.SendLocalList:
        status = self._apply_local_list(list_version, update_type, local_authorization_list or [])
        self._note(f"SendLocalList {update_type} version {list_version}: {status}")
        return call_result.SendLocalList(status=status)

    def _apply_local_list(
        self, version: int, update_type: str, entries: list[dict[str, Any]]
    ) -> str:
        if not self.keys.get_bool("LocalAuthListEnabled"):
            return "NotSupported"
        if len(entries) > self.keys.get_int("SendLocalListMaxLength"):
            return "Failed"
        if update_type == "Differential" and version <= self.local_list_version:
            return "VersionMismatch"
        updated = {} if update_type == "Full" else dict(self.local_list)
        for entry in entries:
            key = str(entry["id_tag"]).upper()
            info = entry.get("id_tag_info")
            if info:
                updated[key] = dict(info)
            else:
                # Differential: an entry without idTagInfo removes the tag.
                updated.pop(key, None)
        if len(updated) > self.keys.get_int("LocalAuthListMaxLength"):
            return "Failed"
        self.local_list, self.local_list_version = updated, version
        return ACCEPTED

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        if not self.keys.get_bool("LocalAuthListEnabled"):
            return call_result.GetLocalListVersion(list_version=-1)
        return call_result.GetLocalListVersion(list_version=self.local_list_version)
