"""Celery tasks of the Stripe sync, and what every task that talks to Stripe shares: which
failures are waited out and retried, and that a refusal ends the task.

Task names are fixed: beat's schedules and messages already queued name a task by it, and it
stays what it was when the task lived in billing.tasks.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe
from celery import chain, shared_task
from django.db import transaction

from stripe_sync import object_types, outbox
from stripe_sync.backfill import SyncBusy, backfill
from stripe_sync.drains import drain_flag_clear
from stripe_sync.events import event_process, events_apply_pending, events_sync
from stripe_sync.mirror import Mirror, customer_sync_from_stripe
from stripe_sync.writes import PushRefused

# Stripe trouble worth waiting out; the engine already retried each request a few times.
TRANSIENT = (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError)
RETRY: dict[str, Any] = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
}


@contextmanager
def refusal_recorded() -> Iterator[None]:
    """A write Stripe refused (a 4xx) is already recorded on our record with Stripe's message,
    for a person to fix; retrying cannot help, so the task ends there."""
    try:
        yield
    except PushRefused:
        return


@shared_task(name="billing.tasks.customer_sync_from_stripe_task", **RETRY)
def customer_sync_from_stripe_task(stripe_id: str) -> None:
    customer_sync_from_stripe(stripe_id=stripe_id)


@shared_task(name="billing.tasks.stripe_event_process_task", **RETRY)
def stripe_event_process_task(event_id: int) -> None:
    event_process(event_id=event_id)


@shared_task(name="billing.tasks.stripe_backfill_task", **RETRY)
def stripe_backfill_task(object_type: str, restart: bool = False) -> None:
    """Backfill one type; a retry resumes from the type's checkpoint."""
    try:
        backfill(object_type, restart=restart)
    except SyncBusy:
        return  # the run in progress does the work


@shared_task(name="billing.tasks.stripe_backfill_all_task")
def stripe_backfill_all_task(restart: bool = False) -> None:
    """Queue every listed type's backfill, one after the other (dependency order)."""
    chain(stripe_backfill_task.si(ot.key, restart) for ot in object_types.LISTED_TYPES).delay()


@shared_task(name="billing.tasks.stripe_events_sync_task", **RETRY)
def stripe_events_sync_task() -> None:
    try:
        events_sync()
    except SyncBusy:
        return


@shared_task(name="billing.tasks.stripe_object_refresh_task", **RETRY)
def stripe_object_refresh_task(object_type: str, stripe_ids: list[str]) -> None:
    """Re-read objects from Stripe (admin action "Re-read from Stripe")."""
    mirror, ot = Mirror(), object_types.object_type(object_type)
    for stripe_id in stripe_ids:
        with transaction.atomic():
            mirror.refresh(ot, stripe_id)


@shared_task(name="billing.tasks.outbox_relay_task")
def outbox_relay_task() -> int:
    """Publish the tasks still waiting for the broker (beat, every minute)."""
    return outbox.relay()


# A drain runs at most this long; what is left is taken by the next drain or the events pass.
DRAIN_SECONDS = 50


@shared_task(name="billing.tasks.stripe_events_drain_task", **RETRY)
def stripe_events_drain_task() -> int:
    """Apply the webhook events waiting, in batches: one task for many events, so the
    worker's cost per task is paid once per batch, not per event."""
    drain_flag_clear()  # an event stored from now on queues another drain
    started, applied = time.monotonic(), 0
    mirror = Mirror()
    while time.monotonic() - started < DRAIN_SECONDS:
        taken = events_apply_pending(limit=500, mirror=mirror)
        applied += taken
        if not taken:
            break
    return applied
