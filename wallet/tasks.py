"""Celery tasks of wallet: each takes ids (never model instances) and calls one service.
Empty until the wallet issue lands.
"""

from __future__ import annotations
