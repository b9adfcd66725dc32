"""The outcomes of the charges already in the mirror (payments.acceptance.charge_outcomes_rebuild
as of this migration): without them the acceptance rates would read no charges until the sync
writes each one again."""

from django.db import migrations
from django.db.models import TextField, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce


def outcomes_from_mirror(apps, schema_editor):
    Charge = apps.get_model("djstripe", "Charge")
    ChargeOutcome = apps.get_model("payments", "ChargeOutcome")
    rows = (
        Charge.objects.annotate(
            method=Coalesce(
                KT("stripe_data__payment_method_details__type"), Value(""), output_field=TextField()
            ),
            payer=Coalesce("customer_id", KT("stripe_data__customer"), output_field=TextField()),
        )
        .values_list("id", "created", "status", "method", "payer")
        .order_by("djstripe_id")
    )
    batch = []
    for charge_id, created, status, method, payer in rows.iterator(chunk_size=5000):
        batch.append(
            ChargeOutcome(
                stripe_charge_id=charge_id,
                created=created,
                status=status,
                payment_method_type=method,
                customer_id=payer,
            )
        )
        if len(batch) >= 5000:
            ChargeOutcome.objects.bulk_create(batch)
            batch = []
    ChargeOutcome.objects.bulk_create(batch)
    if schema_editor.connection.vendor == "postgresql":
        # The planner's statistics now, not at autovacuum's next pass: without them it guesses
        # the table empty and the report's first reads join row by row.
        schema_editor.execute("ANALYZE payments_chargeoutcome")


def outcomes_dropped(apps, schema_editor):
    apps.get_model("payments", "ChargeOutcome").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("djstripe", "0003_2_11"),
        ("payments", "0003_charge_outcome"),
    ]

    operations = [migrations.RunPython(outcomes_from_mirror, outcomes_dropped)]
