"""Tax settings reach Stripe: rates (a new percentage is a new rate), and the tax of each
contract's schedule (our rules' rates per phase, or Stripe Tax)."""

from datetime import date
from decimal import Decimal

import pytest
import stripe
from django.conf import settings
from django.test import Client
from django.urls import reverse

from billing.contracts.models import Contract
from billing.contracts.push import contract_push_to_stripe
from billing.contracts.services import contract_approve, contract_submit
from billing.contracts.tests.factories import (
    ContractFactory,
    ContractLineFactory,
    PricePhaseFactory,
)
from billing.tax.models import TaxRate, TaxRule
from billing.tax.services import tax_rate_push_to_stripe
from customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def key():
    return {"api_key": settings.STRIPE_SECRET_KEY}


@pytest.fixture
def vat_de():
    return TaxRate.objects.create(
        display_name="VAT",
        percentage=Decimal("19"),
        inclusive=False,
        country="DE",
        jurisdiction="Germany",
        tax_type="vat",
    )


def test_a_rate_is_created_in_stripe_as_written(stripe_standin, vat_de):
    stripe_id = tax_rate_push_to_stripe(rate=vat_de)

    in_stripe = stripe.TaxRate.retrieve(stripe_id, **key())
    assert (in_stripe.display_name, in_stripe.percentage, in_stripe.inclusive) == (
        "VAT",
        19.0,
        False,
    )
    assert (in_stripe.country, in_stripe.tax_type, in_stripe.jurisdiction) == (
        "DE",
        "vat",
        "Germany",
    )
    vat_de.refresh_from_db()
    assert vat_de.stripe_tax_rate_id == stripe_id


def test_a_new_percentage_makes_a_new_rate_and_archives_the_old_one(
    stripe_standin, vat_de, demo_logins, django_capture_on_commit_callbacks
):
    # given a rate in Stripe, named by a rule
    old_id = tax_rate_push_to_stripe(rate=vat_de)
    TaxRule.objects.create(country="DE", rate=vat_de, valid_from=date(2020, 1, 1))
    client = Client()
    client.login(username="finance", password=demo_logins["finance"])

    # when finance changes its percentage in the admin
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:billing_taxrate_change", args=[vat_de.pk]),
            {
                "display_name": "VAT",
                "tax_type": "vat",
                "percentage": "16",
                "country": "DE",
                "state": "",
                "jurisdiction": "Germany",
                "description": "",
            },
        )
    assert response.status_code == 302

    # then a new 16% rate exists in Stripe, the 19% one is archived there, the rule moved
    vat_de.refresh_from_db()
    new = vat_de.replaced_by
    assert not vat_de.active
    assert new.percentage == Decimal("16")
    assert stripe.TaxRate.retrieve(old_id, **key()).active is False
    assert stripe.TaxRate.retrieve(new.stripe_tax_rate_id, **key()).percentage == 16.0
    assert TaxRule.objects.get().rate == new


@pytest.fixture
def german_contract(finance_and_manager):
    finance, manager = finance_and_manager
    account = AccountFactory(billing_country="DE", account_manager=manager)
    contract = ContractFactory(
        account=account,
        created_by=manager,
        start_date=date(2026, 1, 1),
        end_date=date(2027, 12, 31),
    )
    PricePhaseFactory(line=ContractLineFactory(contract=contract, key="seats"))
    contract_submit(contract=contract, by=manager)
    contract_approve(contract=contract, by=finance)
    return Contract.objects.get(pk=contract.pk)


@pytest.fixture
def finance_and_manager(finance, manager):
    return finance, manager


def test_on_our_rules_each_phase_carries_the_rate_in_force(stripe_standin, vat_de, german_contract):
    # given 19% until the end of 2026, then 16%
    TaxRule.objects.create(
        country="DE", rate=vat_de, valid_from=date(2020, 1, 1), valid_until=date(2026, 12, 31)
    )
    reduced = TaxRate.objects.create(
        display_name="VAT", percentage=Decimal("16"), country="DE", tax_type="vat"
    )
    TaxRule.objects.create(country="DE", rate=reduced, valid_from=date(2027, 1, 1))
    # (a price change on 1 January 2027 splits the schedule there)
    line = german_contract.lines.get()
    phase = line.phases.get()
    phase.end_date = date(2026, 12, 31)
    phase.save()
    PricePhaseFactory(line=line, start_date=date(2027, 1, 1), unit_amount=Decimal("18.00"))

    schedule_id = contract_push_to_stripe(contract=german_contract)

    schedule = stripe.SubscriptionSchedule.retrieve(schedule_id, **key())
    vat_de.refresh_from_db()
    reduced.refresh_from_db()
    assert [[r.id for r in p.default_tax_rates] for p in schedule.phases] == [
        [vat_de.stripe_tax_rate_id],
        [reduced.stripe_tax_rate_id],
    ]
    price = stripe.Price.retrieve(schedule.phases[0]["items"][0].price, **key())
    assert price.tax_behavior == "exclusive"


def test_on_stripe_tax_the_schedule_turns_automatic_tax_on(stripe_standin, german_contract):
    Contract.objects.filter(pk=german_contract.pk).update(tax_mode="stripe_tax")

    schedule_id = contract_push_to_stripe(contract=german_contract)

    schedule = stripe.SubscriptionSchedule.retrieve(schedule_id, **key())
    assert schedule.default_settings.automatic_tax.enabled is True
    assert all(not p.default_tax_rates for p in schedule.phases)


def test_without_a_rule_the_push_is_refused_with_the_reason(stripe_standin, german_contract):
    from stripe_sync.writes import PushRefused

    with pytest.raises(PushRefused, match="No tax rule for DE"):
        contract_push_to_stripe(contract=german_contract)
    german_contract.refresh_from_db()
    assert "No tax rule for DE" in german_contract.stripe_push_error


def test_rates_made_in_stripe_are_adopted_and_follow_their_archiving(stripe_standin):
    from stripe_sync.backfill import backfill
    from stripe_sync.mirror import Mirror
    from stripe_sync.object_types import object_type

    # given a rate made in Stripe's dashboard
    made = stripe.TaxRate.create(
        display_name="GST",
        percentage=10,
        inclusive=True,
        country="AU",
        tax_type="gst",
        jurisdiction="Australia",
        **key(),
    )

    # when tax rates are backfilled, it is one of ours, linked to Stripe's
    backfill("tax_rates")
    adopted = TaxRate.objects.get(stripe_tax_rate_id=made.id)
    assert (adopted.display_name, adopted.percentage, adopted.inclusive) == (
        "GST",
        Decimal("10"),
        True,
    )
    assert (str(adopted.country), adopted.tax_type, adopted.active) == ("AU", "gst", True)

    # and once archived in Stripe, it is archived here too, without a second copy
    stripe.TaxRate.modify(made.id, active=False, **key())
    Mirror().refresh(object_type("tax_rates"), made.id)
    assert TaxRate.objects.filter(stripe_tax_rate_id=made.id).count() == 1
    assert TaxRate.objects.get(stripe_tax_rate_id=made.id).active is False


def test_a_rate_created_in_doubt_past_the_key_window_is_found_not_made_again(
    stripe_standin, vat_de
):
    """Made, the answer lost, retried 25 hours later under a key Stripe has forgotten: found
    by our metadata among the account's rates; Stripe holds one."""
    from datetime import timedelta

    from django.utils import timezone

    from stripe_standin.control import standin_config
    from stripe_sync.models import StripeWrite

    made = tax_rate_push_to_stripe(rate=vat_de)
    StripeWrite.objects.filter(idempotency_key=f"tax-rate-{vat_de.pk}-create").update(
        outcome=StripeWrite.Outcome.RETRYING,
        stripe_id="",
        created_at=timezone.now() - timedelta(hours=25),
    )
    TaxRate.objects.filter(pk=vat_de.pk).update(stripe_tax_rate_id="")
    standin_config(stripe_standin, "POST", "/_config/clock", {"advance": 25 * 3600})

    assert tax_rate_push_to_stripe(rate=TaxRate.objects.get(pk=vat_de.pk)) == made
    assert [r.id for r in stripe.TaxRate.list(**key()).data] == [made]
