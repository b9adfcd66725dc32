"""The quarterly sums of the monthly sums already kept (reports.ledger's _quarters_write as of
this migration): without them the reports would read empty quarters until the next write."""

from django.db import migrations
from django.db.models import DateField, Max, Sum
from django.db.models.functions import Cast, TruncQuarter

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


def quarters_from_months(apps, schema_editor):
    """Added up and written by the database in one statement (INSERT ... SELECT): the months
    of a large ledger never pass through Python."""
    BilledMonth = apps.get_model("reports", "BilledMonth")
    BilledQuarter = apps.get_model("reports", "BilledQuarter")
    rows = (
        BilledMonth.objects.annotate(q=Cast(TruncQuarter("month"), DateField()))
        .values("q", *KEYS)
        .annotate(**{f"s_{name}": total for name, total in SUMS.items()})
        .order_by()
    )
    select, params = rows.query.sql_with_params()
    quote = schema_editor.connection.ops.quote_name
    columns = ["quarter", *KEYS, *SUMS]
    chosen = ["q", *KEYS, *(f"s_{name}" for name in SUMS)]
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(BilledQuarter._meta.db_table)} "
            f"({', '.join(quote(c) for c in columns)}) "
            f"SELECT {', '.join(f'selected.{quote(c)}' for c in chosen)} FROM ({select}) selected",
            params,
        )


def quarters_forgotten(apps, schema_editor):
    apps.get_model("reports", "BilledQuarter").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("reports", "0008_billed_quarter"),
    ]

    operations = [
        migrations.RunPython(quarters_from_months, quarters_forgotten),
    ]
