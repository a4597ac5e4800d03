"""REST API of wallet under /api/v1/: thin DRF views that parse with csms.api.common (strict
query parsing, pagination, error shape, ``*_or_404``), read through wallet.selectors and
write through wallet.services. Empty until the wallet issue lands; its URLs then join
csms/urls.py.
"""

from __future__ import annotations
