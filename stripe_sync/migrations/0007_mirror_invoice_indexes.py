"""Indexes on dj-stripe's invoice table for the admin's Stripe mirror > Invoices: the newest
first (the list's order), and the invoice number (the search). PostgreSQL only: the embedded
SQLite demo holds a few dozen invoices."""

from django.db import migrations

INDEXES = (
    (
        "mirror_invoice_newest",
        "CREATE INDEX IF NOT EXISTS mirror_invoice_newest "
        "ON djstripe_invoice (created DESC, djstripe_id DESC)",
    ),
    (
        "mirror_invoice_number",
        "CREATE INDEX IF NOT EXISTS mirror_invoice_number "
        "ON djstripe_invoice ((stripe_data -> 'number'))",
    ),
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _, sql in INDEXES:
        schema_editor.execute(sql)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("stripe_sync", "0006_write_superseded"),
        ("djstripe", "0003_2_11"),
    ]

    operations = [migrations.RunPython(create, drop)]
