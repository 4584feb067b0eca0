"""Ledger entries and lot movements are append-only, enforced by the database itself:
triggers refuse every UPDATE and DELETE, whatever client sends it."""

from django.db import migrations

TABLES = ["rewards_ledgerentry", "rewards_lotmovement"]

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION rewards_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'The points ledger is append-only: %% on %% is refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION)
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION rewards_refuse_change();"
            )
    elif vendor == "sqlite":
        for table in TABLES:
            for operation in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'The points ledger is append-only: {operation} "
                    f"on {table} is refused.'); END;"
                )
    else:
        raise RuntimeError(f"No append-only triggers for the {vendor} database.")


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
        else:
            for operation in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation};")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS rewards_refuse_change();")


class Migration(migrations.Migration):
    dependencies = [("rewards", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
