"""Which tax applies: one order for the push, invoice review and readiness (exemption, then
Stripe Tax, then our rule for the place, then none), and the rules read only when needed."""

from datetime import date

import pytest

from billing.contracts.models import Contract
from billing.contracts.tests.factories import seats_contract
from billing.invoices.selectors import contract_expectation
from billing.tax.decide import TaxTreatment, account_tax_decision, rules_in_force, tax_decision
from billing.tax.tests.test_readiness import rate, rule
from customers.models import Account
from customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
DAY = date(2026, 11, 21)


def decide(*, exemption="none", stripe_tax=False, country="CA", state=""):
    return tax_decision(
        exemption=exemption,
        stripe_tax=stripe_tax,
        country=country,
        state=state,
        rules=rules_in_force(DAY),
    )


@pytest.fixture
def canada():
    """GST for Canada, and Ontario's HST in its place."""
    gst = rule(rate("CA", "5", "GST", tax_type="gst"))
    hst = rule(rate("CA", "13", "HST", state="ON", tax_type="hst"), state="ON")
    return gst, hst


def test_the_customers_exemption_comes_before_stripe_tax_and_our_rules(canada):
    for stripe_tax in (False, True):
        exempt = decide(exemption=Account.TaxExemption.EXEMPT, stripe_tax=stripe_tax)
        reverse = decide(exemption=Account.TaxExemption.REVERSE, stripe_tax=stripe_tax)
        assert (exempt.treatment, exempt.rate) == (TaxTreatment.EXEMPT, None)
        assert (reverse.treatment, reverse.rate) == (TaxTreatment.REVERSE_CHARGE, None)


def test_stripe_tax_comes_before_our_rules(canada):
    assert decide(stripe_tax=True, state="ON").treatment == TaxTreatment.STRIPE_TAX


def test_a_states_rule_comes_before_its_countrys_however_the_state_is_written(canada):
    gst, hst = canada
    for written in ("ON", "on", " on "):
        assert decide(state=written).rule == hst
    assert decide(state="BC").rule == gst  # no rule of its own: the country's
    assert decide(state="").rule == gst


def test_a_place_without_a_rule_has_no_tax_and_says_so(canada):
    decision = decide(country="MX")
    assert (decision.treatment, decision.rule) == (TaxTreatment.NO_RULE, None)


def test_the_rules_are_read_once_and_only_when_a_decision_needs_them(
    canada, django_assert_num_queries
):
    exempt = AccountFactory(billing_country="CA", tax_exemption=Account.TaxExemption.EXEMPT)
    taxed = AccountFactory(billing_country="CA", state="ON")
    rules = rules_in_force(DAY)
    with django_assert_num_queries(0):
        account_tax_decision(exempt, stripe_tax=False, rules=rules)
        account_tax_decision(taxed, stripe_tax=True, rules=rules)
    with django_assert_num_queries(1):
        assert account_tax_decision(taxed, stripe_tax=False, rules=rules).rule == canada[1]
        assert account_tax_decision(taxed, stripe_tax=False, rules=rules).rule == canada[1]


def test_a_reverse_charge_customer_on_stripe_tax_expects_no_rate_and_says_why(canada):
    # A draft of a contract on Stripe Tax for a reverse-charge customer: Stripe's tax is not
    # compared, no rate of ours is expected, and the invoice page says why.
    account = AccountFactory(billing_country="CA", tax_exemption=Account.TaxExemption.REVERSE)
    contract = seats_contract(account=account, tax_mode=Contract.TaxMode.STRIPE_TAX)
    expected = contract_expectation(contract, (date(2026, 3, 1), date(2026, 3, 31)))
    assert (expected.stripe_tax, expected.tax_rate_ids) == (True, ())
    assert expected.tax_note == "reverse charge"
