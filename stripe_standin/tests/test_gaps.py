"""What the local Stripe stand-in adds to localstripe, used through stripe-python as our code does.

Prices, subscription schedules, the objects only Stripe makes (seeded), Stripe's lists, Stripe's
shape where localstripe's differs, injected faults and idempotent retries.
"""

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stripe
from django.conf import settings

from stripe_standin.control import STANDIN_WEBHOOK_SECRET, standin_config

pytestmark = pytest.mark.django_db

# 2030-01-01 and the first of the months after it, UTC: a schedule that has not started yet.
JAN_2030 = 1893456000
APR_2030 = 1901232000
APR_2031 = 1932768000


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


@pytest.fixture
def faults(stripe_standin: str) -> Iterator[Callable[..., Any]]:
    """Sets the stand-in's fault injection for one test; off again afterwards."""

    def configure(**setting: Any) -> Any:
        return standin_config(stripe_standin, "POST", "/_config/faults", setting)

    yield configure
    standin_config(stripe_standin, "DELETE", "/_config/faults")


@pytest.fixture
def product(stripe_standin: str) -> stripe.Product:
    return stripe.Product.create(name="Freight tracking", **key())


def monthly_price(product: stripe.Product, unit_amount: int = 2500, **extra: Any) -> stripe.Price:
    return stripe.Price.create(
        product=product.id,
        currency="eur",
        unit_amount=unit_amount,
        recurring={"interval": "month"},
        **extra,
        **key(),
    )


# --- Prices ---------------------------------------------------------------------------------


def test_price_is_created_in_stripes_shape(product):
    # when a monthly price is created
    price = monthly_price(product, unit_amount=4900, nickname="Standard", lookup_key="std")

    # then it reads back as Stripe sends it, every field of Stripe's example included
    fetched = stripe.Price.retrieve(price.id, **key())
    assert fetched.id.startswith("price_")
    assert fetched.product == product.id
    assert (fetched.currency, fetched.unit_amount) == ("eur", 4900)
    assert fetched.last_response.data["unit_amount_decimal"] == "4900"  # a string, as Stripe's
    assert fetched.type == "recurring"
    assert fetched.recurring.interval == "month"
    assert fetched.recurring.interval_count == 1
    assert fetched.recurring.usage_type == "licensed"
    assert (fetched.nickname, fetched.lookup_key, fetched.tax_behavior) == (
        "Standard",
        "std",
        "unspecified",
    )
    assert "custom_unit_amount" in fetched
    assert "transform_quantity" in fetched
    assert isinstance(fetched.created, int)


def test_tiered_price_shows_its_tiers_only_when_expanded(product):
    # given a graduated price, in euro cents: 10 seats at 500, the rest at 250.5 plus 1000 flat
    price = stripe.Price.create(
        product=product.id,
        currency="eur",
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[
            {"up_to": 10, "unit_amount": 500},
            {"up_to": "inf", "unit_amount_decimal": "250.5", "flat_amount": 1000},
        ],
        recurring={"interval": "month"},
        **key(),
    )

    # when it is listed plainly, and with its tiers expanded
    plain = stripe.Price.list(**key()).data[0]
    expanded = stripe.Price.list(expand=["data.tiers", "data.currency_options"], **key()).data[0]
    retrieved = stripe.Price.retrieve(price.id, expand=["tiers"], **key())

    # then, as in Stripe, the tiers come only when asked for
    assert plain.id == price.id
    assert "tiers" not in plain
    assert price.unit_amount is None
    assert expanded.tiers == retrieved.tiers
    assert retrieved.last_response.data["tiers"] == [
        {
            "flat_amount": None,
            "flat_amount_decimal": None,
            "unit_amount": 500,
            "unit_amount_decimal": "500",
            "up_to": 10,
        },
        {
            "flat_amount": 1000,
            "flat_amount_decimal": "1000",
            "unit_amount": None,
            "unit_amount_decimal": "250.5",
            "up_to": None,
        },
    ]
    assert expanded.currency_options["eur"]["tax_behavior"] == "unspecified"


def test_price_list_filters_and_expands_product(product):
    # given two prices on our product, one of them archived, and one on another product
    kept = monthly_price(product)
    archived = monthly_price(product)
    stripe.Price.modify(archived.id, active=False, metadata={"reason": "old list"}, **key())
    other = stripe.Product.create(name="Customs filing", **key())
    monthly_price(other)

    # when the active prices of our product are listed with the product expanded
    listed = stripe.Price.list(product=product.id, active=True, expand=["data.product"], **key())

    # then only the one active price is there, its product whole
    assert [p.id for p in listed.data] == [kept.id]
    assert listed.data[0].product.name == "Freight tracking"
    assert stripe.Price.retrieve(archived.id, **key()).metadata.to_dict() == {"reason": "old list"}


def test_price_on_a_missing_product_is_refused_naming_the_param(stripe_standin):
    with pytest.raises(stripe.InvalidRequestError, match="prod_missing") as error:
        stripe.Price.create(product="prod_missing", currency="eur", unit_amount=100, **key())
    assert error.value.param == "product"
    assert error.value.code == "resource_missing"


def test_price_without_an_amount_is_refused(product):
    with pytest.raises(stripe.InvalidRequestError, match="Missing required param: unit_amount"):
        stripe.Price.create(product=product.id, currency="eur", **key())


def test_created_prices_are_stripe_events(product):
    # given two prices created
    first, second = monthly_price(product), monthly_price(product)

    # when the events are listed
    events = stripe.Event.list(type="price.created", **key()).data

    # then each price has its `price.created` event carrying the price
    assert sorted(e.data.object.id for e in events) == sorted([first.id, second.id])
    assert all(e.data.object.object == "price" for e in events)


def test_created_price_reaches_webhooks_signed(product, webhook_deliveries):
    # when a price is created
    price = monthly_price(product)

    # then its signed `price.created` arrives at the webhook (localstripe sends a second
    # later, so events of the test before may come first)
    deadline = time.monotonic() + 10
    delivered = []
    while price.id not in delivered and time.monotonic() < deadline:
        body, signature = webhook_deliveries.get(timeout=10)
        event = stripe.Webhook.construct_event(body.decode(), signature, STANDIN_WEBHOOK_SECRET)
        if event.type == "price.created":
            delivered.append(event.data.object.id)
    assert price.id in delivered


def test_price_update_is_an_event_with_previous_attributes(product):
    price = monthly_price(product, nickname="Old")

    stripe.Price.modify(price.id, nickname="New", **key())

    (event,) = stripe.Event.list(type="price.updated", **key()).data
    assert event.data.object.nickname == "New"
    assert event.data.previous_attributes.to_dict() == {"nickname": "Old"}


# --- Lists ----------------------------------------------------------------------------------


def test_list_pages_newest_first_with_cursors(product):
    # given 25 prices, created one after the other
    created = [monthly_price(product, unit_amount=100 + i).id for i in range(25)]
    newest_first = created[::-1]

    # when they are read 10 at a time with starting_after
    pages = [stripe.Price.list(limit=10, **key())]
    while pages[-1].has_more:
        pages.append(stripe.Price.list(limit=10, starting_after=pages[-1].data[-1].id, **key()))

    # then every price comes once, newest first, and the last page says there is no more
    assert [len(page.data) for page in pages] == [10, 10, 5]
    assert [p.id for page in pages for p in page.data] == newest_first
    assert [page.has_more for page in pages] == [True, True, False]
    # and ending_before walks back to the page before
    back = stripe.Price.list(limit=10, ending_before=pages[1].data[0].id, **key())
    assert [p.id for p in back.data] == newest_first[:10]
    # and stripe-python's auto-pagination gets them all
    assert [p.id for p in stripe.Price.list(limit=7, **key()).auto_paging_iter()] == newest_first


def test_list_filters_on_created(stripe_standin, product):
    # given a price seeded as made a day ago, and one made now
    day_ago = int(time.time()) - 86400
    standin_config(
        stripe_standin,
        "POST",
        "/_config/objects",
        {"object": "price", "product": product.id, "created": day_ago},
    )
    recent = monthly_price(product)

    # when the prices of the last hour are listed
    listed = stripe.Price.list(created={"gte": int(time.time()) - 3600}, **key())

    # then only the recent one is
    assert [p.id for p in listed.data] == [recent.id]
    assert len(stripe.Price.list(created={"lt": day_ago + 1}, **key()).data) == 1


def test_list_limit_is_one_to_a_hundred(stripe_standin):
    with pytest.raises(stripe.InvalidRequestError) as error:
        stripe.Price.list(limit=101, **key())
    assert error.value.param == "limit"


# --- Subscription schedules -----------------------------------------------------------------


@pytest.fixture
def customer(stripe_standin: str) -> stripe.Customer:
    return stripe.Customer.create(name="Bergmann Logistik GmbH", **key())


def test_schedule_with_two_phases_is_updated_then_canceled(customer, product):
    # given a standard and a discounted monthly price
    standard = monthly_price(product, unit_amount=4900)
    ramp = monthly_price(product, unit_amount=2900)

    # when a schedule starting in 2030 is made: a 3-month ramp, then 12 months at standard
    schedule = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date=JAN_2030,
        end_behavior="release",
        default_settings={
            "collection_method": "send_invoice",
            "invoice_settings": {"days_until_due": 30},
        },
        phases=[
            {"items": [{"price": ramp.id, "quantity": 5}], "end_date": APR_2030},
            {
                "items": [{"price": standard.id, "quantity": 5}],
                "iterations": 12,
                "metadata": {"contract": "C-2030-001"},
            },
        ],
        metadata={"contract": "C-2030-001"},
        **key(),
    )

    # then it waits for its start, its phases in Stripe's shape and one after the other
    assert schedule.id.startswith("sub_sched_")
    assert schedule.status == "not_started"
    assert schedule.current_phase is None
    assert schedule.customer == customer.id
    assert schedule.default_settings.collection_method == "send_invoice"
    assert schedule.default_settings.invoice_settings.days_until_due == 30
    first, second = schedule.phases
    assert (first.start_date, first.end_date) == (JAN_2030, APR_2030)
    assert (second.start_date, second.end_date) == (APR_2030, APR_2031)
    assert first["items"][0].to_dict() == {
        "billing_thresholds": None,
        "discounts": [],
        "metadata": {},
        "plan": ramp.id,
        "price": ramp.id,
        "quantity": 5,
        "tax_rates": [],
    }
    assert (first.currency, first.discounts, first.default_tax_rates) == ("eur", [], [])
    assert second.metadata.to_dict() == {"contract": "C-2030-001"}

    # when the second phase is changed to 8 seats
    updated = stripe.SubscriptionSchedule.modify(
        schedule.id,
        phases=[
            {"items": [{"price": ramp.id, "quantity": 5}], "end_date": APR_2030},
            {"items": [{"price": standard.id, "quantity": 8}], "end_date": APR_2031},
        ],
        metadata={"amended": "yes"},
        **key(),
    )

    # then the phases are replaced and the metadata merged
    assert updated.phases[1]["items"][0].quantity == 8
    assert updated.phases[0].start_date == JAN_2030
    assert updated.metadata.to_dict() == {"contract": "C-2030-001", "amended": "yes"}

    # when it is canceled
    canceled = stripe.SubscriptionSchedule.cancel(schedule.id, **key())

    # then it is canceled for good, and each step was an event
    assert canceled.status == "canceled"
    assert isinstance(canceled.canceled_at, int)
    with pytest.raises(stripe.InvalidRequestError, match="canceled"):
        stripe.SubscriptionSchedule.modify(schedule.id, metadata={"late": "yes"}, **key())
    types = [e.type for e in stripe.Event.list(**key()).data if e.type.startswith("subscription_s")]
    assert sorted(types) == [
        "subscription_schedule.canceled",
        "subscription_schedule.created",
        "subscription_schedule.updated",
    ]


def test_schedule_starting_now_is_active_in_its_first_phase(customer, product):
    price = monthly_price(product)

    schedule = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date="now",
        phases=[{"items": [{"price": price.id}], "iterations": 2}],
        **key(),
    )

    assert schedule.status == "active"
    assert schedule.current_phase.start_date == schedule.phases[0].start_date
    assert schedule.current_phase.end_date == schedule.phases[0].end_date
    released = stripe.SubscriptionSchedule.release(schedule.id, **key())
    assert released.status == "released"


def test_schedule_on_an_unknown_price_is_refused_naming_the_param(customer, product):
    price = monthly_price(product)

    with pytest.raises(stripe.InvalidRequestError, match="price_missing") as error:
        stripe.SubscriptionSchedule.create(
            customer=customer.id,
            start_date=JAN_2030,
            phases=[
                {"items": [{"price": price.id}], "end_date": APR_2030},
                {"items": [{"price": "price_missing"}], "iterations": 1},
            ],
            **key(),
        )
    assert error.value.param == "phases[1][items][0][price]"


def test_a_metered_item_takes_no_quantity(customer, product):
    meter = stripe.billing.Meter.create(
        display_name="API calls",
        event_name="api_calls",
        default_aggregation={"formula": "sum"},
        **key(),
    )
    metered = stripe.Price.create(
        product=product.id,
        currency="eur",
        unit_amount_decimal="2",
        recurring={"interval": "month", "usage_type": "metered", "meter": meter.id},
        **key(),
    )

    with pytest.raises(stripe.InvalidRequestError, match="metered") as error:
        stripe.SubscriptionSchedule.create(
            customer=customer.id,
            start_date=JAN_2030,
            phases=[{"items": [{"price": metered.id, "quantity": 5}], "iterations": 1}],
            **key(),
        )
    assert error.value.param == "phases[0][items][0][quantity]"
    schedule = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date=JAN_2030,
        phases=[{"items": [{"price": metered.id}], "iterations": 1}],
        **key(),
    )
    assert schedule.phases[0]["items"][0].quantity is None


def test_schedule_for_an_unknown_customer_is_refused(product):
    price = monthly_price(product)

    with pytest.raises(stripe.InvalidRequestError, match="cus_missing") as error:
        stripe.SubscriptionSchedule.create(
            customer="cus_missing",
            start_date="now",
            phases=[{"items": [{"price": price.id}]}],
            **key(),
        )
    assert error.value.param == "customer"


def test_schedules_are_listed_by_customer(customer, product):
    price = monthly_price(product)
    other = stripe.Customer.create(name="Nordhafen AG", **key())
    ours = [
        stripe.SubscriptionSchedule.create(
            customer=customer.id,
            start_date="now",
            phases=[{"items": [{"price": price.id}]}],
            **key(),
        ).id
        for _ in range(2)
    ]
    stripe.SubscriptionSchedule.create(
        customer=other.id, start_date="now", phases=[{"items": [{"price": price.id}]}], **key()
    )

    listed = stripe.SubscriptionSchedule.list(customer=customer.id, **key())

    assert [s.id for s in listed.data] == ours[::-1]


# --- Objects only Stripe makes: seeded ------------------------------------------------------


def test_seeded_disputes_reviews_warnings_and_mandates_are_read_like_stripes(stripe_standin):
    # given one of each, seeded with the fields the test is about
    seeded = standin_config(
        stripe_standin,
        "POST",
        "/_config/objects",
        [
            {"object": "dispute", "amount": 12000, "currency": "eur", "status": "needs_response"},
            {"object": "review", "reason": "manual", "open": True},
            {"object": "radar.early_fraud_warning", "fraud_type": "card_never_received"},
            {"object": "mandate", "id": "mandate_1SepaBergmann", "status": "active"},
        ],
    )["data"]
    dispute_id, review_id, warning_id, mandate_id = (obj["id"] for obj in seeded)

    # when each is read through the API
    dispute = stripe.Dispute.retrieve(dispute_id, **key())
    review = stripe.Review.retrieve(review_id, **key())
    warning = stripe.radar.EarlyFraudWarning.retrieve(warning_id, **key())
    mandate = stripe.Mandate.retrieve(mandate_id, **key())

    # then it has Stripe's id prefix, the seeded fields and every other field of Stripe's example
    assert dispute_id.startswith("dp_")
    assert review_id.startswith("prv_")
    assert warning_id.startswith("issfr_")
    assert (dispute.amount, dispute.currency, dispute.status) == (12000, "eur", "needs_response")
    assert dispute.evidence_details.submission_count == 0
    assert (review.reason, review.open) == ("manual", True)
    assert warning.fraud_type == "card_never_received"
    assert mandate.id == "mandate_1SepaBergmann"
    assert mandate.payment_method_details.type == "sepa_debit"
    # and the ones Stripe lists are listed
    assert [d.id for d in stripe.Dispute.list(**key()).data] == [dispute_id]
    assert [r.id for r in stripe.Review.list(**key()).data] == [review_id]
    assert [w.id for w in stripe.radar.EarlyFraudWarning.list(**key()).data] == [warning_id]
    # and each arrived as the event Stripe sends
    types = {e.type for e in stripe.Event.list(**key()).data}
    assert {"charge.dispute.created", "review.opened", "radar.early_fraud_warning.created"} <= types


def test_seeded_object_is_missing_like_in_stripe(stripe_standin):
    with pytest.raises(stripe.InvalidRequestError, match="No such dispute: 'dp_nope'"):
        stripe.Dispute.retrieve("dp_nope", **key())


def test_disputes_are_listed_by_charge(stripe_standin):
    standin_config(
        stripe_standin,
        "POST",
        "/_config/objects",
        [{"object": "dispute", "charge": "ch_1"}, {"object": "dispute", "charge": "ch_2"}],
    )

    listed = stripe.Dispute.list(charge="ch_2", **key())

    assert [d.charge for d in listed.data] == ["ch_2"]


# --- localstripe's own objects, in Stripe's shape -------------------------------------------


@pytest.fixture
def plan(product: stripe.Product) -> stripe.Plan:
    return stripe.Plan.create(
        product=product.id, amount=4900, currency="eur", interval="month", **key()
    )


def test_subscription_items_name_their_subscription(customer, plan):
    # given a subscription (on trial, so that no payment is needed)
    subscription = stripe.Subscription.create(
        customer=customer.id, items=[{"plan": plan.id}], trial_period_days=14, **key()
    )
    item_id = subscription["items"].data[0].id

    # when its item is read on its own, and inside the subscription
    item = stripe.SubscriptionItem.retrieve(item_id, **key())
    again = stripe.Subscription.retrieve(subscription.id, **key())

    # then both name the subscription, as Stripe's do, and tax rates are a list
    assert item.subscription == subscription.id
    assert again["items"].data[0].subscription == subscription.id
    assert again.default_tax_rates == []
    assert item.discounts == []


def test_invoice_lines_carry_discounts_and_expands_localstripe_cannot_do_work(customer, plan):
    # given an invoice with a subscription line and a one-off line (localstripe invoices only
    # customers with a subscription)
    stripe.Subscription.create(
        customer=customer.id, items=[{"plan": plan.id}], trial_period_days=14, **key()
    )
    stripe.InvoiceItem.create(
        customer=customer.id, amount=12000, currency="eur", description="Setup", **key()
    )
    invoice = stripe.Invoice.create(customer=customer.id, **key())

    # when it is read with the expansions dj-stripe asks for
    fetched = stripe.Invoice.retrieve(
        invoice.id, expand=["discounts", "lines.data.discounts", "customer"], **key()
    )
    listed = stripe.Invoice.list(expand=["data.discounts", "data.lines.data.discounts"], **key())
    lines = stripe.Invoice.list_lines(invoice.id, **key())

    # then it is answered, with `discounts` on the invoice and every line
    assert fetched.discounts == []
    assert fetched.customer.id == customer.id
    assert [line.discounts for line in fetched.lines.data] == [[], []]
    assert [line.discounts for line in listed.data[0].lines.data] == [[], []]
    assert [line.discounts for line in lines.data] == [[], []]
    assert fetched.default_tax_rates == []


def test_customers_listed_with_their_tax_ids(stripe_standin):
    # given a customer with a VAT number
    customer = stripe.Customer.create(
        name="Bergmann Logistik GmbH",
        tax_id_data=[{"type": "eu_vat", "value": "DE123456789"}],
        **key(),
    )

    # when customers are listed with their tax ids expanded, as the sync does
    listed = stripe.Customer.list(
        expand=["data.tax_ids", "data.invoice_settings.default_payment_method"], **key()
    )

    # then the customer carries its tax ids as Stripe's list, each owned by the customer
    (tax_id,) = listed.data[0].tax_ids.data
    assert (tax_id.type, tax_id.value, tax_id.customer) == ("eu_vat", "DE123456789", customer.id)
    assert tax_id.owner.customer == customer.id
    # and Stripe's top-level list of tax ids has it too
    assert [t.id for t in stripe.TaxId.list(**key()).data] == [tax_id.id]


# --- Faults and idempotency -----------------------------------------------------------------


def test_injected_server_error_fails_a_read(stripe_standin, customer, faults):
    # given every request failing with Stripe's 500
    faults(rate=1.0, kinds=["500"])

    # when a customer is read (stripe-python retrying twice, as configured by default)
    with pytest.raises(stripe.APIError):
        stripe.Customer.retrieve(customer.id, **key())

    # then each attempt was counted as a fault
    stats = standin_config(stripe_standin, "GET", "/_config/stats")
    assert stats["faults"] == 3
    assert stats["by_path"][f"/v1/customers/{customer.id}"] == 3


def test_injected_rate_limit_is_stripes(customer, faults):
    faults(rate=1.0, kinds=["429"])

    with pytest.raises(stripe.RateLimitError) as error:
        stripe.Customer.retrieve(customer.id, max_network_retries=0, **key())
    assert error.value.json_body["error"]["code"] == "rate_limit"
    assert error.value.request_id.startswith("req_")


def test_faults_repeat_with_the_same_seed(customer, faults):
    def failures() -> list[int]:
        failed = []
        for i in range(20):
            try:
                stripe.Customer.retrieve(customer.id, max_network_retries=0, **key())
            except stripe.APIError:
                failed.append(i)
        return failed

    faults(rate=0.3, kinds=["500"], seed=7)
    first = failures()
    faults(rate=0.3, kinds=["500"], seed=7)

    assert failures() == first
    assert 0 < len(first) < 20


def test_same_idempotency_key_replays_the_first_answer(product):
    # when the same create is sent twice with one key, then once with another
    first = monthly_price(product, idempotency_key="contract-17-v1")
    again = monthly_price(product, idempotency_key="contract-17-v1")
    other = monthly_price(product, idempotency_key="contract-17-v2")

    # then the repeat is the first answer replayed, and the other key made a second price
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert other.id != first.id
    assert {p.id for p in stripe.Price.list(**key()).data} == {first.id, other.id}


def test_idempotency_covers_localstripes_own_objects(stripe_standin):
    first = stripe.Customer.create(name="Once", idempotency_key="customer-1", **key())
    again = stripe.Customer.create(name="Once", idempotency_key="customer-1", **key())

    assert again.id == first.id
    assert len(stripe.Customer.list(**key()).data) == 1
    with pytest.raises(stripe.IdempotencyError):
        stripe.Customer.create(name="Twice", idempotency_key="customer-1", **key())


def test_server_error_before_the_write_is_not_kept_for_the_key(product, faults):
    # given a create failing with a 500 before Stripe did anything
    faults(rate=1.0, kinds=["500"], methods=["POST"])
    with pytest.raises(stripe.APIError):
        monthly_price(product, idempotency_key="price-k", max_network_retries=0)
    faults(rate=0.0)

    # when it is retried with the same key
    price = monthly_price(product, idempotency_key="price-k", max_network_retries=0)

    # then the retry did the work: one price, not a replay
    assert "Idempotent-Replayed" not in price.last_response.headers
    assert [p.id for p in stripe.Price.list(**key()).data] == [price.id]


def test_timeout_after_the_write_is_answered_from_the_key_on_retry(stripe_standin, product, faults):
    # given Stripe answering 1.5 s late, and a client that waits 0.3 s
    faults(rate=1.0, kinds=["timeout"], timeout_seconds=1.5)
    impatient = stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": stripe_standin},
        http_client=stripe.RequestsClient(timeout=0.3),
        max_network_retries=0,
    )
    params = {"product": product.id, "currency": "eur", "unit_amount": 900}

    # when the create times out on the client's side
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.prices.create(params, {"idempotency_key": "late-1"})
    faults(rate=0.0)

    # then the write happened, and the retry with the same key gets the first answer
    retried = stripe.Price.create(**params, idempotency_key="late-1", **key())
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"
    assert [p.id for p in stripe.Price.list(**key()).data] == [retried.id]


def test_flushing_the_data_resets_counters_and_faults(stripe_standin, faults, customer):
    faults(rate=1.0, kinds=["500"], methods=["DELETE"])
    stripe.Customer.retrieve(customer.id, **key())

    standin_config(stripe_standin, "DELETE", "/_config/data")

    assert standin_config(stripe_standin, "GET", "/_config/stats")["requests"] == 0
    assert standin_config(stripe_standin, "GET", "/_config/faults")["rate"] == 0.0
