"""Writes of the core domain, one module per sub-domain. Keyword-only, synchronous, one
concern each; import them from their module (``from csms.services.transactions import
transaction_start``), so a reader lands where the code is.

The gateway calls these inside its group-commit transaction (ocpp_gateway.committer); the API
and admin call them directly. None of them commits on its own: callers own the transaction.
"""
