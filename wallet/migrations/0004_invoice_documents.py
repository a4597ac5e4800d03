"""Invoices become an order's documents: the first invoice, credit notes and supplementary
invoices (one gapless series). Existing invoices are first invoices, keyed "order:<id>"."""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models


def key_existing_invoices(apps: Any, schema_editor: Any) -> None:
    Invoice = apps.get_model("wallet", "Invoice")
    for invoice in Invoice.objects.only("pk", "order_id").iterator():
        Invoice.objects.filter(pk=invoice.pk).update(idempotency_key=f"order:{invoice.order_id}")


class Migration(migrations.Migration):
    dependencies = [("wallet", "0003_ledger_guards")]

    operations = [
        migrations.AlterField(
            model_name="invoice",
            name="order",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="invoices",
                to="billing.order",
            ),
        ),
        migrations.AddField(
            model_name="invoice",
            name="kind",
            field=models.CharField(
                choices=[("invoice", "Invoice"), ("credit_note", "Credit note")],
                default="invoice",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="invoice",
            name="corrects",
            field=models.ForeignKey(
                blank=True,
                help_text="The order's first invoice, which this credit note or supplementary "
                "invoice corrects; empty: this is the first invoice.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="corrections",
                to="wallet.invoice",
            ),
        ),
        migrations.AddField(
            model_name="invoice",
            name="reason",
            field=models.CharField(blank=True, max_length=255),
        ),
        # Add, populate, then make unique: existing rows have no key yet.
        migrations.AddField(
            model_name="invoice",
            name="idempotency_key",
            field=models.CharField(default="", max_length=200),
            preserve_default=False,
        ),
        migrations.RunPython(key_existing_invoices, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="invoice",
            name="idempotency_key",
            field=models.CharField(
                help_text='What issued it, once: "order:<id>" (the first invoice), "refund:<id>" '
                "(a refund's credit note), \"order:<id>:reprice:<sample>\" (a re-price).",
                max_length=200,
                unique=True,
            ),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.UniqueConstraint(
                condition=models.Q(("corrects__isnull", True), ("kind", "invoice")),
                fields=("order",),
                name="wallet_invoice_one_first_per_order",
            ),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("corrects__isnull", False),
                        ("kind", "credit_note"),
                        ("total_incl_vat__lt", 0),
                    ),
                    models.Q(("kind", "invoice"), ("total_incl_vat__gte", 0)),
                    _connector="OR",
                ),
                name="wallet_invoice_kind_sign",
            ),
        ),
    ]
