"""Money on the contract's screens, as people read it (issue 19): through django-money's Money
and its formatting, in each currency's precision: no decimals for JPY, three for BHD, two for
USD, and a unit price with the digits below the minor unit it has. Read-only pages (an active
contract) show amounts as text; nowhere a stored Decimal's six places."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags

from backoffice.models import User
from billing.catalog.models import ListPrice
from billing.contracts.models import Contract
from billing.contracts.services import contract_approve, contract_submit
from billing.contracts.tests.factories import (
    CatalogItemFactory,
    ContractFactory,
    ContractLineFactory,
    PricePhaseFactory,
    PriceTierFactory,
)
from customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

CASES = {
    # currency: (seat price, usage tier price, flat fee, minimum commit, what each shows as)
    "JPY": (
        Decimal("4000"),
        Decimal("0.5"),
        Decimal("150000"),
        Decimal("1200000"),
        ["4,000 JPY", "0.5 JPY", "150,000 JPY", "1,200,000 JPY"],
    ),
    "BHD": (
        Decimal("50.5"),
        Decimal("0.0125"),
        Decimal("1234.5"),
        Decimal("30000"),
        ["50.500 BHD", "0.0125 BHD", "1,234.500 BHD", "30,000.000 BHD"],
    ),
    "USD": (
        Decimal("20"),
        Decimal("0.004"),
        Decimal("999.9"),
        Decimal("120000"),
        ["20.00 USD", "0.004 USD", "999.90 USD", "120,000.00 USD"],
    ),
}


def _contract(currency: str, users: dict[str, User]) -> Contract:
    seat, usage, flat, commit, _ = CASES[currency]
    contract = ContractFactory(
        currency=currency,
        minimum_commit=commit,
        account=AccountFactory(account_manager=users["manager"], default_currency=currency),
        start_date=date(2026, 1, 1),
        end_date=date(2028, 12, 31),
    )
    seats = CatalogItemFactory()
    ListPrice.objects.create(item=seats, currency=currency, unit_amount=seat * 2)
    PricePhaseFactory(
        line=ContractLineFactory(contract=contract, key="seats", item=seats),
        unit_amount=seat,
        quantity=10,
    )
    PricePhaseFactory(
        line=ContractLineFactory(
            contract=contract, key="platform", pricing_model="flat", item=CatalogItemFactory()
        ),
        unit_amount=0,
        flat_amount=flat,
        quantity=0,
    )
    api = PricePhaseFactory(
        line=ContractLineFactory(
            contract=contract,
            key="api",
            pricing_model="graduated",
            metric="api_calls",
            item=CatalogItemFactory(),
        ),
        unit_amount=0,
        quantity=0,
    )
    PriceTierFactory(phase=api, up_to=None, unit_amount=usage)
    return contract


@pytest.fixture
def users(demo_logins):
    return {name: User.objects.get(username=name) for name in demo_logins}


@pytest.mark.parametrize("currency", sorted(CASES))
def test_an_active_contracts_page_shows_its_money_in_its_currency(demo_logins, users, currency):
    contract = _contract(currency, users)
    contract_submit(contract=contract, by=users["admin"])
    contract_approve(contract=contract, by=users["finance"])
    client = Client()
    client.login(username="finance", password=demo_logins["finance"])

    page = client.get(reverse("admin:billing_contract_change", args=[contract.pk]))

    assert page.status_code == 200
    text = re.sub(r"\s+", " ", strip_tags(page.content.decode()))
    for shown in CASES[currency][4]:
        assert shown in text, shown
    # the line's list price and discount, as money
    seat = CASES[currency][0]
    assert f"contract price {CASES[currency][4][0]}: 50.0% off" in text
    # no amount as stored (six decimals), nor a yen amount with decimals
    assert not re.search(r"\d\.\d{6}\b", text), re.findall(r"[\d,]+\.\d{6}\b", text)[:5]
    if currency == "JPY":
        assert not re.search(rf"{seat}\.0+\b", text)


@pytest.mark.parametrize("currency", sorted(CASES))
def test_the_contracts_list_shows_values_in_their_currency(demo_logins, users, currency):
    contract = _contract(currency, users)
    contract_submit(contract=contract, by=users["admin"])
    contract_approve(contract=contract, by=users["finance"])
    contract.refresh_from_db()
    client = Client()
    client.login(username="finance", password=demo_logins["finance"])

    page = client.get(reverse("admin:billing_contract_changelist")).content.decode()

    text = re.sub(r"\s+", " ", strip_tags(page))
    assert contract.annual_contract_value > 0
    places = {"JPY": 0, "BHD": 3, "USD": 2}[currency]
    value = f"{contract.annual_contract_value:,.{places}f} {currency}"
    assert value in text


@pytest.mark.parametrize(
    ("currency", "inputs"),
    [
        ("JPY", ['value="4000"', 'value="150000"', 'value="0.5"', 'value="1200000"']),
        ("BHD", ['value="50.500"', 'value="1234.500"', 'value="0.0125"', 'value="30000.000"']),
        ("USD", ['value="20.00"', 'value="999.90"', 'value="0.004"', 'value="120000.00"']),
    ],
)
def test_a_drafts_page_has_its_amounts_in_the_boxes_as_a_person_types_them(
    demo_logins, users, currency, inputs
):
    contract = _contract(currency, users)
    client = Client()
    client.login(username="manager", password=demo_logins["manager"])

    page = client.get(reverse("admin:billing_contract_change", args=[contract.pk]))

    html = page.content.decode()
    for value in inputs:
        assert value in html, value
    assert not re.search(r'value="\d+\.\d{6}"', html)


def test_approval_limits_are_listed_as_money(demo_logins):
    from billing.invoices.models import InvoiceApprovalLimit

    InvoiceApprovalLimit.objects.create(
        currency="JPY", auto_approve_below=Decimal("50000"), second_approver_above=None
    )
    InvoiceApprovalLimit.objects.create(
        currency="BHD", auto_approve_below=None, second_approver_above=Decimal("2500")
    )
    client = Client()
    client.login(username="finance", password=demo_logins["finance"])

    page = client.get(reverse("admin:billing_invoiceapprovallimit_changelist")).content.decode()

    text = re.sub(r"\s+", " ", strip_tags(page))
    for shown in (
        "50,000 JPY",
        "never (one approver)",
        "never (a person approves)",
        "2,500.000 BHD",
    ):
        assert shown in text, shown
