"""Celery tasks of billing: each takes ids (never model instances) and calls one service.
Empty until the billing issue lands.
"""

from __future__ import annotations
