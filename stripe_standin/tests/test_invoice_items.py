"""An invoice item added to an existing draft, as our minimum-commit true-up adds it.

Through stripe-python, with the parameters billing/invoices/services.py sends (`invoice`,
`amount`, `currency`, `period[start]`/`period[end]`, `metadata`, an idempotency key); every
amount is in euro cents, worked out beside it.
"""

from datetime import date
from typing import Any

import pytest
import stripe
from django.conf import settings
from djstripe.models import Invoice, LineItem

from billing.invoices.checks import draft_from_stripe
from stripe_standin.control import standin_config
from stripe_sync.backfill import backfill

DAY = 86_400
# 2030-01-01 and 2030-04-01, UTC: a schedule that has not started yet, billed for January.
JAN_2030 = 1893456000
FEB_2030 = JAN_2030 + 31 * DAY
APR_2030 = 1901232000
TRUE_UP = {
    "contract_line": "minimum_commit",
    "contract": "C-2026-00042",
    "contract_version": "3",
}


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


def true_up(customer: str, invoice: str, amount: int = 5000, **changes: Any) -> stripe.InvoiceItem:
    params: dict[str, Any] = {
        "customer": customer,
        "invoice": invoice,
        "amount": amount,
        "currency": "eur",
        "description": "Minimum commit true-up, 2030-01-01 to 2030-01-31",
        "period": {"start": JAN_2030, "end": FEB_2030},
        "metadata": TRUE_UP,
        **changes,
    }
    return stripe.InvoiceItem.create(**params, **key())


def lines_of(invoice_id: str) -> list[Any]:
    return stripe.Invoice.list_lines(invoice_id, **key()).data


def events(event_type: str, object_id: str) -> list[Any]:
    listed = stripe.Event.list(type=event_type, limit=100, **key()).data
    return [event for event in listed if event.data.object.id == object_id]


@pytest.fixture
def customer(stripe_standin: str) -> stripe.Customer:
    return stripe.Customer.create(name="Bergmann Logistik GmbH", **key())


@pytest.fixture
def schedule_draft(stripe_standin: str, customer: stripe.Customer) -> dict[str, Any]:
    """January's draft of a schedule: 5 seats at 20.00 EUR with 19% VAT, so 10,000 and 1,900
    of VAT, 11,900 due."""
    product = stripe.Product.create(name="Seats", **key())
    seats = stripe.Price.create(
        product=product.id,
        currency="eur",
        unit_amount=2000,
        recurring={"interval": "month"},
        **key(),
    )
    vat = stripe.TaxRate.create(display_name="VAT", percentage=19, inclusive=False, **key())
    schedule = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date=JAN_2030,
        phases=[
            {
                "items": [{"price": seats.id, "quantity": 5}],
                "default_tax_rates": [vat.id],
                "end_date": APR_2030,
            }
        ],
        metadata={"contract": "C-2026-00042"},
        **key(),
    )
    path = f"/_config/subscription_schedules/{schedule.id}/invoice"
    draft: dict[str, Any] = standin_config(
        stripe_standin, "POST", path, {"period_start": JAN_2030, "period_end": FEB_2030}
    )
    assert (draft["subtotal"], draft["total"]) == (10_000, 11_900)
    return draft


@pytest.fixture
def localstripe_draft(stripe_standin: str, customer: stripe.Customer) -> stripe.Invoice:
    """localstripe's own draft for a subscription with 19% VAT as its default tax rate."""
    product = stripe.Product.create(name="Seats", **key())
    plan = stripe.Plan.create(
        product=product.id, amount=4900, currency="eur", interval="month", **key()
    )
    vat = stripe.TaxRate.create(display_name="VAT", percentage=19, inclusive=False, **key())
    subscription = stripe.Subscription.create(
        customer=customer.id,
        items=[{"plan": plan.id}],
        default_tax_rates=[vat.id],
        trial_period_days=14,
        **key(),
    )
    return stripe.Invoice.create(customer=customer.id, subscription=subscription.id, **key())


# --- Added to the draft ---------------------------------------------------------------------


def test_true_up_on_a_schedule_draft_is_a_line_with_its_metadata_and_period(
    customer, schedule_draft
):
    # when the true-up of 50.00 EUR is added to January's draft
    item = true_up(customer.id, schedule_draft["id"])

    # then the draft has a line for it, carrying the item's metadata and period
    invoice = stripe.Invoice.retrieve(schedule_draft["id"], **key())
    lines = lines_of(invoice.id)
    assert len(lines) == 2
    line = lines[-1]
    assert (line.amount, line.quantity, line.currency) == (5000, 1, "eur")
    assert line.metadata.to_dict() == TRUE_UP
    assert line.period.to_dict() == {"start": JAN_2030, "end": FEB_2030}
    assert line.description == "Minimum commit true-up, 2030-01-01 to 2030-01-31"
    assert line.parent.type == "invoice_item_details"
    assert line.parent.invoice_item_details.invoice_item == item.id
    assert line.pricing.price_details.price is None
    assert str(line.pricing.unit_amount_decimal) == "5000"
    # taxed, without rates of its own, at the rate the draft has from its schedule (as Stripe
    # copies a subscription's default rates onto its invoices): 19% of 5,000
    assert [tax.amount for tax in line.taxes] == [950]
    assert line.discounts == []
    # and its totals include it: 10,000 + 5,000, and the VAT on both
    assert invoice.subtotal == 15_000
    assert (invoice.total, invoice.amount_due) == (17_850, 17_850)
    # and the item says where it went
    assert item.invoice == invoice.id
    assert item.period.to_dict() == {"start": JAN_2030, "end": FEB_2030}
    assert item.metadata.to_dict() == TRUE_UP


def test_our_checks_read_the_true_up_line(customer, schedule_draft):
    true_up(customer.id, schedule_draft["id"])
    invoice = stripe.Invoice.retrieve(schedule_draft["id"], **key())

    draft = draft_from_stripe(invoice.to_dict(), [line.to_dict() for line in lines_of(invoice.id)])

    assert draft.subtotal == 15_000
    (seats, added) = draft.lines
    assert (added.contract_line, added.contract_number) == ("minimum_commit", "C-2026-00042")
    assert (added.price_id, added.quantity, added.amount) == (None, 1, 5000)
    assert (added.period_start, added.period_end) == (date(2030, 1, 1), date(2030, 1, 31))
    assert added.tax_rate_ids == seats.tax_rate_ids != ()


def test_item_with_its_own_tax_rates_is_taxed_at_them(customer, schedule_draft):
    reduced = stripe.TaxRate.create(display_name="VAT", percentage=7, inclusive=False, **key())

    true_up(customer.id, schedule_draft["id"], tax_rates=[reduced.id])

    # then the line carries 7% of 5,000 (350) and the draft adds it to the seats' 1,900
    invoice = stripe.Invoice.retrieve(schedule_draft["id"], **key())
    line = lines_of(invoice.id)[-1]
    assert [(t.amount, t.tax_rate_details.tax_rate) for t in line.taxes] == [(350, reduced.id)]
    assert invoice.subtotal == 15_000
    assert (invoice.total, invoice.amount_due) == (17_250, 17_250)


def test_item_on_localstripe_draft_is_taxed_at_the_invoice_default_rate_and_sent(
    customer, localstripe_draft
):
    before = stripe.Invoice.retrieve(localstripe_draft.id, **key())
    lines_before = len(lines_of(before.id))

    # when an item of 50.00 EUR is added, its period in localstripe's old form
    item = stripe.InvoiceItem.create(
        customer=customer.id,
        invoice=before.id,
        amount=5000,
        currency="eur",
        period_start=JAN_2030,
        period_end=FEB_2030,
        **key(),
    )

    # then it is a line taxed at the subscription's 19% (950), as Stripe applies an invoice's
    # default tax rates to an item without its own
    after = stripe.Invoice.retrieve(before.id, **key())
    lines = lines_of(after.id)
    assert len(lines) == lines_before + 1
    assert lines[-1].parent.invoice_item_details.invoice_item == item.id
    assert lines[-1].period.to_dict() == {"start": JAN_2030, "end": FEB_2030}
    assert [tax.amount for tax in lines[-1].taxes] == [950]
    assert after.subtotal == before.subtotal + 5000
    assert (after.total, after.amount_due) == (before.total + 5950, before.amount_due + 5950)
    # and `invoiceitem.created` and `invoice.updated` tell the webhooks, with the old total
    assert [event.data.object.invoice for event in events("invoiceitem.created", item.id)] == [
        after.id
    ]
    (updated,) = events("invoice.updated", after.id)
    assert updated.data.object.total == after.total
    assert updated.data.previous_attributes.total == before.total
    assert len(updated.data.object.lines.data) == lines_before + 1


def test_the_same_idempotency_key_adds_the_item_once(customer, schedule_draft):
    # when the true-up is sent twice with one key, as a retry after a timeout does
    first = true_up(customer.id, schedule_draft["id"], idempotency_key="true-up-C-2026-00042-v3")
    again = true_up(customer.id, schedule_draft["id"], idempotency_key="true-up-C-2026-00042-v3")

    # then the second answer is the first, and the draft counts the item once
    assert again.id == first.id
    assert len(lines_of(schedule_draft["id"])) == 2
    assert stripe.Invoice.retrieve(schedule_draft["id"], **key()).subtotal == 15_000
    assert len(events("invoiceitem.created", first.id)) == 1


@pytest.mark.django_db
def test_the_sync_mirrors_the_draft_with_its_true_up(customer, schedule_draft):
    true_up(customer.id, schedule_draft["id"])

    backfill("customers")
    backfill("invoices")

    assert Invoice.objects.get(id=schedule_draft["id"]).stripe_data["total"] == 17_850
    mirrored = LineItem.objects.filter(stripe_data__invoice=schedule_draft["id"])
    assert sorted(line.stripe_data["amount"] for line in mirrored) == [5000, 10_000]
    (added,) = [line for line in mirrored if line.stripe_data["amount"] == 5000]
    assert added.stripe_data["metadata"] == TRUE_UP


def test_stripes_period_is_taken_for_a_pending_item_too(customer):
    item = stripe.InvoiceItem.create(
        customer=customer.id,
        amount=3000,
        currency="eur",
        period={"start": JAN_2030, "end": FEB_2030},
        **key(),
    )

    assert item.invoice is None
    assert item.period.to_dict() == {"start": JAN_2030, "end": FEB_2030}


# --- Refused, and the draft left as it was --------------------------------------------------


def refused(customer: str, invoice: str, **changes: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as error:
        true_up(customer, invoice, **changes)
    return error.value


def assert_unchanged(invoice_id: str, subtotal: int, line_count: int) -> None:
    assert stripe.Invoice.retrieve(invoice_id, **key()).subtotal == subtotal
    assert len(lines_of(invoice_id)) == line_count


def test_refused_for_a_finalized_invoice(customer, schedule_draft):
    stripe.Invoice.finalize_invoice(schedule_draft["id"], **key())

    error = refused(customer.id, schedule_draft["id"])

    assert (error.http_status, error.param) == (400, "invoice")
    assert error.user_message == "You can only add invoice items to draft invoices."
    assert_unchanged(schedule_draft["id"], 10_000, 1)


def test_refused_in_another_currency(customer, schedule_draft):
    error = refused(customer.id, schedule_draft["id"], currency="usd")

    assert (error.http_status, error.param) == (400, "currency")
    assert error.user_message == (
        f"The invoice item's currency (usd) must be the currency of invoice "
        f"{schedule_draft['id']} (eur)."
    )
    assert_unchanged(schedule_draft["id"], 10_000, 1)


def test_refused_for_another_customers_invoice(customer, schedule_draft):
    other = stripe.Customer.create(name="Nordhafen AG", **key())

    error = refused(other.id, schedule_draft["id"])

    assert (error.http_status, error.param) == (400, "invoice")
    assert error.user_message == (
        f"The invoice item's customer ({other.id}) must be the customer of invoice "
        f"{schedule_draft['id']} ({customer.id})."
    )
    assert_unchanged(schedule_draft["id"], 10_000, 1)
    # and nothing waits for the other customer's next invoice either
    assert stripe.InvoiceItem.list(customer=other.id, **key()).data == []


@pytest.mark.parametrize(
    ("param", "missing_id", "message"),
    [
        ("invoice", "in_1Missing", "No such invoice: 'in_1Missing'"),
        ("customer", "cus_1Missing", "No such customer: 'cus_1Missing'"),
    ],
)
def test_refused_for_an_unknown_invoice_or_customer(
    customer, schedule_draft, param, missing_id, message
):
    ids = {"customer": customer.id, "invoice": schedule_draft["id"], param: missing_id}

    error = refused(ids["customer"], ids["invoice"])

    assert (error.http_status, error.param, error.code) == (400, param, "resource_missing")
    assert error.user_message == message
    assert_unchanged(schedule_draft["id"], 10_000, 1)


def test_deleting_an_item_takes_its_line_off_a_draft_and_is_refused_once_finalized(
    stripe_standin: str,
):
    from stripe_standin.tests.test_credit_notes import draft_of_two_items

    draft = draft_of_two_items()
    lines = {line.description: line for line in lines_of(draft.id)}
    before = stripe.Invoice.retrieve(draft.id, **key()).subtotal
    stripe.InvoiceItem.delete(lines["Platform fee"].invoice_item, **key())
    assert "Platform fee" not in [line.description for line in lines_of(draft.id)]
    assert stripe.Invoice.retrieve(draft.id, **key()).subtotal == before - 20000

    stripe.Invoice.finalize_invoice(draft.id, **key())
    with pytest.raises(stripe.InvalidRequestError, match="only an item on a draft invoice"):
        stripe.InvoiceItem.delete(lines["Seats"].invoice_item, **key())
    assert "Seats" in [line.description for line in lines_of(draft.id)]


def test_changing_an_item_changes_its_line_on_a_draft_and_is_refused_once_finalized(
    stripe_standin: str,
):
    from stripe_standin.tests.test_credit_notes import draft_of_two_items

    draft = draft_of_two_items()
    lines = {line.description: line for line in lines_of(draft.id)}
    fee = lines["Platform fee"]
    before = stripe.Invoice.retrieve(draft.id, **key()).subtotal
    changed = stripe.InvoiceItem.modify(
        fee.invoice_item, amount=15000, metadata={"contract": "C-2026-00001"}, **key()
    )
    assert (changed.amount, changed.metadata["contract"]) == (15000, "C-2026-00001")
    after = {line.description: line for line in lines_of(draft.id)}["Platform fee"]
    assert (after.id, after.amount) == (fee.id, 15000)  # the same line, changed
    assert stripe.Invoice.retrieve(draft.id, **key()).subtotal == before - 5000
    with pytest.raises(stripe.InvalidRequestError, match="does not implement quantity"):
        stripe.InvoiceItem.modify(fee.invoice_item, quantity=2, **key())
    with pytest.raises(stripe.InvalidRequestError, match="unknown parameter: customer"):
        stripe.InvoiceItem.modify(fee.invoice_item, customer="cus_1", **key())

    stripe.Invoice.finalize_invoice(draft.id, **key())
    with pytest.raises(stripe.InvalidRequestError, match="only an item on a draft invoice"):
        stripe.InvoiceItem.modify(fee.invoice_item, amount=1, **key())
    assert stripe.Invoice.retrieve(draft.id, **key()).subtotal == before - 5000


def test_an_amount_stripe_would_not_move_is_refused(stripe_standin: str):
    """Three-decimal currencies move in steps of ten minor units; ISK in whole krónur."""
    from stripe_standin.tests.test_credit_notes import draft_of_two_items

    draft = draft_of_two_items()
    seats = {line.description: line for line in lines_of(draft.id)}["Seats"]
    customer = stripe.Customer.create(name="Manama Trading WLL", **key())
    for currency, amount in (("bhd", 1235), ("isk", 550)):
        with pytest.raises(stripe.InvalidRequestError, match="must be a multiple of"):
            stripe.InvoiceItem.create(
                customer=customer.id, amount=amount, currency=currency, **key()
            )
    assert (
        stripe.InvoiceItem.create(customer=customer.id, amount=1240, currency="bhd", **key()).amount
        == 1240
    )
    stripe.InvoiceItem.modify(seats.invoice_item, amount=100, **key())  # EUR: any cent
