"""REST API of billing under /api/v1/: thin DRF views that parse with csms.api.common (strict
query parsing, pagination, error shape, ``*_or_404``), read through billing.selectors and
write through billing.services. Empty until the billing issue lands; its URLs then join
csms/urls.py.
"""

from __future__ import annotations
