"""wallet's admin, one module per sub-domain: ``ledger`` (wallets with balances and
statement, accounts, journal entries with postings), ``payments`` (top-ups, refunds, provider
events; the refund pages, and billing's Order admin re-registered with "Refund…"),
``sessions`` (app sessions), ``invoices``; ``common`` the base they share.

Read-only: money moves through wallet's services only (a balance edited by hand would disagree
with its ledger). Operators view (their group's view permissions, wallet 0003) and refund;
support staff see none of it.
"""

from __future__ import annotations

# Django's autodiscover imports this package only: importing the modules registers them.
from wallet.admin import invoices, ledger, payments, sessions

__all__ = ["invoices", "ledger", "payments", "sessions"]
