from __future__ import annotations

from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.events import order_billed
        from wallet import signals

        order_billed.connect(signals.on_order_billed, dispatch_uid="wallet.order_billed")
