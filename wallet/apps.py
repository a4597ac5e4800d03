from __future__ import annotations

from django.apps import AppConfig


class WalletConfig(AppConfig):
    name = "wallet"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models import Q

        from billing.events import order_billed
        from csms import signals as csms_signals
        from csms.admin.stations import charge_point_admin_action_register
        from csms.services.authorization import (
            authorization_check_register,
            local_list_exclusion_register,
        )
        from wallet import signals
        from wallet.admin.qr import print_qr_codes
        from wallet.selectors.authorization import id_tag_wallet_check

        order_billed.connect(signals.on_order_billed, dispatch_uid="wallet.order_billed")
        # Charging from the app (wallet.services.sessions).
        for signal, receiver in (
            (csms_signals.transaction_started, signals.on_transaction_started),
            (csms_signals.transaction_meter_updated, signals.on_transaction_meter_updated),
            (csms_signals.transaction_stopped, signals.on_transaction_stopped),
            (csms_signals.command_answered, signals.on_command_answered),
            (csms_signals.command_not_done, signals.on_command_not_done),
        ):
            signal.connect(receiver, dispatch_uid=f"wallet.{receiver.__name__}")
        charge_point_admin_action_register(print_qr_codes)
        # A driver's tags charge only what their wallet can pay for, decided online at each
        # Authorize and StartTransaction: never in a station's local authorization list,
        # where it would be Accepted offline whatever the balance.
        authorization_check_register("wallet", id_tag_wallet_check)
        local_list_exclusion_register("wallet", Q(user__wallet__isnull=False))
