"""wallet's models, one module per sub-domain, re-exported here (``from wallet.models import
X``): the ledger (wallets, accounts, journal entries, postings), payments (top-ups, provider
events, refunds), app sessions, invoices."""

from __future__ import annotations

from wallet.models.invoices import Invoice, InvoiceSequence
from wallet.models.ledger import LEDGER_MONEY, JournalEntry, LedgerAccount, Posting, Wallet
from wallet.models.payments import ProviderEvent, Refund, TopUp
from wallet.models.sessions import AppSession

__all__ = [
    "LEDGER_MONEY",
    "AppSession",
    "Invoice",
    "InvoiceSequence",
    "JournalEntry",
    "LedgerAccount",
    "Posting",
    "ProviderEvent",
    "Refund",
    "TopUp",
    "Wallet",
]
