"""wallet's admin, one module per sub-domain. Read-mostly: money moves only through wallet
services (a balance edited by hand would disagree with its ledger)."""
