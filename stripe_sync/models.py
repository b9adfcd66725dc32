"""What the Stripe app keeps on our side: the sync's progress, its guard, the raw events, every
write sent to Stripe with its outcome, and where each of our records stands with Stripe."""

from django.contrib.contenttypes.models import ContentType
from django.db import models

# The tables keep the names they had when these models lived in billing.


class SyncStatus(models.Model):
    """One row per Stripe object type (and one for the event stream): progress and health."""

    object_type = models.CharField(max_length=40, unique=True)
    # A backfill in progress resumes after this Stripe id (lists run newest first).
    backfill_cursor = models.CharField(max_length=255, blank=True)
    backfill_started_at = models.DateTimeField(null=True, blank=True)
    backfill_finished_at = models.DateTimeField(null=True, blank=True)
    backfill_objects = models.PositiveIntegerField(
        default=0, help_text="Objects written by the backfill in progress, or the last one."
    )
    # The event stream's checkpoint: the newest event applied (Stripe's `created`, and its id).
    events_cursor_created = models.DateTimeField(null=True, blank=True)
    events_cursor_id = models.CharField(max_length=255, blank=True)

    last_run_started_at = models.DateTimeField(null=True, blank=True)
    last_run_finished_at = models.DateTimeField(null=True, blank=True)
    last_run_objects = models.PositiveIntegerField(default=0)
    last_run_requests = models.PositiveIntegerField(default=0)
    last_run_duration = models.DurationField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # The mirror holds Stripe's state of this type as of this moment (a backfill's start, or
    # the last event-stream pass that covered every event up to then).
    synced_through = models.DateTimeField(null=True, blank=True)
    # A run holds this lease so that two workers never page the same type at once.
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "billing_syncstatus"
        verbose_name = "Stripe sync status"
        verbose_name_plural = "Stripe sync status"
        ordering = ("object_type",)
        permissions = [("run_stripe_sync", "Can start a Stripe sync or retry a Stripe event")]

    def __str__(self) -> str:
        return self.object_type


class StripeObjectVersion(models.Model):
    """The moment of the newest Stripe state written to the mirror, per object.

    Guards the mirror against an older snapshot (a late or replayed event) overwriting a newer
    one, and keeps deleted objects deleted.
    """

    object_type = models.CharField(max_length=40)
    stripe_id = models.CharField(max_length=255)
    observed_at = models.DateTimeField()
    deleted = models.BooleanField(default=False)

    class Meta:
        db_table = "billing_stripeobjectversion"
        constraints = [
            models.UniqueConstraint(
                fields=["object_type", "stripe_id"], name="stripe_object_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.stripe_id} @ {self.observed_at:%Y-%m-%d %H:%M:%S}"


class StripeEvent(models.Model):
    """A Stripe event as it arrived (webhook or the events list), and what became of it."""

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Webhook"
        EVENTS_LIST = "events_list", "Events list"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (nothing to mirror)"
        FAILED = "failed", "Failed"
        # Signed by Stripe but not for this deployment (the other mode, another API version)
        # or not an event at all: kept with the reason, never applied.
        REFUSED = "refused", "Refused"

    stripe_id = models.CharField("event ID", max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    livemode = models.BooleanField(default=False)
    api_version = models.CharField(max_length=64, blank=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=255, blank=True, db_index=True)
    payload = models.JSONField(help_text="The event exactly as Stripe sent it.")
    source = models.CharField(max_length=20, choices=Source.choices)
    received_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "billing_stripeevent"
        verbose_name = "Stripe event"
        ordering = ("-created", "-id")
        indexes = [models.Index(fields=["status", "created"], name="stripe_event_status_created")]

    def __str__(self) -> str:
        return f"{self.stripe_id} ({self.type})"


class StripeWrite(models.Model):
    """One write to Stripe. The idempotency key comes from our record and its version, so a
    retry (of the request, the task or the whole push) never writes twice."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        RETRYING = "retrying", "Failed for now (Stripe unavailable); retried"
        REFUSED = "refused", "Refused by Stripe"
        # A refused write sent again (with what is true now) under a new key: `<key>~2`, ...
        SUPERSEDED = "superseded", "Refused; sent again with the current parameters"

    idempotency_key = models.CharField(max_length=255, unique=True)
    description = models.CharField(max_length=255)
    method = models.CharField(max_length=6)
    path = models.CharField(max_length=255)
    params = models.JSONField(default=dict)
    # The record of ours the write is for (an account, a contract, a tax rate, an invoice
    # review...), whichever app it belongs to; kept when that record is deleted.
    record_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    record_id = models.PositiveBigIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    stripe_id = models.CharField("Stripe id", max_length=255, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "billing_stripewrite"
        verbose_name = "write to Stripe"
        verbose_name_plural = "writes to Stripe"
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["record_type", "record_id"], name="stripe_write_record")]

    def __str__(self) -> str:
        return self.description


class PushStatus(models.TextChoices):
    """Where a record stands with Stripe (an account's customer, a contract's schedule)."""

    NOT_PUSHED = "not_pushed", "Not in Stripe yet"
    PUSHING = "pushing", "Being sent to Stripe"
    PUSHED = "pushed", "In Stripe"
    RETRYING = "retrying", "Stripe unavailable; retrying"
    REFUSED = "refused", "Refused by Stripe"


class StripePushState(models.Model):
    """Where the record stands with Stripe, and when it last got there."""

    stripe_push_status = models.CharField(
        "Stripe",
        max_length=16,
        choices=PushStatus.choices,
        default=PushStatus.NOT_PUSHED,
        editable=False,
    )
    stripe_push_error = models.TextField(blank=True, editable=False)
    stripe_pushed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True


class OutboxTask(models.Model):
    """A task that must not be lost (a write to Stripe, a check to run), written in the same
    transaction as the change that asks for it, and published to the broker after commit; a
    broker that is down delays it, never loses it (stripe_sync/outbox.py)."""

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = "task waiting for the broker"
        verbose_name_plural = "tasks waiting for the broker"
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(published_at__isnull=True),
                name="outbox_task_waiting",
            )
        ]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)!r}"
