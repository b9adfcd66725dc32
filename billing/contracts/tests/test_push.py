"""Contracts pushed to Stripe, against the local stand-in: what exactly is sent, and that it is
sent once."""

from datetime import date
from decimal import Decimal

import pytest
import stripe
from django.conf import settings
from django.db.models import Q
from djstripe.models import SubscriptionSchedule

from billing.contracts.models import Contract, PricePhase
from billing.contracts.push import contract_push_to_stripe
from billing.contracts.services import contract_amend, contract_approve, contract_submit
from billing.contracts.tests.factories import (
    ContractFactory,
    ContractLineFactory,
    PricePhaseFactory,
    PriceTierFactory,
)
from billing.contracts.tests.fixtures import contract_prices
from customers.models import Account
from stripe_sync.models import PushStatus, StripeWrite
from stripe_sync.writes import PushRefused

pytestmark = pytest.mark.django_db


def key():
    return {"api_key": settings.STRIPE_SECRET_KEY}


def ts(day: date) -> int:
    from datetime import UTC, datetime, time

    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp())


def test_an_active_contract_becomes_prices_and_a_schedule_following_its_ramps(
    stripe_standin, ramp_contract
):
    # when the approved contract is pushed
    schedule_id = contract_push_to_stripe(contract=ramp_contract)

    # then there is one price per line and phase, in the contract currency, every quarter
    prices = {
        (p.metadata["contract_line"], p.metadata["price_phase_id"]): p
        for p in contract_prices(ramp_contract)
    }
    assert len(prices) == 3 + 1 + 1 + 1
    for price in prices.values():
        assert price.currency == "eur"
        assert (price.recurring.interval, price.recurring.interval_count) == ("month", 3)
        assert price.metadata["contract_version"] == "1"
    seats = sorted(
        (p for (line, _), p in prices.items() if line == "seats"),
        key=lambda p: int(p.metadata["price_phase_id"]),
    )
    assert [p.unit_amount_decimal for p in seats] == [
        Decimal("3000"),
        Decimal("2750"),
        Decimal("2510"),
    ]
    (api,) = (p for (line, _), p in prices.items() if line == "api")
    assert (api.billing_scheme, api.tiers_mode) == ("tiered", "graduated")
    assert [(t.up_to, t.unit_amount_decimal, t.flat_amount) for t in api.tiers] == [
        (1000, Decimal("5"), 1000),
        (None, Decimal("1"), None),
    ]
    (support,) = (p for (line, _), p in prices.items() if line == "support")
    assert support.unit_amount == 150000
    (storage,) = (p for (line, _), p in prices.items() if line == "storage")
    assert storage.recurring.usage_type == "metered"
    assert [(t.up_to, t.unit_amount_decimal) for t in storage.tiers] == [
        (10000, Decimal("0")),
        (None, Decimal("2")),
    ]

    # and a schedule with one phase per year of the ramp, on the contract's terms
    schedule = stripe.SubscriptionSchedule.retrieve(schedule_id, **key())
    assert schedule.customer == ramp_contract.account.stripe_customer_id
    assert schedule.end_behavior == "release"
    assert schedule.default_settings.collection_method == "send_invoice"
    assert schedule.default_settings.invoice_settings.days_until_due == 30
    assert [(p.start_date, p.end_date) for p in schedule.phases] == [
        (ts(date(2026, 1, 1)), ts(date(2027, 1, 1))),
        (ts(date(2027, 1, 1)), ts(date(2028, 1, 1))),
        (ts(date(2028, 1, 1)), ts(date(2029, 1, 1))),
    ]
    seat_quantities = [
        next(i.quantity for i in phase["items"] if i.price in {s.id for s in seats})
        for phase in schedule.phases
    ]
    assert seat_quantities == [50, 80, 120]
    assert all(len(phase["items"]) == 4 for phase in schedule.phases)

    # and our side records it, with the mirror in step
    ramp_contract.refresh_from_db()
    assert ramp_contract.stripe_schedule_id == schedule_id
    assert ramp_contract.stripe_push_status == PushStatus.PUSHED
    assert SubscriptionSchedule.objects.filter(id=schedule_id).exists()


def test_pushing_a_contract_twice_creates_nothing_twice(stripe_standin, ramp_contract):
    first = contract_push_to_stripe(contract=ramp_contract)
    # a second run, as after a worker died before recording that it had finished
    Contract.objects.filter(pk=ramp_contract.pk).update(stripe_schedule_id="")
    second = contract_push_to_stripe(contract=ramp_contract)

    assert first == second
    assert len(contract_prices(ramp_contract)) == 6
    assert len(stripe.SubscriptionSchedule.list(limit=100, **key()).data) == 1
    assert len(stripe.Customer.list(limit=100, **key()).data) == 1


def test_an_amendment_updates_the_schedule_from_its_effective_date(
    stripe_standin, ramp_contract, manager, finance
):
    schedule_id = contract_push_to_stripe(contract=ramp_contract)

    # when the contract is amended from 1 July 2027: 100 seats instead of 80
    amendment = contract_amend(contract=ramp_contract, by=manager, effective_date=date(2027, 7, 1))
    seats_2027 = amendment.lines.get(key="seats").phases.get(start_date=date(2027, 1, 1))
    seats_2027.quantity = 100
    seats_2027.save()
    contract_submit(contract=amendment, by=manager)
    contract_approve(contract=amendment, by=finance)
    assert contract_push_to_stripe(contract=amendment) == schedule_id

    # then the same schedule keeps version 1 up to the effective date and version 2 after it
    schedule = stripe.SubscriptionSchedule.retrieve(schedule_id, **key())
    assert [(p.start_date, p.end_date) for p in schedule.phases] == [
        (ts(date(2026, 1, 1)), ts(date(2027, 1, 1))),
        (ts(date(2027, 1, 1)), ts(date(2027, 7, 1))),
        (ts(date(2027, 7, 1)), ts(date(2028, 1, 1))),
        (ts(date(2028, 1, 1)), ts(date(2029, 1, 1))),
    ]
    v1_prices = {
        p.id for p in contract_prices(ramp_contract) if p.metadata["contract_version"] == "1"
    }
    v2_prices = {p.id for p in contract_prices(amendment) if p.metadata["contract_version"] == "2"}
    assert {i.price for i in schedule.phases[1]["items"]} <= v1_prices
    assert {i.price for i in schedule.phases[2]["items"]} <= v2_prices
    assert 100 in [i.quantity for i in schedule.phases[2]["items"]]
    assert schedule.metadata["contract_version"] == "2"


def test_a_refused_push_shows_stripes_message_and_is_not_retried(stripe_standin, ramp_contract):
    # given an account linked to a customer Stripe does not have
    from djstripe.models import Customer

    Customer.objects.create(id="cus_gone", stripe_data={"id": "cus_gone"})
    Account.objects.filter(pk=ramp_contract.account_id).update(stripe_customer_id="cus_gone")

    # when the contract is pushed
    with pytest.raises(PushRefused, match="cus_gone"):
        contract_push_to_stripe(contract=ramp_contract)

    # then the contract says so, in Stripe's words, and the write is marked refused
    ramp_contract.refresh_from_db()
    assert ramp_contract.stripe_push_status == PushStatus.REFUSED
    assert "cus_gone" in ramp_contract.stripe_push_error
    refused = StripeWrite.objects.get(outcome=StripeWrite.Outcome.REFUSED)
    assert refused.attempts == 1
    assert "customer" in refused.error


def test_a_refused_push_once_fixed_is_sent_with_what_is_true_now_under_a_new_key(
    stripe_standin, ramp_contract
):
    """Finance fixes what Stripe refused; "Send to Stripe now" sends the current parameters
    (a new key: the refused request did nothing), and the refused attempt shows superseded."""
    from djstripe.models import Customer

    Customer.objects.create(id="cus_gone", stripe_data={"id": "cus_gone"})
    Account.objects.filter(pk=ramp_contract.account_id).update(stripe_customer_id="cus_gone")
    with pytest.raises(PushRefused):
        contract_push_to_stripe(contract=ramp_contract)
    refused = StripeWrite.objects.get(outcome=StripeWrite.Outcome.REFUSED)
    assert refused.idempotency_key.endswith("-schedule-create")

    # the fix: the account is linked to no customer, so the push makes one
    Account.objects.filter(pk=ramp_contract.account_id).update(stripe_customer_id=None)
    contract_push_to_stripe(contract=ramp_contract)
    contract_push_to_stripe(contract=ramp_contract)  # twice: nothing new

    ramp_contract.refresh_from_db()
    assert ramp_contract.stripe_push_status == PushStatus.PUSHED
    refused.refresh_from_db()
    assert refused.outcome == StripeWrite.Outcome.SUPERSEDED
    again = StripeWrite.objects.get(idempotency_key=f"{refused.idempotency_key}~2")
    assert (again.outcome, again.attempts) == (StripeWrite.Outcome.DONE, 1)
    customer = Account.objects.get(pk=ramp_contract.account_id).stripe_customer_id
    schedules = stripe.SubscriptionSchedule.list(
        customer=customer, api_key=settings.STRIPE_SECRET_KEY
    ).data
    assert [s.id for s in schedules] == [ramp_contract.stripe_schedule_id]


def test_approving_a_contract_queues_its_push(
    stripe_standin, account, manager, finance, django_capture_on_commit_callbacks
):
    contract = ContractFactory(account=account, created_by=manager)
    PricePhaseFactory(line=ContractLineFactory(contract=contract))
    contract_submit(contract=contract, by=manager)

    with django_capture_on_commit_callbacks(execute=True):
        contract_approve(contract=contract, by=finance)

    contract.refresh_from_db()
    assert contract.stripe_push_status == PushStatus.PUSHED
    assert contract.stripe_schedule_id.startswith("sub_sched_")


def test_finance_sees_what_was_sent_on_the_contract_page_and_can_resend(
    stripe_standin, ramp_contract, demo_logins, django_capture_on_commit_callbacks
):
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.login(username="finance", password=demo_logins["finance"])

    # when finance sends the contract from the list
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:billing_contract_changelist"),
            {"action": "send_to_stripe", "_selected_action": [ramp_contract.pk]},
        )
    assert response.status_code == 302

    # then the contract page says it is in Stripe and lists every write, with its outcome
    page = client.get(reverse("admin:billing_contract_change", args=[ramp_contract.pk]))
    html = page.content.decode()
    assert "In Stripe" in html
    assert f"Subscription schedule for {ramp_contract.number} v1" in html
    assert html.count(f"Price for {ramp_contract.number} v1") == 6
    ramp_contract.refresh_from_db()
    assert ramp_contract.stripe_schedule_id in html


def usage_tiered_contract(account, manager, finance, *, anchor: date | None = None) -> Contract:
    """Graduated tiers and volume tiers on usage, beside a flat fee; quarterly from 15 January
    2026, billed on the first of each quarter when `anchor` says so."""
    contract = ContractFactory(
        account=account,
        created_by=manager,
        start_date=date(2026, 1, 15),
        end_date=date(2026, 12, 31),
        billing_frequency=Contract.BillingFrequency.QUARTERLY,
        billing_anchor_date=anchor,
    )
    platform = ContractLineFactory(contract=contract, key="platform", pricing_model="flat")
    PricePhaseFactory(line=platform, flat_amount=Decimal("900.00"), unit_amount=0, quantity=0)
    for key_, model, metric in (("api", "graduated", "api_calls"), ("gb", "volume", "storage")):
        line = ContractLineFactory(contract=contract, key=key_, pricing_model=model, metric=metric)
        phase = PricePhaseFactory(line=line, quantity=0, unit_amount=0)
        PriceTierFactory(phase=phase, up_to=10_000, unit_amount=Decimal("0"))
        PriceTierFactory(phase=phase, up_to=None, unit_amount=Decimal("0.02"), flat_amount=5)
    contract_submit(contract=contract, by=manager)
    contract_approve(contract=contract, by=finance)
    return Contract.objects.get(pk=contract.pk)


def test_every_line_on_a_usage_metric_is_a_metered_price_on_its_meter_with_its_tiers(
    stripe_standin, account, manager, finance
):
    contract = usage_tiered_contract(account, manager, finance)

    schedule_id = contract_push_to_stripe(contract=contract)

    # then both tiered usage lines are metered on their metric's meter, tiers kept
    meters = {m.event_name: m.id for m in stripe.billing.Meter.list(**key()).data}
    assert set(meters) == {"api_calls", "storage"}
    prices = {p.metadata["contract_line"]: p for p in contract_prices(contract)}
    for line, metric, mode in (("api", "api_calls", "graduated"), ("gb", "storage", "volume")):
        price = prices[line]
        assert price.recurring.usage_type == "metered"
        assert price.recurring.meter == meters[metric]
        assert (price.billing_scheme, price.tiers_mode) == ("tiered", mode)
        assert [(t.up_to, t.unit_amount_decimal, t.flat_amount) for t in price.tiers] == [
            (10000, Decimal("0"), None),
            (None, Decimal("2"), 500),
        ]
    assert prices["platform"].recurring.usage_type == "licensed"
    # and the schedule's metered items carry no quantity; the flat fee bills one
    (phase,) = stripe.SubscriptionSchedule.retrieve(schedule_id, **key()).phases
    quantities = {item.price: item.get("quantity") for item in phase["items"]}
    assert quantities[prices["platform"].id] == 1
    assert quantities[prices["api"].id] is None
    assert quantities[prices["gb"].id] is None


def test_a_second_contract_on_the_same_metric_uses_the_meter_stripe_already_has(
    stripe_standin, account, manager, finance
):
    from billing.catalog.models import BillingMeter

    contract_push_to_stripe(contract=usage_tiered_contract(account, manager, finance))
    # as when our record of the meter is lost, or the meter was made in Stripe by hand
    BillingMeter.objects.update(stripe_meter_id="")

    contract_push_to_stripe(contract=usage_tiered_contract(account, manager, finance))

    assert len(stripe.billing.Meter.list(**key()).data) == 2
    assert set(BillingMeter.objects.values_list("metric", flat=True)) == {"api_calls", "storage"}
    assert all(BillingMeter.objects.values_list("stripe_meter_id", flat=True))


def test_the_schedule_restarts_its_billing_cycle_on_the_contracts_anchor(
    stripe_standin, account, manager, finance
):
    # a contract starting 15 January, billed quarterly on the first of each quarter
    contract = usage_tiered_contract(account, manager, finance, anchor=date(2026, 1, 1))

    schedule = stripe.SubscriptionSchedule.retrieve(
        contract_push_to_stripe(contract=contract), **key()
    )

    # then Stripe bills 15 January to 1 April (the partial first quarter, prorated), then
    # restarts its cycle on 1 April, the contract's second billing period
    assert [(p.start_date, p.end_date, p.billing_cycle_anchor) for p in schedule.phases] == [
        (ts(date(2026, 1, 15)), ts(date(2026, 4, 1)), None),
        (ts(date(2026, 4, 1)), ts(date(2027, 1, 1)), "phase_start"),
    ]
    assert all(p["items"][0].price == schedule.phases[0]["items"][0].price for p in schedule.phases)


def test_a_contract_starting_on_its_anchor_bills_from_its_start(
    stripe_standin, account, manager, finance
):
    contract = usage_tiered_contract(account, manager, finance, anchor=date(2026, 1, 15))

    schedule = stripe.SubscriptionSchedule.retrieve(
        contract_push_to_stripe(contract=contract), **key()
    )

    assert [(p.start_date, p.billing_cycle_anchor) for p in schedule.phases] == [
        (ts(date(2026, 1, 15)), None)
    ]


def test_a_terminated_contract_ends_its_schedule_in_stripe_on_its_last_day(
    stripe_standin, ramp_contract, finance, django_capture_on_commit_callbacks
):
    from datetime import UTC, datetime, timedelta

    from billing.contracts.services import contract_terminate

    schedule_id = contract_push_to_stripe(contract=ramp_contract)
    last_day = datetime.now(UTC).date() + timedelta(days=60)

    # when finance terminates the contract from a day two months ahead
    with django_capture_on_commit_callbacks(execute=True):
        contract_terminate(
            contract=ramp_contract, by=finance, end_date=last_day, reason="Customer acquired"
        )

    # then its schedule stops billing the day after, and cancels there
    schedule = stripe.SubscriptionSchedule.retrieve(schedule_id, **key())
    assert schedule.phases[-1].end_date == ts(last_day + timedelta(days=1))
    assert all(p.end_date <= ts(last_day + timedelta(days=1)) for p in schedule.phases)
    assert schedule.end_behavior == "cancel"
    assert schedule.status != "canceled"
    ramp_contract.refresh_from_db()
    assert ramp_contract.stripe_push_status == PushStatus.PUSHED
    assert StripeWrite.objects.get(idempotency_key__contains="terminate").outcome == "done"


def test_a_termination_dated_in_the_past_cancels_the_schedule_now(
    stripe_standin, ramp_contract, finance, django_capture_on_commit_callbacks
):
    from datetime import UTC, datetime, timedelta

    from billing.contracts.services import contract_terminate

    schedule_id = contract_push_to_stripe(contract=ramp_contract)

    with django_capture_on_commit_callbacks(execute=True):
        contract_terminate(
            contract=ramp_contract,
            by=finance,
            end_date=datetime.now(UTC).date() - timedelta(days=10),
            reason="Ended by agreement last week",
        )

    schedule = stripe.SubscriptionSchedule.retrieve(schedule_id, **key())
    assert schedule.status == "canceled"
    # and sending it again changes nothing: the same request, answered once
    contract_push_to_stripe(contract=Contract.objects.get(pk=ramp_contract.pk))
    assert StripeWrite.objects.filter(idempotency_key__contains="terminate").count() == 1


def test_a_schedule_created_in_doubt_longer_than_stripe_keeps_a_key_is_found_not_made_again(
    stripe_standin, ramp_contract
):
    """The schedule was made, the answer lost, the retry 25 hours later under a forgotten
    key: found by the contract's metadata, never a second schedule billing the customer."""
    from datetime import timedelta

    from django.utils import timezone

    from stripe_standin.control import standin_config

    schedule_id = contract_push_to_stripe(contract=ramp_contract)
    write = StripeWrite.objects.get(idempotency_key=f"contract-{ramp_contract.pk}-schedule-create")
    # as if the answer had never come back
    StripeWrite.objects.filter(pk=write.pk).update(
        outcome=StripeWrite.Outcome.RETRYING,
        stripe_id="",
        created_at=timezone.now() - timedelta(hours=25),
    )
    Contract.objects.filter(pk=ramp_contract.pk).update(stripe_schedule_id="")
    standin_config(stripe_standin, "POST", "/_config/clock", {"advance": 25 * 3600})

    assert contract_push_to_stripe(contract=ramp_contract) == schedule_id
    customer = Account.objects.get(pk=ramp_contract.account_id).stripe_customer_id
    schedules = stripe.SubscriptionSchedule.list(
        customer=customer, api_key=settings.STRIPE_SECRET_KEY
    ).data
    assert [s.id for s in schedules] == [schedule_id]


def test_prices_and_products_created_in_doubt_past_the_key_window_are_found_not_made_again(
    stripe_standin, ramp_contract
):
    """Every create of a contract's push (its products, its prices, its schedule) answered
    with nothing, then retried 25 hours later under keys Stripe has forgotten: each object is
    found by our metadata, and Stripe holds one of each."""
    from datetime import timedelta

    from django.utils import timezone

    from billing.catalog.models import CatalogItem
    from stripe_standin.control import standin_config

    contract_push_to_stripe(contract=ramp_contract)
    phases = PricePhase.objects.filter(line__contract=ramp_contract)
    prices = dict(phases.values_list("pk", "stripe_price_id"))
    items = CatalogItem.objects.filter(pk__in=ramp_contract.lines.values("item"))
    products = dict(items.values_list("pk", "stripe_product_id"))
    assert all(prices.values())
    assert all(products.values())
    # as if no answer had come back to any create
    StripeWrite.objects.filter(
        Q(path="/v1/prices") | Q(path="/v1/products") | Q(path="/v1/subscription_schedules")
    ).update(
        outcome=StripeWrite.Outcome.RETRYING,
        stripe_id="",
        created_at=timezone.now() - timedelta(hours=25),
    )
    phases.update(stripe_price_id="")
    items.update(stripe_product_id=None)
    Contract.objects.filter(pk=ramp_contract.pk).update(stripe_schedule_id="")
    standin_config(stripe_standin, "POST", "/_config/clock", {"advance": 25 * 3600})

    contract_push_to_stripe(contract=Contract.objects.get(pk=ramp_contract.pk))

    assert dict(phases.values_list("pk", "stripe_price_id")) == prices
    assert dict(items.values_list("pk", "stripe_product_id")) == products
    in_stripe = stripe.Price.list(limit=100, api_key=settings.STRIPE_SECRET_KEY).data
    assert sorted(p.id for p in in_stripe) == sorted(prices.values())
    assert StripeWrite.objects.filter(
        path="/v1/prices", error__startswith="Found in Stripe"
    ).count() == len(prices)
