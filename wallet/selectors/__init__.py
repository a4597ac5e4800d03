"""Reads of wallet, shaped for its API and admin, one module per sub-domain."""
