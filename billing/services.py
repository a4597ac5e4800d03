"""Writes of billing (tariffs, sites and orders): keyword-only functions named
``<entity>_<action>``, each one concern, none committing on its own (callers own the
transaction). Side effects outside the database run after commit
(``transaction.on_commit``, ``task.delay_on_commit``).

billing may import csms (models, services, selectors, csms.api.common); csms never imports
billing: it learns of csms events through csms.signals. Empty until the billing issue lands.
"""

from __future__ import annotations
