"""Celery tasks: thin adapters that take ids and call a service or the sync engine."""

from collections.abc import Iterator
from contextlib import contextmanager

import stripe
from celery import shared_task
from django.utils import timezone

# Stripe trouble worth waiting out; the engine already retried each request a few times.
TRANSIENT = (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError)
RETRY = {
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
    from billing.services.stripe_push import PushRefused

    try:
        yield
    except PushRefused:
        return


@shared_task(**RETRY)
def customer_sync_from_stripe_task(stripe_id: str) -> None:
    from billing.sync.customers import customer_sync_from_stripe

    customer_sync_from_stripe(stripe_id=stripe_id)


@shared_task(**RETRY)
def stripe_event_process_task(event_id: int) -> None:
    from billing.sync.events import event_process

    event_process(event_id=event_id)


@shared_task(**RETRY)
def stripe_backfill_task(object_type: str, restart: bool = False) -> None:
    """Backfill one type; a retry resumes from the type's checkpoint."""
    from billing.sync.backfill import SyncBusy, backfill

    try:
        backfill(object_type, restart=restart)
    except SyncBusy:
        return  # the run in progress does the work


@shared_task
def stripe_backfill_all_task(restart: bool = False) -> None:
    """Queue every listed type's backfill, one after the other (dependency order)."""
    from celery import chain

    from billing.sync.object_types import LISTED_TYPES

    chain(stripe_backfill_task.si(ot.key, restart) for ot in LISTED_TYPES).delay()


@shared_task(**RETRY)
def stripe_events_sync_task() -> None:
    from billing.sync.backfill import SyncBusy
    from billing.sync.events import events_sync

    try:
        events_sync()
    except SyncBusy:
        return


@shared_task(**RETRY)
def stripe_object_refresh_task(object_type: str, stripe_ids: list[str]) -> None:
    """Re-read objects from Stripe (admin action "Re-read from Stripe")."""
    from django.db import transaction

    from billing.sync.mirror import Mirror
    from billing.sync.object_types import object_type as type_named

    mirror, ot = Mirror(), type_named(object_type)
    for stripe_id in stripe_ids:
        with transaction.atomic():
            mirror.refresh(ot, stripe_id)


@shared_task(**RETRY)
def account_push_to_stripe_task(account_id: int) -> None:
    from billing.services.stripe_push import account_push_to_stripe
    from customers.models import Account

    with refusal_recorded():  # shown on the account with Stripe's message; a person fixes it
        account_push_to_stripe(account=Account.objects.get(pk=account_id))


@shared_task(**RETRY)
def contract_push_to_stripe_task(contract_id: int) -> None:
    from billing.models import Contract
    from billing.services.stripe_push import contract_push_to_stripe

    with refusal_recorded():  # shown on the contract with Stripe's message; a person fixes it
        contract_push_to_stripe(contract=Contract.objects.get(pk=contract_id))


@shared_task(**RETRY)
def tax_rate_push_to_stripe_task(tax_rate_id: int) -> None:
    from billing.models import TaxRate
    from billing.services.tax import tax_rate_push_to_stripe

    with refusal_recorded():  # shown on the rate with Stripe's message
        tax_rate_push_to_stripe(rate=TaxRate.objects.get(pk=tax_rate_id))


@shared_task(**RETRY)
def invoice_review_task(stripe_invoice_id: str) -> None:
    from billing.services.invoice_review import invoice_review_run

    invoice_review_run(stripe_invoice_id=stripe_invoice_id)


@shared_task(**RETRY)
def account_drafts_review_task(account_id: int) -> None:
    from billing.services.invoice_review import account_drafts_review

    account_drafts_review(account_id)


@shared_task(**RETRY)
def invoice_hold_in_stripe_task(review_id: int) -> None:
    from billing.models import InvoiceReview
    from billing.services.invoice_review import invoice_hold_in_stripe

    with refusal_recorded():  # the write shows Stripe's message (a draft deleted since, say)
        invoice_hold_in_stripe(review=InvoiceReview.objects.get(pk=review_id))


@shared_task(**RETRY)
def invoice_stripe_action_task(review_id: int, action: str) -> None:
    from billing.models import InvoiceReview
    from billing.services.invoice_review import invoice_stripe_action

    with refusal_recorded():  # the write shows Stripe's message
        invoice_stripe_action(review=InvoiceReview.objects.get(pk=review_id), action=action)


@shared_task
def contracts_renew_or_expire_task() -> dict[str, int]:
    from billing.services.contracts import contracts_renew_or_expire

    return contracts_renew_or_expire(today=timezone.localdate())
