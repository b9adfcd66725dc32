"""The old links of a write to an account and a contract, now held by its record (0002)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0014_stripe_writes_name_their_record"),
        ("customers", "0006_stripe_writes_name_their_record"),
        ("stripe_sync", "0002_stripe_write_record"),
    ]

    operations = [
        migrations.RemoveField(model_name="stripewrite", name="account"),
        migrations.RemoveField(model_name="stripewrite", name="contract"),
    ]
