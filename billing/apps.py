from __future__ import annotations

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        """Subscribe to csms's session events and extend csms's transaction API and admin
        with the cost so far (csms never imports billing: it offers these hooks)."""
        from billing import signals
        from billing.admin.orders import cost_so_far_display
        from billing.api.orders import CostSoFarField
        from csms import signals as csms_signals
        from csms.admin.transactions import transaction_admin_field_register
        from csms.api.transactions import transaction_detail_field_register

        csms_signals.transaction_started.connect(
            signals.on_transaction_started, dispatch_uid="billing-snapshot"
        )
        csms_signals.transaction_stopped.connect(
            signals.on_transaction_stopped, dispatch_uid="billing-order"
        )
        csms_signals.transaction_samples_late.connect(
            signals.on_transaction_samples_late, dispatch_uid="billing-reprice"
        )
        transaction_detail_field_register("cost_so_far", CostSoFarField)
        transaction_admin_field_register(cost_so_far_display)
