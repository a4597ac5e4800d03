"""Writes of wallet (driver accounts and the ledger): keyword-only functions named
``<entity>_<action>``, each one concern, none committing on its own (callers own the
transaction). Side effects outside the database run after commit
(``transaction.on_commit``, ``task.delay_on_commit``).

wallet may import csms (models, services, selectors, csms.api.common); csms never imports
wallet: it learns of csms events through csms.signals. Empty until the wallet issue lands.
"""

from __future__ import annotations
