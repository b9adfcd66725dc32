"""What finance does with a draft, against the local Stripe: hold it, approve it (with a
justification when flagged, with a second approver above the limit), finalize it once, void."""

from decimal import Decimal

import pytest
import stripe
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from backoffice.roles import FINANCE
from billing.invoices.models import InvoiceApprovalLimit, InvoiceReview
from billing.invoices.services import (
    invoice_approve,
    invoice_decision_record,
    invoice_hold,
    invoice_review_run,
)
from billing.invoices.tasks import invoice_stripe_action_task
from customers.models import Account
from customers.tests.factories import UserFactory
from stripe_sync.backfill import backfill
from stripe_sync.models import StripeWrite

pytestmark = pytest.mark.django_db


def key():
    return {"api_key": settings.STRIPE_SECRET_KEY}


@pytest.fixture
def draft(stripe_standin, django_capture_on_commit_callbacks):
    """A draft invoice in Stripe (120.00 EUR), mirrored and reviewed: the draft is held."""
    customer = stripe.Customer.create(name="Draft Holder GmbH", **key())
    product = stripe.Product.create(name="Seats", **key())
    plan = stripe.Plan.create(
        product=product.id, amount=4900, currency="eur", interval="month", **key()
    )
    stripe.Subscription.create(
        customer=customer.id, items=[{"plan": plan.id}], trial_period_days=14, **key()
    )
    stripe.InvoiceItem.create(
        customer=customer.id, amount=12000, currency="eur", description="Setup", **key()
    )
    invoice = stripe.Invoice.create(customer=customer.id, **key())
    backfill("customers")
    backfill("invoices")
    with django_capture_on_commit_callbacks(execute=True):
        review = invoice_review_run(stripe_invoice_id=invoice.id)
    return review


def finance_user(name):
    user = UserFactory(username=name)
    user.groups.add(Group.objects.get(name=FINANCE))
    return user


def test_a_reviewed_draft_is_held_in_stripe(draft):
    assert draft.status == InvoiceReview.Status.FLAGGED
    assert [f["rule"] for f in draft.flags] == ["no_contract"]
    assert stripe.Invoice.retrieve(draft.stripe_invoice_id, **key()).auto_advance is False
    draft.refresh_from_db()
    assert draft.held_in_stripe is True


def test_a_flagged_draft_needs_a_justification_then_is_finalized_once(
    draft, django_capture_on_commit_callbacks
):
    fiona = finance_user("fin-fiona")
    with pytest.raises(ValidationError, match="needs a written justification"):
        invoice_approve(review=draft, by=fiona)

    with django_capture_on_commit_callbacks(execute=True):
        approved = invoice_approve(
            review=draft, by=fiona, justification="One-off setup fee agreed by email 2026-03-02"
        )

    assert approved.approved_by == fiona
    in_stripe = stripe.Invoice.retrieve(draft.stripe_invoice_id, **key())
    assert in_stripe.status == "open"
    assert InvoiceReview.objects.get(pk=draft.pk).status == InvoiceReview.Status.FINALIZED
    # a second run of the task (a retry) asks Stripe nothing more
    invoice_stripe_action_task(draft.pk, "finalize")
    (finalize,) = StripeWrite.objects.filter(idempotency_key__endswith="-finalize")
    assert (finalize.outcome, finalize.attempts) == (StripeWrite.Outcome.DONE, 1)
    # and the approval is in the audit trail, with why
    reasons = list(draft.history.values_list("history_change_reason", flat=True))
    assert "One-off setup fee agreed by email 2026-03-02" in reasons


def test_above_the_limit_a_second_different_approver_is_needed(
    draft, django_capture_on_commit_callbacks
):
    InvoiceApprovalLimit.objects.create(currency="EUR", second_approver_above=Decimal("100"))
    first, second = finance_user("fin-first"), finance_user("fin-second")

    once = invoice_approve(review=draft, by=first, justification="agreed")
    assert once.status == InvoiceReview.Status.AWAITING_SECOND
    with pytest.raises(ValidationError, match="needs a second approver, other than fin-first"):
        invoice_approve(review=draft, by=first)
    assert stripe.Invoice.retrieve(draft.stripe_invoice_id, **key()).status == "draft"

    with django_capture_on_commit_callbacks(execute=True):
        twice = invoice_approve(review=draft, by=second)

    assert twice.second_approved_by == second
    assert stripe.Invoice.retrieve(draft.stripe_invoice_id, **key()).status == "open"


def test_the_customers_account_manager_never_approves(draft):
    manager = finance_user("fin-and-manager")
    account = Account.objects.create(
        legal_name="Draft Holder GmbH",
        billing_country="DE",
        default_currency="EUR",
        account_manager=manager,
    )
    InvoiceReview.objects.filter(pk=draft.pk).update(account=account)

    with pytest.raises(PermissionDenied, match="another person approves its invoices"):
        invoice_approve(review=draft, by=manager, justification="mine")


def test_hold_with_a_note_then_a_draft_cannot_be_voided_a_finalized_one_can(
    draft, django_capture_on_commit_callbacks
):
    fiona = finance_user("fin-holder")
    with pytest.raises(ValidationError, match="Say why"):
        invoice_hold(review=draft, by=fiona, note=" ")

    held = invoice_hold(review=draft, by=fiona, note="Customer disputes the setup fee")
    assert held.status == InvoiceReview.Status.HELD
    entry = held.history.first()
    # Outside a web request too (a task, the shell), the history names who held it.
    assert (entry.history_user, entry.history_change_reason) == (
        fiona,
        "held: Customer disputes the setup fee",
    )

    # Stripe voids only finalized invoices: we refuse first, and the stand-in refuses as Stripe
    for action in ("void", "mark_uncollectible"):
        with pytest.raises(ValidationError, match=r"is a draft \(not finalized yet\) in Stripe"):
            invoice_decision_record(review=held, by=fiona, action=action, why="wrong customer")
    with pytest.raises(stripe.InvalidRequestError, match="only void an invoice that is finalized"):
        stripe.Invoice.void_invoice(draft.stripe_invoice_id, **key())
    assert stripe.Invoice.retrieve(draft.stripe_invoice_id, **key()).status == "draft"

    # once finalized, it is voided, once, with the reason in its history
    with django_capture_on_commit_callbacks(execute=True):
        invoice_approve(review=held, by=fiona, justification="setup fee agreed")
    assert InvoiceReview.objects.get(pk=draft.pk).status == InvoiceReview.Status.FINALIZED
    with django_capture_on_commit_callbacks(execute=True):
        invoice_decision_record(review=held, by=fiona, action="void", why="customer left")
    assert InvoiceReview.objects.get(pk=draft.pk).status == InvoiceReview.Status.VOIDED
    assert stripe.Invoice.retrieve(draft.stripe_invoice_id, **key()).status == "void"
    with pytest.raises(ValidationError, match="already void"):
        invoice_decision_record(review=held, by=fiona, action="void", why="again")


def test_sending_a_draft_obeys_the_rules_of_approving_then_finalizes_and_sends_it(
    draft, django_capture_on_commit_callbacks
):
    InvoiceApprovalLimit.objects.create(currency="EUR", second_approver_above=Decimal("100"))
    first, second = finance_user("fin-send-1"), finance_user("fin-send-2")
    # flagged: a justification first
    with pytest.raises(ValidationError, match="needs a written justification"):
        invoice_decision_record(review=draft, by=first, action="send", why="")
    # above the limit: a second approver before anything goes out
    invoice_decision_record(review=draft, by=first, action="send", why="agreed by email")
    assert InvoiceReview.objects.get(pk=draft.pk).status == InvoiceReview.Status.AWAITING_SECOND
    assert stripe.Invoice.retrieve(draft.stripe_invoice_id, **key()).status == "draft"

    with django_capture_on_commit_callbacks(execute=True):
        invoice_approve(review=draft, by=second)

    assert stripe.Invoice.retrieve(draft.stripe_invoice_id, **key()).status == "open"
    sent = StripeWrite.objects.filter(idempotency_key__endswith="-send")
    assert [w.outcome for w in sent] == [StripeWrite.Outcome.DONE]


def test_the_invoice_page_lists_what_was_sent_to_stripe_for_it(
    draft, client, django_capture_on_commit_callbacks
):
    fiona = finance_user("fin-page")
    with django_capture_on_commit_callbacks(execute=True):
        invoice_approve(review=draft, by=fiona, justification="agreed by phone")

    client.force_login(fiona)
    page = client.get(reverse("admin:billing_invoicereview_change", args=[draft.pk]))

    text = page.content.decode()
    assert page.status_code == 200
    assert f"Hold draft {draft.stripe_invoice_id} for review" in text
    assert f"Finalize invoice {draft.stripe_invoice_id}" in text
    assert "Nothing sent to Stripe yet." not in text


def test_a_long_justification_and_hold_note_are_kept_whole_in_the_history(draft):
    """Finance writes a paragraph, not a tweet: the history keeps every word (a reason of more
    than 100 characters used to fail the save on PostgreSQL)."""
    fiona = finance_user("fin-long")
    note = "Held: " + "the customer disputes the seat count of March; " * 6
    invoice_hold(review=draft, by=fiona, note=note)
    why = (
        "Approved after the call of 2026-03-04 with the customer's procurement team, who "
        "confirmed the setup fee in writing; see the ticket FIN-2231 for the e-mail thread."
    )
    invoice_approve(review=draft, by=fiona, justification=why)
    reasons = list(draft.history.values_list("history_change_reason", flat=True))
    assert f"held: {note.strip()}" in reasons
    assert why in reasons
