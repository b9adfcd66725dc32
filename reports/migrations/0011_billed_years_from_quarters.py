"""The yearly sums of the quarterly sums already kept (reports.ledger's _years_write as of this
migration): without them the reports would read empty years until the next write."""

from django.db import migrations
from django.db.models import DateField, Max, Sum
from django.db.models.functions import Cast, TruncYear

KEYS = ("account_id", "currency", "contract_id", "contract_line_id", "item_id", "kind")
SUMS = {
    "quantity": Sum("quantity"),
    "amount": Sum("amount"),
    "credited": Sum("credited"),
    "contract_amount": Sum("contract_amount"),
    "contract_quantity": Sum("contract_quantity"),
    "priced": Sum("priced"),
    "lines": Sum("lines"),
    "list_unit_amount": Max("list_unit_amount"),
}


def years_from_quarters(apps, schema_editor):
    """Added up and written by the database in one statement (INSERT ... SELECT): the
    quarters of a large ledger never pass through Python."""
    BilledQuarter = apps.get_model("reports", "BilledQuarter")
    BilledYear = apps.get_model("reports", "BilledYear")
    rows = (
        BilledQuarter.objects.annotate(y=Cast(TruncYear("quarter"), DateField()))
        .values("y", *KEYS)
        .annotate(**{f"s_{name}": total for name, total in SUMS.items()})
        .order_by()
    )
    select, params = rows.query.sql_with_params()
    quote = schema_editor.connection.ops.quote_name
    columns = ["year", *KEYS, *SUMS]
    chosen = ["y", *KEYS, *(f"s_{name}" for name in SUMS)]
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(BilledYear._meta.db_table)} "
            f"({', '.join(quote(c) for c in columns)}) "
            f"SELECT {', '.join(f'selected.{quote(c)}' for c in chosen)} FROM ({select}) selected",
            params,
        )


def years_forgotten(apps, schema_editor):
    apps.get_model("reports", "BilledYear").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("reports", "0010_billed_year"),
    ]

    operations = [
        migrations.RunPython(years_from_quarters, years_forgotten),
    ]
