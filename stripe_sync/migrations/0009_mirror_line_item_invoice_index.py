"""An index on the invoice of each mirrored invoice line: an invoice's lines are read by it
(invoice review, the reports' ledger), which without it scans every line of every invoice.
PostgreSQL only, as 0007."""

from django.db import migrations

NAME = "mirror_line_item_invoice"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {NAME} ON djstripe_lineitem ((stripe_data -> 'invoice'))"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("stripe_sync", "0008_mirror_lz4")]

    operations = [migrations.RunPython(create, drop)]
