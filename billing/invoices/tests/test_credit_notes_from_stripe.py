"""Credit notes made in Stripe itself (the Dashboard, the API, a refund): recorded through the
mirror beside ours, voided when Stripe voids them, right in the end whatever the order of the
events, and never a second record of one of our own."""

from decimal import Decimal

import pytest
import stripe
from django.conf import settings
from djmoney.money import Money

from billing.invoices.credit_notes import credit_note_issue, credit_notes_of
from billing.invoices.models import CreditNote
from customers.tests.factories import AccountFactory, UserFactory
from stripe_standin.tests.test_credit_notes import draft_of_two_items, line_ids
from stripe_sync.backfill import backfill
from stripe_sync.events import event_process, event_store, events_sync
from stripe_sync.models import StripeEvent

pytestmark = pytest.mark.django_db


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


@pytest.fixture
def open_invoice(stripe_standin):
    """An open invoice of 300.00 (seats) + 200.00 (platform) + 1.00 EUR, its customer an
    account of ours."""
    invoice = draft_of_two_items()
    stripe.Invoice.finalize_invoice(invoice.id, **key())
    backfill("customers")
    AccountFactory(legal_name="Credit Holder GmbH", stripe_customer_id=invoice.customer)
    backfill("invoices")
    return invoice


def one_seat_less(invoice_id: str, seats: str, *, requested_by: str) -> CreditNote:
    """Our credit note of 12.00 EUR on the seats line, approved and ready to issue."""
    return CreditNote.objects.create(
        stripe_invoice_id=invoice_id,
        currency="EUR",
        amount=Decimal("12.00"),
        reason="order_change",
        memo="One seat less",
        lines=[{"invoice_line_item": seats, "description": "Seats", "amount": 1200}],
        status=CreditNote.Status.APPROVED,
        requested_by=UserFactory(username=requested_by),
    )


def dashboard_credit(invoice_id: str, line_id: str, amount: int) -> stripe.CreditNote:
    return stripe.CreditNote.create(
        invoice=invoice_id,
        lines=[{"type": "invoice_line_item", "invoice_line_item": line_id, "amount": amount}],
        reason="duplicate",
        memo="Credited from the Dashboard",
        **key(),
    )


def test_a_credit_note_made_in_stripe_is_recorded_then_voided(open_invoice):
    seats, _ = line_ids(open_invoice.id)
    made = dashboard_credit(open_invoice.id, seats, 4550)
    events_sync()

    note = credit_notes_of(open_invoice.id).get()
    assert (note.source, note.status, note.requested_by) == (
        CreditNote.Source.STRIPE,
        CreditNote.Status.ISSUED,
        None,
    )
    assert (note.stripe_credit_note_id, note.number, note.amount, note.total) == (
        made.id,
        made.number,
        Money("45.50", "EUR"),
        Money("45.50", "EUR"),
    )
    assert (note.account.legal_name, note.reason, note.memo, note.asked_by) == (
        "Credit Holder GmbH",
        "duplicate",
        "Credited from the Dashboard",
        "Stripe",
    )
    assert note.lines == [{"invoice_line_item": seats, "description": "Seats", "amount": 4550}]

    stripe.CreditNote.void_credit_note(made.id, **key())
    events_sync()
    note.refresh_from_db()
    assert note.status == CreditNote.Status.VOIDED
    # each signed by the Stripe event it came from (backoffice/history.py)
    reasons = [h.history_change_reason for h in note.history.order_by("history_id")]
    assert [r.split("; stripe event")[0] for r in reasons] == [
        f"made in Stripe: {made.number}",
        f"voided in Stripe: {made.number}",
    ]


def test_the_void_wins_whatever_order_the_events_come_in(open_invoice):
    seats, _ = line_ids(open_invoice.id)
    made = dashboard_credit(open_invoice.id, seats, 1000)
    stripe.CreditNote.void_credit_note(made.id, **key())
    by_type = {e.type: e for e in stripe.Event.list(limit=100, **key()).data if e.object == "event"}
    events = [by_type["credit_note.voided"], by_type["credit_note.created"]]
    # the void arrives first (same second or later), the creation after it, then again
    for payload in [*events, events[-1]]:
        stored = event_store(payload.to_dict(), source=StripeEvent.Source.WEBHOOK)
        if stored:
            event_process(event_id=stored)
    assert credit_notes_of(open_invoice.id).get().status == CreditNote.Status.VOIDED


def test_a_credit_note_no_event_told_of_is_found_by_the_backfill(open_invoice):
    seats, platform = line_ids(open_invoice.id)
    dashboard_credit(open_invoice.id, seats, 1000)
    dashboard_credit(open_invoice.id, platform, 2000)
    backfill("credit_notes")
    backfill("credit_notes", restart=True)  # twice: nothing recorded twice
    assert sorted(credit_notes_of(open_invoice.id).values_list("amount", flat=True)) == [
        Decimal("10.00"),
        Decimal("20.00"),
    ]


def test_our_own_credit_note_is_recorded_once_whichever_comes_first(open_invoice):
    seats, _ = line_ids(open_invoice.id)
    ours = one_seat_less(open_invoice.id, seats, requested_by="fin-own-cn")
    issued = credit_note_issue(note=ours)
    events_sync()  # the webhook's event comes after the answer
    backfill("credit_notes")
    assert credit_notes_of(open_invoice.id).count() == 1
    assert (issued.status, issued.source, issued.requested_by.username) == (
        CreditNote.Status.ISSUED,
        CreditNote.Source.BACKOFFICE,
        "fin-own-cn",
    )
    # what a Stripe-made note credited counts in what is left to credit
    made = dashboard_credit(open_invoice.id, seats, 28800)
    events_sync()
    assert credit_notes_of(open_invoice.id).filter(stripe_credit_note_id=made.id).exists()


def test_our_credit_note_whose_answer_was_lost_is_recognised_by_its_metadata(open_invoice):
    """The worker died after Stripe issued it and before recording the answer: the event
    finds our record by its metadata, and the retried task sends nothing."""
    seats, _ = line_ids(open_invoice.id)
    ours = one_seat_less(open_invoice.id, seats, requested_by="fin-lost-cn")
    in_stripe = stripe.CreditNote.create(
        invoice=open_invoice.id,
        lines=[{"type": "invoice_line_item", "invoice_line_item": seats, "amount": 1200}],
        metadata={"backoffice_credit_note": str(ours.pk)},
        **key(),
    )
    events_sync()
    ours.refresh_from_db()
    assert (ours.status, ours.stripe_credit_note_id, ours.source) == (
        CreditNote.Status.ISSUED,
        in_stripe.id,
        CreditNote.Source.BACKOFFICE,
    )
    credit_note_issue(note=ours)
    assert len(stripe.CreditNote.list(invoice=open_invoice.id, **key()).data) == 1
    assert credit_notes_of(open_invoice.id).count() == 1


def test_our_credit_note_in_doubt_past_the_key_window_is_found_not_issued_twice(
    open_invoice, stripe_standin
):
    """Issued, the answer lost and no event applied; retried 25 hours later, when Stripe has
    forgotten the key: found on the invoice by its metadata, never a second credit."""
    from datetime import timedelta

    from django.utils import timezone

    from stripe_standin.control import standin_config
    from stripe_sync.models import StripeWrite

    seats, _ = line_ids(open_invoice.id)
    ours = one_seat_less(open_invoice.id, seats, requested_by="fin-doubt-cn")
    issued = credit_note_issue(note=ours).stripe_credit_note_id
    StripeWrite.objects.filter(idempotency_key=f"credit-note-{ours.pk}").update(
        outcome=StripeWrite.Outcome.RETRYING,
        stripe_id="",
        created_at=timezone.now() - timedelta(hours=25),
    )
    CreditNote.objects.filter(pk=ours.pk).update(
        status=CreditNote.Status.APPROVED, stripe_credit_note_id=""
    )
    standin_config(stripe_standin, "POST", "/_config/clock", {"advance": 25 * 3600})

    again = credit_note_issue(note=CreditNote.objects.get(pk=ours.pk))

    assert again.stripe_credit_note_id == issued
    assert again.status == CreditNote.Status.ISSUED
    assert len(stripe.CreditNote.list(invoice=open_invoice.id, **key()).data) == 1


def test_the_credit_note_page_shows_money_and_who_asked(open_invoice, client, demo_logins):
    from django.urls import reverse

    seats, _ = line_ids(open_invoice.id)
    dashboard_credit(open_invoice.id, seats, 4550)
    events_sync()
    note = credit_notes_of(open_invoice.id).get()
    client.login(username="finance", password=demo_logins["finance"])
    page = client.get(reverse("admin:billing_creditnote_change", args=[note.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "45.50 EUR" in text
    assert "Stripe" in text
    assert "45.500" not in text
