"""Reads of the Stripe sync's health: what a person has to look at."""

from datetime import datetime

from django.db.models import QuerySet

from stripe_sync.models import OutboxTask, PushStatus, StripeEvent
from stripe_sync.outbox import STUCK_AFTER

# Where a record stands with Stripe when a person has to look: refused, or retrying.
PUSH_FAILING = (PushStatus.REFUSED, PushStatus.RETRYING)


def stripe_events_failed() -> QuerySet[StripeEvent]:
    """Events received but not applied to the mirror: retried from the events list."""
    return StripeEvent.objects.filter(status=StripeEvent.Status.FAILED)


def outbox_tasks_stuck(*, now: datetime) -> QuerySet[OutboxTask]:
    """Tasks (writes to Stripe among them) the broker has not taken for longer than
    STUCK_AFTER: the tasks list's filter "stuck"."""
    return OutboxTask.objects.filter(published_at__isnull=True, created_at__lt=now - STUCK_AFTER)
