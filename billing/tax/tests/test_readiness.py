"""Tax readiness: the tax each customer's next invoice carries, and every contradiction."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.contracts.models import Contract
from billing.contracts.selectors import account_tax_readiness, accounts_tax_readiness
from billing.contracts.tests.factories import ContractFactory
from billing.tax.models import TaxRate, TaxRule
from customers.models import Account, TaxId
from customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
TODAY = date(2026, 11, 21)


def rate(country, percentage, name="VAT", *, state="", inclusive=False, tax_type="vat"):
    return TaxRate.objects.create(
        display_name=name,
        percentage=Decimal(percentage),
        inclusive=inclusive,
        country=country,
        state=state,
        tax_type=tax_type,
    )


def rule(tax_rate, *, state="", since=date(2020, 1, 1), until=None):
    return TaxRule.objects.create(
        country=tax_rate.country, state=state, rate=tax_rate, valid_from=since, valid_until=until
    )


def readiness(account):
    return account_tax_readiness(account, today=TODAY)


def test_a_taxed_customer_gets_the_rule_of_its_country_with_the_reason():
    rule(rate("DE", "19"))
    account = AccountFactory(billing_country="DE")

    result = readiness(account)

    assert result.ready
    assert result.applies.startswith("VAT 19% (added to prices), by the rule for Germany")


def test_a_state_rule_comes_before_the_country_rule():
    rule(rate("CA", "5", "GST", tax_type="gst"))
    rule(rate("CA", "13", "HST", state="ON", tax_type="hst"), state="ON")

    ontario = readiness(AccountFactory(billing_country="CA", state="ON"))
    alberta = readiness(AccountFactory(billing_country="CA", state="AB"))

    assert ontario.applies.startswith("HST 13%")
    assert alberta.applies.startswith("GST 5%")


def test_only_the_rule_in_force_today_counts():
    old = rate("GB", "17.5")
    rule(old, since=date(2008, 12, 1), until=date(2010, 12, 31))
    rule(rate("GB", "20"), since=date(2011, 1, 4))

    assert readiness(AccountFactory(billing_country="GB")).applies.startswith("VAT 20%")


def test_reverse_charge_in_the_eu_without_a_vat_id_is_a_contradiction():
    account = AccountFactory(billing_country="NL", tax_exemption=Account.TaxExemption.REVERSE)

    result = readiness(account)

    assert result.applies.startswith("No tax: reverse charge")
    assert result.problems == (
        "Reverse charge without a VAT ID: an EU business customer's invoice under reverse "
        "charge must show its VAT number, and none is on file.",
    )
    TaxId.objects.create(account=account, type="eu_vat", value="NL004495445B01")
    assert readiness(account).ready


def test_exempt_without_evidence_or_with_expired_evidence():
    account = AccountFactory(billing_country="US", state="NY", tax_exemption="exempt")
    assert "without evidence" in readiness(account).problems[0]

    account.exemption_certificate = "NY ST-119.1 #4471"
    account.exemption_valid_until = date(2026, 6, 30)
    account.save()
    assert readiness(account).problems == (
        "Tax exemption evidence NY ST-119.1 #4471 expired on 2026-06-30: the next invoice "
        "would be issued without tax on expired evidence.",
    )

    account.exemption_valid_until = date(2027, 6, 30)
    account.save()
    result = readiness(account)
    assert result.ready
    assert result.applies == "No tax: exempt (evidence NY ST-119.1 #4471, valid until 2027-06-30)"


def test_a_country_without_a_rule_and_without_stripe_tax():
    account = AccountFactory(billing_country="MX")
    result = readiness(account)
    assert result.problems[0].startswith("No tax rule for Mexico and no contract on Stripe Tax")

    ContractFactory(account=account, status=Contract.Status.ACTIVE, tax_mode="stripe_tax")
    result = readiness(account)
    assert result.ready
    assert result.applies.startswith("Stripe Tax calculates it")


def test_tax_inclusive_contract_prices_against_an_exclusive_rule():
    rule(rate("AU", "10", "GST", tax_type="gst"))
    account = AccountFactory(billing_country="AU")
    ContractFactory(
        account=account, number="C-TAX-1", status=Contract.Status.ACTIVE, prices_include_tax=True
    )

    (problem,) = readiness(account).problems

    assert problem.startswith("Contract C-TAX-1's prices include tax, but the rate of its rule")


def test_a_tax_id_of_another_country_than_the_billing_address():
    rule(rate("FR", "20"))
    account = AccountFactory(billing_country="FR")
    TaxId.objects.create(account=account, type="eu_vat", value="DE136695976")

    assert readiness(account).problems == (
        "Tax ID DE136695976 belongs to Germany, but the billing country is France: one of "
        "the two is wrong.",
    )


def test_a_us_customer_without_a_state():
    rule(rate("US", "6", "Sales tax", state="WA", tax_type="sales_tax"), state="WA")
    problems = readiness(AccountFactory(billing_country="US", state="")).problems
    # one problem, not also "no rule for the United States": the state is what is missing
    assert len(problems) == 1
    assert problems[0].startswith("US customer without a state")


def test_readiness_of_all_accounts_takes_the_same_queries_for_ten_or_a_hundred(
    django_assert_num_queries,
):
    rule(rate("DE", "19"))
    for _ in range(10):
        account = AccountFactory(billing_country="DE")
        TaxId.objects.create(account=account, type="eu_vat", value="DE136695976")
        ContractFactory(account=account, status=Contract.Status.ACTIVE)
    with django_assert_num_queries(4):
        assert len(accounts_tax_readiness(Account.objects.all(), today=TODAY)) == 10
    for _ in range(90):
        AccountFactory(billing_country="FR")
    with django_assert_num_queries(4):
        result = accounts_tax_readiness(Account.objects.all(), today=TODAY)
    assert len(result) == 100
    assert sum(not r.ready for r in result.values()) == 90  # no rule for France


def test_two_rules_for_one_place_may_not_overlap():
    vat = rate("DE", "19")
    rule(vat, since=date(2020, 1, 1), until=date(2026, 12, 31))

    clash = TaxRule(country="DE", rate=vat, valid_from=date(2026, 7, 1))
    with pytest.raises(ValidationError, match="Another rule covers DE over the same dates"):
        clash.full_clean()

    after = TaxRule(country="DE", rate=vat, valid_from=date(2027, 1, 1))
    after.full_clean()  # starts the day after: fine
    other_state = TaxRule(country="DE", state="BY", rate=vat, valid_from=date(2026, 7, 1))
    other_state.full_clean()


def test_a_rule_takes_a_rate_of_its_own_country():
    with pytest.raises(ValidationError, match="is a rate of DE, not FR"):
        TaxRule(country="FR", rate=rate("DE", "19"), valid_from=date(2026, 1, 1)).full_clean()


def test_the_accounts_list_filters_tax_not_ready_and_the_page_says_why(
    demo_logins, django_assert_max_num_queries
):
    from django.test import Client
    from django.urls import reverse

    rule(rate("DE", "19"))
    ready = AccountFactory(legal_name="Ready GmbH", billing_country="DE")
    wrong = AccountFactory(legal_name="Wrong B.V.", billing_country="NL", tax_exemption="reverse")
    for n in range(30):
        AccountFactory(legal_name=f"Filler {n} GmbH", billing_country="DE")
    client = Client()
    client.login(username="finance", password=demo_logins["finance"])
    url = reverse("admin:customers_account_changelist")

    with django_assert_max_num_queries(20):
        listed = client.get(url, {"tax": "not_ready"}).content.decode()

    assert "Wrong B.V." in listed
    assert "Reverse charge without a VAT ID" in listed  # the reason, in the list
    assert "Ready GmbH" not in listed
    assert "Filler" not in listed
    page = client.get(reverse("admin:customers_account_change", args=[wrong.pk]))
    assert "Reverse charge without a VAT ID" in page.content.decode()
    assert (
        "Ready."
        in client.get(reverse("admin:customers_account_change", args=[ready.pk])).content.decode()
    )
