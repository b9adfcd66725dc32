"""The Stripe objects in dj-stripe's tables (`stripe_data`) compressed with lz4 instead of
PostgreSQL's default pglz: an invoice's JSON is over the 2 KB at which PostgreSQL compresses,
and pglz cost a third of the database's time writing a backfill's invoices; lz4 compresses about
as well, several times faster. New values only: rows already written stay as they are until
they are next written. PostgreSQL 14 and later built with lz4 (Debian's and the official
images are); elsewhere, and on SQLite, nothing changes."""

from django.db import migrations


def _mirror_tables(apps):
    return sorted(
        model._meta.db_table
        for model in apps.get_app_config("djstripe").get_models()
        if any(f.name == "stripe_data" for f in model._meta.concrete_fields)
    )


def _compression(apps, schema_editor, method):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_settings WHERE name = 'default_toast_compression' "
            "AND %s = ANY(enumvals)",
            [method],
        )
        if not cursor.fetchone()[0]:
            return  # this PostgreSQL has no lz4: pglz stays
    for table in _mirror_tables(apps):
        schema_editor.execute(
            f"ALTER TABLE {schema_editor.quote_name(table)} "
            f"ALTER COLUMN stripe_data SET COMPRESSION {method}"
        )


def use_lz4(apps, schema_editor):
    _compression(apps, schema_editor, "lz4")


def use_pglz(apps, schema_editor):
    _compression(apps, schema_editor, "pglz")


class Migration(migrations.Migration):
    dependencies = [
        ("stripe_sync", "0007_mirror_invoice_indexes"),
        ("djstripe", "0003_2_11"),
    ]

    operations = [migrations.RunPython(use_lz4, use_pglz)]
