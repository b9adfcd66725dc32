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
from celery import shared_task
from django.conf import settings
from django.db import transaction

from backoffice.history import STRIPE_SYNC, acting_as
from stripe_sync import object_types, outbox
from stripe_sync.backfill import SyncBusy, backfill, backfill_split, backfill_split_finished
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
    with acting_as(STRIPE_SYNC, f"stripe sync: customer {stripe_id} re-read", cite=True):
        customer_sync_from_stripe(stripe_id=stripe_id)


@shared_task(name="billing.tasks.stripe_event_process_task", **RETRY)
def stripe_event_process_task(event_id: int) -> None:
    event_process(event_id=event_id)


@shared_task(name="billing.tasks.stripe_backfill_task", **RETRY)
def stripe_backfill_task(object_type: str, restart: bool = False) -> None:
    """Backfill one type; a retry resumes from the type's checkpoint."""
    try:
        with acting_as(STRIPE_SYNC, f"stripe sync: backfill of {object_type}", cite=True):
            backfill(object_type, restart=restart)
    except SyncBusy:
        return  # the run in progress does the work


@shared_task(name="billing.tasks.stripe_backfill_all_task")
def stripe_backfill_all_task(restart: bool = False) -> None:
    """Every listed type's backfill, one type after the other (dependency order: customers
    before their invoices), each type split across the workers."""
    first, *rest = (ot.key for ot in object_types.LISTED_TYPES)
    outbox.enqueue(stripe_backfill_split_task, first, restart, rest)


@shared_task(name="billing.tasks.stripe_backfill_split_task", **RETRY)
def stripe_backfill_split_task(
    object_type: str, restart: bool = False, then: list[str] | None = None
) -> None:
    """Backfill one type in creation-date slices, one task per slice for any worker to take
    (or resume the slices left); a type not split is read here. `then`: the types after it."""
    slices = backfill_split(object_type, parts=settings.STRIPE_BACKFILL_SLICES, restart=restart)
    if slices:
        with transaction.atomic():
            for created_from, created_before in slices:
                outbox.enqueue(
                    stripe_backfill_slice_task, object_type, created_from, created_before, then
                )
        return
    try:
        with acting_as(STRIPE_SYNC, f"stripe sync: backfill of {object_type}", cite=True):
            backfill(object_type, restart=restart)
    except SyncBusy:
        return  # the run in progress does the work; the types after it wait for a new run
    _backfill_next(then, restart)


@shared_task(name="billing.tasks.stripe_backfill_slice_task", **RETRY)
def stripe_backfill_slice_task(
    object_type: str, created_from: int, created_before: int, then: list[str] | None = None
) -> None:
    try:
        with acting_as(STRIPE_SYNC, f"stripe sync: backfill of {object_type}", cite=True):
            backfill(object_type, created=(created_from, created_before))
    except SyncBusy:
        return  # another worker holds this slice and closes the type if it is the last
    if backfill_split_finished(object_type):
        _backfill_next(then, restart=False)


def _backfill_next(then: list[str] | None, restart: bool) -> None:
    if then:
        outbox.enqueue(stripe_backfill_split_task, then[0], restart, then[1:])


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
        why = f"stripe sync: {stripe_id} re-read"
        with transaction.atomic(), acting_as(STRIPE_SYNC, why, cite=True):
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
