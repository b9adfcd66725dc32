"""The stand-in bills a subscription schedule's period as Stripe would, metered usage included.

Through stripe-python and the test control `POST /_config/subscription_schedules/{id}/invoice`;
every amount below is worked out by hand in the comments beside it.
"""

import json
import time
import urllib.error
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import stripe
from django.conf import settings
from djmoney.money import Money
from djstripe.models import Invoice, LineItem

from billing.invoices.checks import draft_from_stripe, tax_amounts
from billing.invoices.models import InvoiceReview
from billing.invoices.services import invoice_review_run
from stripe_standin.control import standin_config
from stripe_standin.schedule_invoices import PriceLabel, money, price_lines
from stripe_sync.backfill import backfill

DAY = 86_400
X = "\u00d7"  # the multiplication sign of Stripe's line descriptions
# 2030-01-01 and 2030-04-01, UTC: a schedule that has not started yet.
JAN_2030 = 1893456000
APR_2030 = 1901232000


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


def bill(server: str, schedule_id: str, start: int, end: int) -> dict[str, Any]:
    path = f"/_config/subscription_schedules/{schedule_id}/invoice"
    return standin_config(server, "POST", path, {"period_start": start, "period_end": end})


def refusal(server: str, schedule_id: str, start: int, end: int) -> tuple[int, dict[str, Any]]:
    with pytest.raises(urllib.error.HTTPError) as refused:
        bill(server, schedule_id, start, end)
    return refused.value.code, json.loads(refused.value.read())["error"]


def product(name: str, **extra: Any) -> stripe.Product:
    return stripe.Product.create(name=name, **extra, **key())


def monthly(name: str, currency: str, **price: Any) -> stripe.Price:
    recurring = {"interval": "month", **price.pop("recurring", {})}
    return stripe.Price.create(
        product=product(name).id, currency=currency, recurring=recurring, **price, **key()
    )


def vat(percentage: float, inclusive: bool = False) -> stripe.TaxRate:
    return stripe.TaxRate.create(
        display_name="VAT", percentage=percentage, inclusive=inclusive, **key()
    )


def line_facts(lines: list[Any]) -> list[tuple[str, int, str | None, int]]:
    return [
        (
            line.pricing.price_details.price,
            line.quantity,
            str(line.pricing.unit_amount_decimal),
            line.amount,
        )
        for line in lines
    ]


@pytest.fixture
def customer(stripe_standin: str) -> stripe.Customer:
    return stripe.Customer.create(name="Bergmann Logistik GmbH", **key())


@pytest.fixture
def storage_meter(stripe_standin: str) -> stripe.billing.Meter:
    return stripe.billing.Meter.create(
        display_name="Stored GB",
        event_name="stored_gb",
        default_aggregation={"formula": "sum"},
        **key(),
    )


def record_usage(customer: stripe.Customer, value: int, timestamp: int) -> None:
    stripe.billing.MeterEvent.create(
        event_name="stored_gb",
        payload={"stripe_customer_id": customer.id, "value": str(value)},
        timestamp=timestamp,
        **key(),
    )


@pytest.fixture
def eur_contract(
    stripe_standin: str, customer: stripe.Customer, storage_meter: stripe.billing.Meter
) -> dict[str, Any]:
    """A year's schedule that started 10 days ago, in EUR: a flat platform fee, 25 seats, and
    stored GB on a graduated meter (10,000 free, then 0.02 EUR, then 0.01 EUR above 50,000),
    all at 19% VAT, invoiced with 30 days to pay."""
    platform = monthly("Freight platform", "eur", unit_amount=4950)
    seats = monthly("Seats", "eur", unit_amount=2000)
    storage = monthly(
        "Storage",
        "eur",
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[
            {"up_to": 10_000, "unit_amount_decimal": "0"},
            {"up_to": 50_000, "unit_amount_decimal": "2"},
            {"up_to": "inf", "unit_amount_decimal": "1"},
        ],
        recurring={"usage_type": "metered", "meter": storage_meter.id},
    )
    rate = vat(19)
    start = int(time.time()) - 10 * DAY
    schedule = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date=start,
        default_settings={
            "collection_method": "send_invoice",
            "invoice_settings": {"days_until_due": 30},
        },
        phases=[
            {
                "items": [
                    {"price": platform.id, "quantity": 1},
                    {"price": seats.id, "quantity": 25},
                    {"price": storage.id},
                ],
                "default_tax_rates": [rate.id],
                "iterations": 12,
                "metadata": {"phase": "year-1"},
            }
        ],
        metadata={"contract": "C-2026-00042"},
        **key(),
    )
    return {
        "schedule": schedule,
        "start": start,
        "end": start + 30 * DAY,
        "prices": (platform.id, seats.id, storage.id),
        "rate": rate.id,
    }


# --- The draft for a period -----------------------------------------------------------------


def test_period_is_billed_as_a_draft_with_usage_tiers_and_vat(
    stripe_standin, customer, eur_contract
):
    schedule, start, end = eur_contract["schedule"], eur_contract["start"], eur_contract["end"]
    platform, seats, storage = eur_contract["prices"]
    # given 62,500 GB stored inside the period and 99,999 the day before it started
    record_usage(customer, 40_000, start + DAY)
    record_usage(customer, 22_500, start + 2 * DAY)
    record_usage(customer, 99_999, start - DAY)

    # when the period is billed
    answered = bill(stripe_standin, schedule.id, start, end)

    # then a draft for the customer bills each item, the usage tier by tier
    invoice = stripe.Invoice.retrieve(answered["id"], **key())
    lines = stripe.Invoice.list_lines(invoice.id, **key()).data
    assert (invoice.status, invoice.customer, invoice.currency) == ("draft", customer.id, "eur")
    assert line_facts(lines) == [
        (platform, 1, "4950", 4950),
        (seats, 25, "2000", 50_000),  # 25 x 20.00
        (storage, 10_000, "0", 0),  # the first 10,000 GB free
        (storage, 40_000, "2", 80_000),  # 10,001 to 50,000 at 0.02
        (storage, 12_500, "1", 12_500),  # 50,001 to 62,500 at 0.01
    ]
    assert [line.description for line in lines] == [
        f"1 {X} Freight platform (at €49.50 / month)",
        f"25 {X} Seats (at €20.00 / month)",
        f"10000 {X} Storage (Tier 1 at €0.00 / month)",
        f"40000 {X} Storage (Tier 2 at €0.02 / month)",
        f"12500 {X} Storage (Tier 3 at €0.01 / month)",
    ]
    assert all(line.period.to_dict() == {"start": start, "end": end} for line in lines)
    assert all(line.pricing.price_details.product for line in lines)
    # and each line is taxed at the phase's 19%, rounded half up per line (940.5 -> 941)
    assert [[t.amount for t in line.taxes] for line in lines] == [
        [941],
        [9500],
        [0],
        [15200],
        [2375],
    ]
    assert {t.tax_rate_details.tax_rate for line in lines for t in line.taxes} == {
        eur_contract["rate"]
    }
    # and the invoice adds them up: 147,450 before tax, 28,016 of VAT
    assert invoice.subtotal == 147_450
    assert [(t.amount, t.taxable_amount, t.tax_behavior) for t in invoice.total_taxes] == [
        (28_016, 147_450, "exclusive")
    ]
    assert (invoice.total, invoice.amount_due) == (175_466, 175_466)
    # and it says what the schedule says: the metadata, 30 days to pay, the period
    assert invoice.parent.type == "subscription_details"
    assert invoice.parent.subscription_details.metadata.to_dict() == {
        "contract": "C-2026-00042",
        "phase": "year-1",
    }
    assert invoice.collection_method == "send_invoice"
    assert invoice.due_date == invoice.created + 30 * DAY
    assert (invoice.period_start, invoice.period_end) == (start, end)
    assert invoice.billing_reason == "subscription_cycle"
    # and the control answered the same invoice
    assert answered["total"] == invoice.total
    assert [line["id"] for line in answered["lines"]["data"]] == [line.id for line in lines]


def test_draft_is_listed_for_the_customer_and_sent_as_invoice_created(
    stripe_standin, customer, eur_contract
):
    # given another customer's invoice
    other = stripe.Customer.create(name="Nordhafen AG", **key())
    stripe.InvoiceItem.create(customer=other.id, amount=500, currency="eur", **key())
    stripe.Subscription.create(
        customer=other.id,
        items=[
            {
                "plan": stripe.Plan.create(
                    product=product("Other").id,
                    amount=100,
                    currency="eur",
                    interval="month",
                    **key(),
                ).id
            }
        ],
        trial_period_days=14,
        **key(),
    )
    stripe.Invoice.create(customer=other.id, **key())

    # when the contract's period is billed
    draft = bill(
        stripe_standin, eur_contract["schedule"].id, eur_contract["start"], eur_contract["end"]
    )

    # then it is the customer's only invoice
    listed = stripe.Invoice.list(customer=customer.id, **key())
    assert [invoice.id for invoice in listed.data] == [draft["id"]]
    # and `invoice.created` carries it as made, its parent and taxes included
    (event,) = [
        e
        for e in stripe.Event.list(type="invoice.created", **key()).data
        if e.data.object.id == draft["id"]
    ]
    sent = event.data.object
    assert sent.parent.subscription_details.metadata.contract == "C-2026-00042"
    assert sent.total == draft["total"] == 65_391  # no usage: 54,950 and 10,441 of VAT
    assert sent.lines.data[0].taxes[0].amount == 941


def test_our_invoice_review_reads_the_draft(stripe_standin, customer, eur_contract):
    start, end = eur_contract["start"], eur_contract["end"]
    record_usage(customer, 62_500, start + DAY)
    invoice = bill(stripe_standin, eur_contract["schedule"].id, start, end)
    lines = [line.to_dict() for line in stripe.Invoice.list_lines(invoice["id"], **key()).data]

    draft = draft_from_stripe(invoice, lines)
    taxes = tax_amounts(invoice, lines)

    assert draft.customer_id == customer.id
    assert (draft.currency, draft.collection_method, draft.subtotal) == (
        "EUR",
        "send_invoice",
        147_450,
    )
    assert [line.price_id for line in draft.lines] == [
        *eur_contract["prices"][:2],
        *[eur_contract["prices"][2]] * 3,
    ]
    assert [line.unit_amount_decimal for line in draft.lines] == [
        Decimal(4950),
        Decimal(2000),
        Decimal(0),
        Decimal(2),
        Decimal(1),
    ]
    assert [line.quantity for line in draft.lines] == [1, 25, 10_000, 40_000, 12_500]
    assert all(line.tax_rate_ids == (eur_contract["rate"],) for line in draft.lines)
    assert [(t.rate_id, t.taxable, t.amount) for t in taxes] == [
        (eur_contract["rate"], 147_450, 28_016)
    ]


@pytest.mark.django_db
def test_the_sync_mirrors_the_draft_and_the_review_checks_it(
    stripe_standin, customer, eur_contract
):
    start, end = eur_contract["start"], eur_contract["end"]
    record_usage(customer, 62_500, start + DAY)
    draft = bill(stripe_standin, eur_contract["schedule"].id, start, end)

    # when the sync mirrors the customer's invoices, and the review checks the draft
    backfill("customers")
    backfill("invoices")
    review = invoice_review_run(stripe_invoice_id=draft["id"])

    # then the mirror holds the draft and its five lines
    assert Invoice.objects.get(id=draft["id"]).stripe_data["total"] == 175_466
    assert LineItem.objects.filter(stripe_data__invoice=draft["id"]).count() == 5
    # and the review read it as any draft: its amount and period, and no contract for it
    assert review.amount == Money("1474.50", "EUR")
    assert (review.period_start, review.period_end) == (
        datetime.fromtimestamp(start, UTC).date(),
        datetime.fromtimestamp(end, UTC).date() - timedelta(days=1),
    )
    assert review.status == InvoiceReview.Status.FLAGGED
    assert [flag["rule"] for flag in review.flags] == ["no_contract"]


def test_draft_is_finalized_like_any_other(stripe_standin, eur_contract):
    draft = bill(
        stripe_standin, eur_contract["schedule"].id, eur_contract["start"], eur_contract["end"]
    )

    finalized = stripe.Invoice.finalize_invoice(draft["id"], **key())

    assert finalized.status == "open"
    assert finalized.number


def test_negative_usage_bills_nothing(stripe_standin, customer, storage_meter):
    # given a per-GB metered price, and usage corrected below zero within the period
    per_gb = monthly(
        "Storage",
        "eur",
        unit_amount_decimal="0.5",
        recurring={"usage_type": "metered", "meter": storage_meter.id},
    )
    start = int(time.time()) - 10 * DAY
    schedule = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date=start,
        phases=[{"items": [{"price": per_gb.id}], "iterations": 12}],
        **key(),
    )
    record_usage(customer, 300, start + DAY)
    record_usage(customer, -800, start + 2 * DAY)

    draft = bill(stripe_standin, schedule.id, start, start + 30 * DAY)

    # then the period's -500 GB bill nothing, not a credit
    assert [(line["quantity"], line["amount"]) for line in draft["lines"]["data"]] == [(0, 0)]
    assert draft["total"] == 0


def test_inclusive_vat_is_inside_the_amount_and_not_added(stripe_standin, customer):
    # given 5 seats at 23.80 EUR, 19% VAT included
    seats = monthly("Seats", "eur", unit_amount=2380)
    rate = vat(19, inclusive=True)
    schedule = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date=JAN_2030,
        phases=[
            {
                "items": [{"price": seats.id, "quantity": 5}],
                "default_tax_rates": [rate.id],
                "end_date": APR_2030,
            }
        ],
        **key(),
    )

    draft = bill(stripe_standin, schedule.id, JAN_2030, JAN_2030 + 31 * DAY)

    # then 11,900 include 1,900 of VAT (11,900 - 11,900 / 1.19), and the total is 11,900
    (line,) = draft["lines"]["data"]
    assert [(t["amount"], t["taxable_amount"], t["tax_behavior"]) for t in line["taxes"]] == [
        (1900, 10_000, "inclusive")
    ]
    assert (draft["subtotal"], draft["total_excluding_tax"], draft["total"]) == (
        11_900,
        10_000,
        11_900,
    )


def test_yen_amounts_are_whole_yen_rounded_half_up_and_volume_tiers_bill_one_line(
    stripe_standin, customer
):
    # given, in JPY: 3 seats at 333.5 yen, and a volume-tiered support price (up to 10 users
    # at 1,000 yen, beyond that 800 yen each plus 500 yen), 10% VAT, charged automatically
    seats = monthly("Seats", "jpy", unit_amount_decimal="333.5")
    support = monthly(
        "Support",
        "jpy",
        billing_scheme="tiered",
        tiers_mode="volume",
        tiers=[
            {"up_to": 10, "unit_amount": 1000},
            {"up_to": "inf", "unit_amount": 800, "flat_amount": 500},
        ],
    )
    rate = vat(10)
    schedule = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date=JAN_2030,
        phases=[
            {
                "items": [
                    {"price": seats.id, "quantity": 3},
                    {"price": support.id, "quantity": 12},
                ],
                "default_tax_rates": [rate.id],
                "end_date": APR_2030,
            }
        ],
        **key(),
    )

    draft = bill(stripe_standin, schedule.id, JAN_2030, JAN_2030 + 31 * DAY)

    lines = draft["lines"]["data"]
    assert [(line["quantity"], line["amount"]) for line in lines] == [
        (3, 1001),  # 3 x 333.5 = 1,000.5 -> 1,001
        (12, 10_100),  # all 12 at 800, plus 500
    ]
    assert [line["description"] for line in lines] == [
        f"3 {X} Seats (at ¥333.5 / month)",
        f"12 {X} Support (Tier 2 at ¥800 / month)",
    ]
    assert [line["taxes"][0]["amount"] for line in lines] == [100, 1010]  # 100.1 and 1,010
    assert (draft["currency"], draft["subtotal"], draft["total"]) == ("jpy", 11_101, 12_211)
    assert (draft["collection_method"], draft["due_date"]) == ("charge_automatically", None)


def test_the_phase_in_force_at_period_start_is_billed(stripe_standin, customer):
    # given a ramp: 5 seats until April 2030, then 8
    seats = monthly("Seats", "eur", unit_amount=2000)
    schedule = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date=JAN_2030,
        phases=[
            {"items": [{"price": seats.id, "quantity": 5}], "end_date": APR_2030},
            {"items": [{"price": seats.id, "quantity": 8}], "iterations": 12},
        ],
        **key(),
    )

    march = bill(stripe_standin, schedule.id, APR_2030 - 31 * DAY, APR_2030)
    april = bill(stripe_standin, schedule.id, APR_2030, APR_2030 + 30 * DAY)

    assert [line["quantity"] for line in march["lines"]["data"]] == [5]
    assert [line["quantity"] for line in april["lines"]["data"]] == [8]
    assert march["total_taxes"] == []
    assert march["total"] == 10_000


# --- Refusals -------------------------------------------------------------------------------


def test_unknown_schedule_is_refused_as_stripe_refuses_a_missing_object(stripe_standin):
    status, error = refusal(stripe_standin, "sub_sched_missing", JAN_2030, APR_2030)

    assert status == 404
    assert error["code"] == "resource_missing"
    assert error["message"] == "No such subscription schedule: 'sub_sched_missing'"


def test_period_outside_every_phase_is_refused_naming_period_start(stripe_standin, customer):
    seats = monthly("Seats", "eur", unit_amount=2000)
    schedule = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date=JAN_2030,
        phases=[{"items": [{"price": seats.id}], "end_date": APR_2030}],
        **key(),
    )

    status, error = refusal(stripe_standin, schedule.id, JAN_2030 - 31 * DAY, JAN_2030)

    assert (status, error["param"]) == (400, "period_start")
    assert stripe.Invoice.list(customer=customer.id, **key()).data == []


def test_canceled_schedule_is_refused(stripe_standin, customer):
    seats = monthly("Seats", "eur", unit_amount=2000)
    schedule = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date=JAN_2030,
        phases=[{"items": [{"price": seats.id}], "end_date": APR_2030}],
        **key(),
    )
    stripe.SubscriptionSchedule.cancel(schedule.id, **key())

    status, error = refusal(stripe_standin, schedule.id, JAN_2030, JAN_2030 + 31 * DAY)

    assert status == 400
    assert "canceled" in error["message"]
    assert stripe.Invoice.list(customer=customer.id, **key()).data == []


def test_completed_schedule_is_refused(stripe_standin, customer):
    # given a schedule that ended last month and was set to cancel at its end
    seats = monthly("Seats", "eur", unit_amount=2000)
    ended = int(time.time()) - 30 * DAY
    schedule = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date=ended - 31 * DAY,
        end_behavior="cancel",
        phases=[{"items": [{"price": seats.id}], "end_date": ended}],
        **key(),
    )
    assert stripe.SubscriptionSchedule.retrieve(schedule.id, **key()).status == "completed"

    status, error = refusal(stripe_standin, schedule.id, ended - 31 * DAY, ended)

    assert status == 400
    assert "completed" in error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"period_end": APR_2030}, "period_start"),
        ({"period_start": JAN_2030}, "period_end"),
        ({"period_start": APR_2030, "period_end": JAN_2030}, "period_end"),
        ({"period_start": JAN_2030, "period_end": APR_2030, "prorate": True}, "prorate"),
    ],
)
def test_malformed_period_is_refused_naming_the_field(stripe_standin, body, param):
    path = "/_config/subscription_schedules/sub_sched_any/invoice"
    with pytest.raises(urllib.error.HTTPError) as refused:
        standin_config(stripe_standin, "POST", path, body)

    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"]["param"] == param


# --- The lines a price bills (no server needed) ---------------------------------------------

EUR_LABEL = PriceLabel("Storage", None, "eur", "month")


def tiered(mode: str, *tiers: tuple[int | None, str | None, str | None]) -> dict[str, Any]:
    return {
        "billing_scheme": "tiered",
        "tiers_mode": mode,
        "transform_quantity": None,
        "tiers": [
            {"up_to": up_to, "unit_amount_decimal": unit, "flat_amount_decimal": flat}
            for up_to, unit, flat in tiers
        ],
    }


def test_graduated_flat_amounts_are_lines_of_their_own_for_the_tiers_reached():
    # Stripe's own draft for such a price: the units of each tier reached, then its flat fee
    price = tiered("graduated", (1000, "0", "900"), (5000, "3.6", "0"), (None, "1", "100"))

    lines = price_lines(price, 1031, None, EUR_LABEL)

    assert [(line.quantity, line.unit_amount_decimal, line.amount) for line in lines] == [
        (1000, "0", 0),
        (0, None, 900),
        (31, "3.6", 112),  # 111.6 -> 112
        (0, None, 0),
    ]
    assert lines[1].description == "Storage (Tier 1 at €9.00 / month)"


def test_no_usage_bills_the_first_tier_only():
    price = tiered("graduated", (10, "500", "1000"), (None, "250", None))

    lines = price_lines(price, 0, None, EUR_LABEL)

    assert [(line.quantity, line.amount) for line in lines] == [(0, 0), (0, 1000)]


def test_volume_bills_every_unit_at_the_tier_reached():
    price = tiered("volume", (10, "500", None), (20, "400", "1000"), (None, "300", None))

    assert [line.amount for line in price_lines(price, 10, None, EUR_LABEL)] == [5000]
    assert [line.amount for line in price_lines(price, 11, None, EUR_LABEL)] == [5400]
    assert [line.amount for line in price_lines(price, 21, None, EUR_LABEL)] == [6300]


def test_transformed_quantity_bills_the_packages_and_shows_the_units():
    price = {
        "billing_scheme": "per_unit",
        "transform_quantity": {"divide_by": 3, "round": "up"},
    }

    (line,) = price_lines(price, 100, "2", EUR_LABEL)

    assert (line.quantity, line.amount) == (100, 68)  # 100 / 3 -> 34 packages at 2


def test_amounts_print_in_the_currencys_own_units():
    assert money(Decimal("3.6"), "usd") == "$0.036"
    assert money(Decimal("123456"), "eur") == "€1,234.56"
    assert money(Decimal("150"), "jpy") == "¥150"
    assert money(Decimal("1500"), "bhd") == "BHD 1.500"
