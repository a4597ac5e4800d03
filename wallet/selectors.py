"""Reads of wallet (driver accounts and the ledger), shaped for its API and admin: lazy
QuerySets with their joins declared, filters already parsed (the API parses query strings
with csms.api.common). Empty until the wallet issue lands.
"""

from __future__ import annotations
