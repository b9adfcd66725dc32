"""Accepted payment methods: the catalogue's currency and country rules, refused with the
reason on the account page and in the accounts import."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from backoffice.models import User
from billing.contracts.tests.factories import ContractFactory
from customers.models import Account
from customers.payment_methods import PAYMENT_METHODS, payment_method_refusals
from customers.resources import AccountResource
from customers.tests.factories import AccountFactory
from customers.tests.test_account_admin import account_form
from file_imports.engine import export_file, run_import

pytestmark = pytest.mark.django_db


def test_sepa_debit_takes_eur_only():
    assert payment_method_refusals(["card", "sepa_debit"], country="US", currencies=["USD"]) == [
        "SEPA Direct Debit takes EUR only; this account is billed in USD."
    ]


def test_a_method_is_offered_to_its_countries_customers_only():
    assert payment_method_refusals(["us_bank_account"], country="DE", currencies=["USD"]) == [
        "US bank account (ACH Direct Debit) in USD is offered to customers with a US bank "
        "account; this account is in Germany."
    ]
    assert payment_method_refusals(["ideal"], country="NL", currencies=["EUR"]) == []
    assert payment_method_refusals(["ideal"], country="DE", currencies=["EUR"]) == [
        "iDEAL in EUR is offered to customers in the Netherlands; this account is in Germany."
    ]


def test_bank_transfer_checks_the_country_of_each_currency():
    assert payment_method_refusals(["customer_balance"], country="JP", currencies=["JPY"]) == []
    assert payment_method_refusals(["customer_balance"], country="GB", currencies=["JPY"]) == [
        "Bank transfer in JPY is offered to customers in the country of the currency's bank "
        "network; this account is in United Kingdom."
    ]


def test_card_and_link_take_any_currency_anywhere():
    assert payment_method_refusals(["card", "link"], country="BH", currencies=["BHD", "KWD"]) == []


def test_unknown_code_is_named():
    assert payment_method_refusals(["cheque"], country="US", currencies=["USD"]) == [
        "'cheque' is not a payment method Stripe offers the markets we serve."
    ]


def test_every_method_takes_at_least_one_currency_or_any():
    for method in PAYMENT_METHODS.values():
        assert method.any_currency or method.offered, method.code


def test_contract_currencies_count_too():
    # given a German account billed in EUR with a USD contract
    account = AccountFactory(billing_country="DE", default_currency="EUR")
    ContractFactory(account=account, currency="USD")
    account.accepted_payment_methods = ["sepa_debit"]
    # then SEPA is refused: its USD invoices could not be paid by it
    with pytest.raises(ValidationError) as refused:
        account.full_clean()
    assert "SEPA Direct Debit takes EUR only; this account is billed in USD." in str(refused.value)


@pytest.fixture
def finance_client(client, demo_logins):
    client.login(username="finance", password=demo_logins["finance"])
    return client


def test_account_page_refuses_sepa_for_a_usd_account_with_the_reason(finance_client):
    account = AccountFactory(
        billing_country="US",
        state="NY",
        default_currency="USD",
        account_manager=User.objects.get(username="manager"),
    )
    page = reverse("admin:customers_account_change", args=[account.pk])
    response = finance_client.post(
        page, account_form(account, accepted_payment_methods=["card", "sepa_debit"])
    )
    assert response.status_code == 200
    assert "SEPA Direct Debit takes EUR only; this account is billed in USD." in (
        response.content.decode()
    )
    account.refresh_from_db()
    assert account.accepted_payment_methods == ["card"]


def test_account_page_saves_ach_for_a_us_account(finance_client):
    account = AccountFactory(
        billing_country="US",
        state="NY",
        default_currency="USD",
        account_manager=User.objects.get(username="manager"),
    )
    page = reverse("admin:customers_account_change", args=[account.pk])
    response = finance_client.post(
        page, account_form(account, accepted_payment_methods=["us_bank_account", "card"])
    )
    assert response.status_code == 302
    account.refresh_from_db()
    # in the catalogue's order, card first
    assert account.accepted_payment_methods == ["card", "us_bank_account"]
    assert "US bank account (ACH Direct Debit)" in finance_client.get(page).content.decode()


def test_import_refuses_a_method_the_account_cannot_use_naming_row_and_method(demo_logins):
    finance = User.objects.get(username="finance")
    AccountFactory(external_ref="CRM-3001", billing_country="US", default_currency="USD")
    file = (
        "external_ref,legal_name,billing_country,default_currency,accepted_payment_methods\n"
        "CRM-3001,Northwind Traders Inc.,US,USD,card; us_bank_account\n"
        "CRM-3002,Bergmann Logistik GmbH,DE,EUR,card; us_bank_account\n"
        "CRM-3003,Lumière Médias SAS,FR,EUR,card; cheque\n"
    ).encode()
    done = run_import(AccountResource, file, user=finance, filename="a.csv", dry_run=False)
    assert not done.applied
    report = "\n".join(done.lines())
    assert (
        "row 3 (CRM-3002): error: accepted_payment_methods: US bank account (ACH Direct Debit) "
        "takes USD only; this account is billed in EUR." in report
    )
    assert "row 4 (CRM-3003): error: accepted_payment_methods: cheque: not a payment method" in (
        report
    )
    # nothing half-applied
    assert Account.objects.get(external_ref="CRM-3001").accepted_payment_methods == ["card"]
    assert not Account.objects.filter(external_ref="CRM-3002").exists()


def test_import_sets_methods_and_export_gives_them_back(demo_logins):
    finance = User.objects.get(username="finance")
    file = (
        b"external_ref,legal_name,billing_country,default_currency,accepted_payment_methods\n"
        b"CRM-3101,Hollandse Data B.V.,NL,EUR,ideal;sepa_debit;card\n"
    )
    done = run_import(AccountResource, file, user=finance, filename="a.csv", dry_run=False)
    assert done.applied, list(done.lines())
    account = Account.objects.get(external_ref="CRM-3101")
    assert account.accepted_payment_methods == ["card", "sepa_debit", "ideal"]
    exported = export_file(AccountResource, Account.objects.filter(pk=account.pk), user=finance)
    assert "card; sepa_debit; ideal" in exported.decode()
    # and the exported file imports back unchanged
    again = run_import(AccountResource, exported, user=finance, filename="export.csv")
    assert [r.action for r in again.rows] == ["unchanged"], list(again.lines())
