"""``manage.py ledger_verify``: every account's cached balance equals the sum of its postings,
and every journal entry balances. Exit status 1 when anything disagrees (cron- and CI-able)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from wallet.models import LedgerAccount
from wallet.selectors.ledger import ledger_mismatches, ledger_unbalanced_entries


class Command(BaseCommand):
    help = "Check that every ledger balance is the sum of its postings and every entry balances."

    def handle(self, *args: Any, **options: Any) -> None:
        mismatches = ledger_mismatches()
        unbalanced = ledger_unbalanced_entries()
        for m in mismatches:
            self.stderr.write(
                f"account {m.account.pk} ({m.account}): cached {m.cached}, "
                f"postings say {m.from_postings}"
            )
        for entry_id in unbalanced:
            self.stderr.write(f"journal entry {entry_id} does not balance")
        if mismatches or unbalanced:
            raise CommandError(
                f"{len(mismatches)} balance(s) and {len(unbalanced)} entry(ies) disagree."
            )
        self.stdout.write(f"ledger consistent: {LedgerAccount.objects.count()} accounts checked.")
