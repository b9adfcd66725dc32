"""What a Stripe event changes is signed by the Stripe actor, naming the event."""

import pytest
import stripe

from backoffice.history import STRIPE_EVENTS
from billing.invoices.credit_notes import credit_notes_of
from billing.invoices.tests.test_credit_notes_from_stripe import (  # noqa: F401  (fixture)
    dashboard_credit,
    key,
    open_invoice,
)
from stripe_standin.tests.test_credit_notes import line_ids
from stripe_sync.events import event_process, event_store, events_sync

pytestmark = pytest.mark.django_db


def stripe_event(type_: str, object_id: str) -> stripe.Event:
    return next(
        e
        for e in stripe.Event.list(limit=100, **key()).auto_paging_iter()
        if e.type == type_ and e.data.object.id == object_id
    )


def test_a_credit_note_from_a_webhook_is_signed_by_stripe_and_names_the_event(open_invoice):  # noqa: F811
    # given a credit note made in Stripe's dashboard, and its event as the webhook stores it
    seats, _ = line_ids(open_invoice.id)
    made = dashboard_credit(open_invoice.id, seats, 4550)
    event = stripe_event("credit_note.created", made.id)
    stored = event_store(event.to_dict(), source="webhook")

    # when the worker applies it
    event_process(event_id=stored)

    # then
    entry = credit_notes_of(open_invoice.id).get().history.first()
    assert entry.history_user.username == STRIPE_EVENTS
    assert entry.history_change_reason == (
        f"made in Stripe: {made.number}; stripe event {event.id} (credit_note.created)"
    )


def test_events_applied_together_are_signed_too(open_invoice):  # noqa: F811
    seats, _ = line_ids(open_invoice.id)
    made = dashboard_credit(open_invoice.id, seats, 4550)

    events_sync()  # the events list, applied in batches

    entry = credit_notes_of(open_invoice.id).get().history.first()
    assert entry.history_user.username == STRIPE_EVENTS
    assert entry.history_change_reason.startswith(f"made in Stripe: {made.number}; stripe event")
