"""Reads of billing (tariffs, sites and orders), shaped for its API and admin: lazy
QuerySets with their joins declared, filters already parsed (the API parses query strings
with csms.api.common). Empty until the billing issue lands.
"""

from __future__ import annotations
