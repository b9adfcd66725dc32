"""Credit notes on finalized invoices, as Stripe issues them and refuses them, through
stripe-python with the parameters billing/invoices/credit_notes.py sends."""

from typing import Any

import pytest
import stripe
from django.conf import settings


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


@pytest.fixture
def invoice(stripe_standin: str) -> Any:
    return draft_of_two_items()


def draft_of_two_items() -> Any:
    """A draft with two items, 300.00 and 200.00 EUR (localstripe invoices only customers with
    a subscription: one on a trial)."""
    customer = stripe.Customer.create(name="Credit Holder GmbH", **key())
    product = stripe.Product.create(name="Seats", **key())
    plan = stripe.Plan.create(
        product=product.id, amount=100, currency="eur", interval="month", **key()
    )
    stripe.Subscription.create(
        customer=customer.id, items=[{"plan": plan.id}], trial_period_days=14, **key()
    )
    for amount, what in ((30000, "Seats"), (20000, "Platform fee")):
        stripe.InvoiceItem.create(
            customer=customer.id, amount=amount, currency="eur", description=what, **key()
        )
    return stripe.Invoice.create(customer=customer.id, **key())


def line_ids(invoice_id: str) -> list[str]:
    """The seats and platform fee lines."""
    lines = {
        line.description: line.id for line in stripe.Invoice.list_lines(invoice_id, **key()).data
    }
    return [lines["Seats"], lines["Platform fee"]]


def credit(invoice_id: str, line_id: str, amount: int, **extra: Any) -> Any:
    params: dict[str, Any] = {
        "invoice": invoice_id,
        "lines": [{"type": "invoice_line_item", "invoice_line_item": line_id, "amount": amount}],
        "reason": "order_change",
        "memo": "Seats billed twice in March",
    }
    return stripe.CreditNote.create(**(params | extra), **key())


def test_a_draft_is_not_credited_a_finalized_invoice_is_once_within_what_it_billed(invoice):
    seats, platform = line_ids(invoice.id)
    with pytest.raises(
        stripe.InvalidRequestError, match="only create a credit note for a finalized"
    ):
        credit(invoice.id, seats, 5000)

    stripe.Invoice.finalize_invoice(invoice.id, **key())
    preview = stripe.CreditNote.preview(
        invoice=invoice.id,
        lines=[{"type": "invoice_line_item", "invoice_line_item": seats, "amount": 5000}],
        **key(),
    )
    assert (preview.amount, preview.type) == (5000, "pre_payment")
    assert stripe.CreditNote.list(invoice=invoice.id, **key()).data == []  # nothing written

    note = credit(invoice.id, seats, 5000, idempotency_key="cn-test-1")
    again = credit(invoice.id, seats, 5000, idempotency_key="cn-test-1")  # a retry
    assert again.id == note.id
    assert (note.amount, note.status, note.reason, note.lines.data[0].invoice_line_item) == (
        5000,
        "issued",
        "order_change",
        seats,
    )
    listed = stripe.CreditNote.list(invoice=invoice.id, **key()).data
    assert [n.id for n in listed] == [note.id]
    assert stripe.Invoice.retrieve(invoice.id, **key()).pre_payment_credit_notes_amount == 5000

    # a line credited beyond what it billed (with the 50.00 taken), another reason, no lines
    with pytest.raises(stripe.InvalidRequestError, match="exceeds what is left to credit"):
        credit(invoice.id, seats, 25001)
    with pytest.raises(stripe.InvalidRequestError, match="reason"):
        credit(invoice.id, platform, 100, reason="goodwill")
    with pytest.raises(stripe.InvalidRequestError, match="lines"):
        stripe.CreditNote.create(invoice=invoice.id, lines=[], **key())


def test_a_void_invoice_is_not_credited(invoice):
    (seats, _) = line_ids(invoice.id)
    stripe.Invoice.finalize_invoice(invoice.id, **key())
    stripe.Invoice.void_invoice(invoice.id, **key())
    with pytest.raises(stripe.InvalidRequestError, match="is void"):
        credit(invoice.id, seats, 100)


def test_a_credit_note_lowers_what_is_owed_and_voiding_it_gives_it_back_once(invoice):
    seats, _ = line_ids(invoice.id)
    stripe.Invoice.finalize_invoice(invoice.id, **key())
    # 300.00 + 200.00 and the subscription's 1.00
    assert stripe.Invoice.retrieve(invoice.id, **key()).amount_due == 50100
    note = credit(invoice.id, seats, 5000)
    assert stripe.Invoice.retrieve(invoice.id, **key()).amount_due == 45100

    memo = stripe.CreditNote.modify(note.id, memo="Seats billed twice (March)", **key())
    assert (memo.memo, memo.status) == ("Seats billed twice (March)", "issued")
    with pytest.raises(stripe.InvalidRequestError, match="unknown parameter: amount"):
        stripe.CreditNote.modify(note.id, amount=1, **key())

    voided = stripe.CreditNote.void_credit_note(note.id, **key())
    assert (voided.status, voided.voided_at is not None) == ("void", True)
    owed = stripe.Invoice.retrieve(invoice.id, **key())
    assert (owed.amount_due, owed.pre_payment_credit_notes_amount) == (50100, 0)
    with pytest.raises(stripe.InvalidRequestError, match="already voided"):
        stripe.CreditNote.void_credit_note(note.id, **key())
    # what a void note credited is free to credit again
    assert credit(invoice.id, seats, 30000).amount == 30000


def test_a_credit_note_is_voided_only_while_its_invoice_is_open(invoice):
    seats, _ = line_ids(invoice.id)
    stripe.Invoice.finalize_invoice(invoice.id, **key())
    note = credit(invoice.id, seats, 5000)
    stripe.Invoice.mark_uncollectible(invoice.id, **key())
    with pytest.raises(stripe.InvalidRequestError, match="only void a credit note if"):
        stripe.CreditNote.void_credit_note(note.id, **key())


def test_a_taxed_line_is_credited_with_its_share_of_the_tax(stripe_standin):
    customer = stripe.Customer.create(name="Steuer AG", **key())
    product = stripe.Product.create(name="Seats", **key())
    plan = stripe.Plan.create(
        product=product.id, amount=0, currency="eur", interval="month", **key()
    )
    stripe.Subscription.create(
        customer=customer.id, items=[{"plan": plan.id}], trial_period_days=14, **key()
    )
    vat = stripe.TaxRate.create(display_name="VAT", percentage=19, inclusive=False, **key())
    stripe.InvoiceItem.create(
        customer=customer.id,
        amount=30000,
        currency="eur",
        description="Seats",
        tax_rates=[vat.id],
        **key(),
    )
    invoice = stripe.Invoice.create(customer=customer.id, **key())
    stripe.Invoice.finalize_invoice(invoice.id, **key())
    seats = {line.description: line.id for line in stripe.Invoice.list_lines(invoice.id, **key())}
    assert stripe.Invoice.retrieve(invoice.id, **key()).total == 35700  # 300.00 + 57.00 VAT

    note = credit(invoice.id, seats["Seats"], 10001)
    assert (note.subtotal, note.total, note.amount) == (10001, 11901, 11901)  # 19.0019 -> 19.00
    (tax,) = note.lines.data[0].taxes
    assert (tax.amount, tax.taxable_amount, tax.tax_rate_details.tax_rate) == (1900, 10001, vat.id)
    # the rest of the line credits the rest of its tax: 357.00 in all, never more
    rest = credit(invoice.id, seats["Seats"], 19999)
    assert rest.total == 23799
    with pytest.raises(stripe.InvalidRequestError, match="exceeds what is left to credit"):
        credit(invoice.id, seats["Seats"], 1)
