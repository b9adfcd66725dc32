"""Read Stripe's events list every minute (the safety net for lost webhooks), and forget any
Stripe key an earlier dj-stripe sync stored in plaintext (the key lives in the environment)."""

from django.db import migrations

TASK_NAME = "Stripe: apply new events from the events list"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "billing.tasks.stripe_events_sync_task", "interval": every_minute},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


def forget_stored_keys(apps, schema_editor):
    apps.get_model("djstripe", "APIKey").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_sync_engine"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("djstripe", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(schedule, unschedule),
        migrations.RunPython(forget_stored_keys, migrations.RunPython.noop),
    ]
