"""A write to Stripe names the record it is for (of any app) instead of holding foreign keys to
accounts and contracts: the Stripe app knows no domain model. Filled from the old links by
billing's 0014 and customers' 0006; 0003 then drops the old links."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("stripe_sync", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="stripewrite",
            name="record_type",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="contenttypes.contenttype",
            ),
        ),
        migrations.AddField(
            model_name="stripewrite",
            name="record_id",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="stripewrite",
            index=models.Index(fields=["record_type", "record_id"], name="stripe_write_record"),
        ),
    ]
