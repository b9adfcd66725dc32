"""Paying an invoice now and answering a dispute, through stripe-python, as Stripe does them
and refuses them."""

from typing import Any

import pytest
import stripe
from django.conf import settings

from stripe_standin.control import standin_config
from stripe_standin.tests.test_credit_notes import draft_of_two_items


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


def open_invoice_paid_with(method: str) -> Any:
    """An open invoice of 500.00 EUR whose customer pays with `method` by default."""
    draft = draft_of_two_items()
    stripe.PaymentMethod.attach(method, customer=draft.customer, **key())
    stripe.Customer.modify(
        draft.customer, invoice_settings={"default_payment_method": method}, **key()
    )
    return stripe.Invoice.finalize_invoice(draft.id, **key())


def test_a_declined_card_is_a_card_error_and_counts_the_attempt(stripe_standin: str) -> None:
    # given
    invoice = open_invoice_paid_with("pm_card_chargeCustomerFail")
    # when
    with pytest.raises(stripe.CardError) as declined:
        stripe.Invoice.pay(invoice.id, idempotency_key="retry-1", **key())
    # then
    error = declined.value
    assert error.http_status == 402
    assert error.code == "card_declined"
    assert error.error.decline_code == "generic_decline"
    assert error.error.charge.startswith("ch_")
    after = stripe.Invoice.retrieve(invoice.id, **key())
    assert after.status == "open"
    assert after.attempt_count == invoice.attempt_count + 1
    assert after.next_payment_attempt > invoice.created
    # the same key answers the same decline, without a second attempt
    with pytest.raises(stripe.CardError):
        stripe.Invoice.pay(invoice.id, idempotency_key="retry-1", **key())
    assert stripe.Invoice.retrieve(invoice.id, **key()).attempt_count == after.attempt_count


def test_a_working_card_pays_once_and_a_paid_invoice_is_refused(stripe_standin: str) -> None:
    # given
    invoice = open_invoice_paid_with("pm_card_visa")
    # when
    paid = stripe.Invoice.pay(invoice.id, idempotency_key="retry-2", **key())
    # then
    assert paid.status == "paid"
    assert paid.next_payment_attempt is None
    assert stripe.Invoice.pay(invoice.id, idempotency_key="retry-2", **key()).id == invoice.id
    with pytest.raises(stripe.InvalidRequestError, match="already paid"):
        stripe.Invoice.pay(invoice.id, idempotency_key="retry-3", **key())


def seeded_dispute(stripe_standin: str, **fields: Any) -> dict[str, Any]:
    dispute: dict[str, Any] = standin_config(
        stripe_standin, "POST", "/_config/objects", {"object": "dispute", **fields}
    )
    return dispute


def test_evidence_is_staged_then_submitted_once(stripe_standin: str) -> None:
    # given
    now = standin_config(stripe_standin, "GET", "/_config/clock")["now"]
    dispute = seeded_dispute(
        stripe_standin,
        status="needs_response",
        evidence_details={"due_by": now + 86400},
    )
    # when
    staged = stripe.Dispute.modify(
        dispute["id"], evidence={"product_description": "Seats"}, submit=False, **key()
    )
    submitted = stripe.Dispute.modify(
        dispute["id"], evidence={"uncategorized_text": "Used all year"}, submit=True, **key()
    )
    # then
    assert staged.status == "needs_response"
    assert staged.evidence_details.has_evidence is True
    assert submitted.status == "under_review"
    assert submitted.evidence.product_description == "Seats"
    assert submitted.evidence_details.submission_count == 1
    with pytest.raises(stripe.InvalidRequestError, match="under_review"):
        stripe.Dispute.modify(dispute["id"], evidence={"customer_name": "X"}, **key())


def test_evidence_after_its_due_date_is_refused(stripe_standin: str) -> None:
    # given
    now = standin_config(stripe_standin, "GET", "/_config/clock")["now"]
    dispute = seeded_dispute(
        stripe_standin, status="needs_response", evidence_details={"due_by": now - 60}
    )
    # when / then
    with pytest.raises(stripe.InvalidRequestError, match="was due by") as refused:
        stripe.Dispute.modify(dispute["id"], evidence={"customer_name": "A"}, **key())
    assert refused.value.param == "evidence"
    with pytest.raises(stripe.InvalidRequestError, match="keeps no files"):
        stripe.Dispute.modify(dispute["id"], evidence={"receipt": "file_123"}, **key())
