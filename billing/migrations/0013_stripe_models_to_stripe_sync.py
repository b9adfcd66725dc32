"""The Stripe sync's models now belong to the stripe_sync app (its 0001). Their tables stay;
Django's content types follow them, so that their permissions (and anything granted with
them) and the admin's log keep pointing at them."""

from django.db import migrations

MOVED = ("syncstatus", "stripeevent", "stripeobjectversion", "stripewrite")


def content_types_to(app_from: str, app_to: str):
    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        for model in MOVED:
            if ContentType.objects.filter(app_label=app_to, model=model).exists():
                continue  # already there (made by a post_migrate in between): leave both
            ContentType.objects.filter(app_label=app_from, model=model).update(app_label=app_to)

    return move


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0012_invoice_queue_indexes"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("stripe_sync", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="StripeWrite"),
                migrations.DeleteModel(name="StripeEvent"),
                migrations.DeleteModel(name="StripeObjectVersion"),
                migrations.DeleteModel(name="SyncStatus"),
            ],
            database_operations=[],
        ),
        migrations.RunPython(
            content_types_to("billing", "stripe_sync"), content_types_to("stripe_sync", "billing")
        ),
    ]
