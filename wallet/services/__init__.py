"""Writes of wallet: keyword-only functions named ``<entity>_<action>``, one module per
sub-domain (ledger, accounts, payments, sessions, invoices). None commits on its own unless its
docstring says so; side effects outside the database run after commit.

wallet may import csms and billing; neither imports wallet (they send signals it receives).
"""
