"""Each write to Stripe about an account (its customer, its tax IDs) names the account as its
record (stripe_sync's 0002), from the old account link. The reverse puts the link back."""

from django.db import migrations
from django.db.models import F


def account_type(apps):
    ContentType = apps.get_model("contenttypes", "ContentType")
    return ContentType.objects.get_or_create(app_label="customers", model="account")[0]


def name_records(apps, schema_editor):
    StripeWrite = apps.get_model("stripe_sync", "StripeWrite")
    StripeWrite.objects.filter(record_type__isnull=True, account_id__isnull=False).update(
        record_type=account_type(apps), record_id=F("account_id")
    )


def restore_links(apps, schema_editor):
    StripeWrite = apps.get_model("stripe_sync", "StripeWrite")
    StripeWrite.objects.filter(record_type=account_type(apps)).update(account_id=F("record_id"))


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0005_import_permissions"),
        ("billing", "0014_stripe_writes_name_their_record"),
        ("stripe_sync", "0002_stripe_write_record"),
    ]

    operations = [migrations.RunPython(name_records, restore_links)]
