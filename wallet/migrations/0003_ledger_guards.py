"""The database guards the ledger itself (PostgreSQL): journal entries and postings cannot be
updated or deleted, and a transaction cannot commit an entry whose postings do not sum to zero,
that has fewer than two postings, or whose accounts are in another currency than the entry.

The balance check is a deferred constraint trigger: the postings of an entry are inserted after
the entry, so the check runs at commit (or at ``SET CONSTRAINTS ... IMMEDIATE``). TRUNCATE is
not refused: it needs the table's owner, and the test runner empties tables with it.

Also grants operators (csms 0002's group) view access to the wallet models in the admin;
support staff get none: they see stations and sessions, not money.
"""

from __future__ import annotations

from django.db import migrations

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION wallet_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER wallet_journalentry_append_only BEFORE UPDATE OR DELETE ON wallet_journalentry
    FOR EACH ROW EXECUTE FUNCTION wallet_ledger_append_only();
CREATE TRIGGER wallet_posting_append_only BEFORE UPDATE OR DELETE ON wallet_posting
    FOR EACH ROW EXECUTE FUNCTION wallet_ledger_append_only();

CREATE OR REPLACE FUNCTION wallet_entry_balanced() RETURNS trigger AS $$
DECLARE
    the_entry bigint;
    entry_currency varchar;
    total numeric;
    legs integer;
    foreign_legs integer;
BEGIN
    IF TG_TABLE_NAME = 'wallet_posting' THEN
        the_entry := NEW.entry_id;
    ELSE
        the_entry := NEW.id;
    END IF;
    SELECT e.currency INTO entry_currency FROM wallet_journalentry e WHERE e.id = the_entry;
    SELECT coalesce(sum(p.amount), 0), count(*),
           count(*) FILTER (WHERE a.currency <> entry_currency)
      INTO total, legs, foreign_legs
      FROM wallet_posting p JOIN wallet_ledgeraccount a ON a.id = p.account_id
     WHERE p.entry_id = the_entry;
    IF legs < 2 THEN
        RAISE EXCEPTION 'journal entry % has % posting(s); it needs at least two', the_entry, legs
            USING ERRCODE = 'check_violation';
    END IF;
    IF total <> 0 THEN
        RAISE EXCEPTION 'journal entry % does not balance: its postings sum to %', the_entry, total
            USING ERRCODE = 'check_violation';
    END IF;
    IF foreign_legs > 0 THEN
        RAISE EXCEPTION 'journal entry % (%) posts to an account in another currency',
            the_entry, entry_currency
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER wallet_posting_balanced AFTER INSERT ON wallet_posting
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wallet_entry_balanced();
CREATE CONSTRAINT TRIGGER wallet_entry_balanced AFTER INSERT ON wallet_journalentry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wallet_entry_balanced();
"""

APPEND_ONLY_REVERSE = """
DROP TRIGGER IF EXISTS wallet_entry_balanced ON wallet_journalentry;
DROP TRIGGER IF EXISTS wallet_posting_balanced ON wallet_posting;
DROP FUNCTION IF EXISTS wallet_entry_balanced();
DROP TRIGGER IF EXISTS wallet_posting_append_only ON wallet_posting;
DROP TRIGGER IF EXISTS wallet_journalentry_append_only ON wallet_journalentry;
DROP FUNCTION IF EXISTS wallet_ledger_append_only();
"""


def guards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(APPEND_ONLY)  # no parameters: '%' in the SQL is RAISE's placeholder


def guards_reverse(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(APPEND_ONLY_REVERSE)


def grant_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("wallet")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    operators, _ = Group.objects.get_or_create(name="operators")
    operators.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="wallet", codename__startswith="view_"
        )
    )


class Migration(migrations.Migration):
    dependencies = [("wallet", "0002_ledger"), ("csms", "0002_roles")]

    operations = [
        migrations.RunPython(guards, guards_reverse),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
