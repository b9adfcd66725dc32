"""The Stripe sync's models, moved from billing: their tables stay as they are (billing_...),
only Django's idea of which app owns them changes. Nothing is written to the database here."""

import django.db.models.deletion
from django.db import migrations, models

SYNC_STATUS = migrations.CreateModel(
    name="SyncStatus",
    fields=[
        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
        ("object_type", models.CharField(max_length=40, unique=True)),
        ("backfill_cursor", models.CharField(blank=True, max_length=255)),
        ("backfill_started_at", models.DateTimeField(blank=True, null=True)),
        ("backfill_finished_at", models.DateTimeField(blank=True, null=True)),
        ("backfill_objects", models.PositiveIntegerField(default=0, help_text="Objects written by the backfill in progress, or the last one.")),
        ("events_cursor_created", models.DateTimeField(blank=True, null=True)),
        ("events_cursor_id", models.CharField(blank=True, max_length=255)),
        ("last_run_started_at", models.DateTimeField(blank=True, null=True)),
        ("last_run_finished_at", models.DateTimeField(blank=True, null=True)),
        ("last_run_objects", models.PositiveIntegerField(default=0)),
        ("last_run_requests", models.PositiveIntegerField(default=0)),
        ("last_run_duration", models.DurationField(blank=True, null=True)),
        ("last_error", models.TextField(blank=True)),
        ("last_error_at", models.DateTimeField(blank=True, null=True)),
        ("synced_through", models.DateTimeField(blank=True, null=True)),
        ("lease_until", models.DateTimeField(blank=True, null=True)),
    ],
    options={
        "db_table": "billing_syncstatus",
        "verbose_name": "Stripe sync status",
        "verbose_name_plural": "Stripe sync status",
        "ordering": ("object_type",),
        "permissions": [("run_stripe_sync", "Can start a Stripe sync or retry a Stripe event")],
    },
)

STRIPE_EVENT = migrations.CreateModel(
    name="StripeEvent",
    fields=[
        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
        ("stripe_id", models.CharField(max_length=255, unique=True, verbose_name="event ID")),
        ("type", models.CharField(db_index=True, max_length=100)),
        ("created", models.DateTimeField(help_text="When Stripe created the event.")),
        ("livemode", models.BooleanField(default=False)),
        ("api_version", models.CharField(blank=True, max_length=64)),
        ("object_type", models.CharField(blank=True, max_length=64)),
        ("object_id", models.CharField(blank=True, db_index=True, max_length=255)),
        ("payload", models.JSONField(help_text="The event exactly as Stripe sent it.")),
        ("source", models.CharField(choices=[("webhook", "Webhook"), ("events_list", "Events list")], max_length=20)),
        ("received_at", models.DateTimeField(auto_now_add=True)),
        ("status", models.CharField(choices=[("pending", "Pending"), ("processed", "Processed"), ("ignored", "Ignored (nothing to mirror)"), ("failed", "Failed")], default="pending", max_length=20)),
        ("attempts", models.PositiveIntegerField(default=0)),
        ("last_error", models.TextField(blank=True)),
        ("processed_at", models.DateTimeField(blank=True, null=True)),
    ],
    options={
        "db_table": "billing_stripeevent",
        "verbose_name": "Stripe event",
        "ordering": ("-created", "-id"),
        "indexes": [models.Index(fields=["status", "created"], name="stripe_event_status_created")],
    },
)

STRIPE_OBJECT_VERSION = migrations.CreateModel(
    name="StripeObjectVersion",
    fields=[
        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
        ("object_type", models.CharField(max_length=40)),
        ("stripe_id", models.CharField(max_length=255)),
        ("observed_at", models.DateTimeField()),
        ("deleted", models.BooleanField(default=False)),
    ],
    options={
        "db_table": "billing_stripeobjectversion",
        "constraints": [models.UniqueConstraint(fields=("object_type", "stripe_id"), name="stripe_object_version_unique")],
    },
)

# As billing left it: linked to an account and a contract (0002 and 0003 make it one link to
# any record).
STRIPE_WRITE = migrations.CreateModel(
    name="StripeWrite",
    fields=[
        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
        ("idempotency_key", models.CharField(max_length=255, unique=True)),
        ("description", models.CharField(max_length=255)),
        ("method", models.CharField(max_length=6)),
        ("path", models.CharField(max_length=255)),
        ("params", models.JSONField(default=dict)),
        ("outcome", models.CharField(choices=[("pending", "Pending"), ("done", "Done"), ("retrying", "Failed for now (Stripe unavailable); retried"), ("refused", "Refused by Stripe")], default="pending", max_length=16)),
        ("stripe_id", models.CharField(blank=True, max_length=255, verbose_name="Stripe id")),
        ("error", models.TextField(blank=True)),
        ("attempts", models.PositiveIntegerField(default=0)),
        ("created_at", models.DateTimeField(auto_now_add=True)),
        ("updated_at", models.DateTimeField(auto_now=True)),
        ("account", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="stripe_writes", to="customers.account")),
        ("contract", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="stripe_writes", to="billing.contract")),
    ],
    options={
        "db_table": "billing_stripewrite",
        "verbose_name": "write to Stripe",
        "verbose_name_plural": "writes to Stripe",
        "ordering": ("-created_at", "-id"),
    },
)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("billing", "0012_invoice_queue_indexes"),
        ("customers", "0005_import_permissions"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[SYNC_STATUS, STRIPE_EVENT, STRIPE_OBJECT_VERSION, STRIPE_WRITE],
            database_operations=[],
        )
    ]
