"""django-money's known traps, and how the MoneyFields on a row's currency column avoid them
(issue 19): bulk_update writing the amount and not its currency, one decimal_places for every
currency of a field, py-moneyed's sub-unit conversion truncating."""

import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags
from djmoney.money import Money
from moneyed import Money as PyMoney

from billing.catalog.models import CatalogItem, ListPrice
from billing.invoices.models import CreditNote, InvoiceApprovalLimit, InvoiceReview
from billing.money import to_stripe_amount, to_stripe_charge
from file_imports.engine import save_with_history

pytestmark = pytest.mark.django_db


@pytest.fixture
def item():
    return CatalogItem.objects.create(code="seats-m", name="Seats M", unit_label="seat")


# --- bulk_update keeps the old currency unless the currency column is written


def test_django_bulk_update_of_the_amount_alone_keeps_the_old_currency(item):
    """The trap itself: a Money sets the record's currency, bulk_update writes the columns named."""
    price = ListPrice.objects.create(item=item, currency="EUR", unit_amount=Decimal("25"))
    price.unit_amount = Money("3000", "JPY")
    assert price.currency == "JPY"

    ListPrice.objects.bulk_update([price], ["unit_amount"])

    price.refresh_from_db()
    assert price.unit_amount == Money("3000", "EUR")  # the yen amount, still in euros


def test_a_currency_changed_with_its_amount_persists_through_the_imports_bulk_writes(item):
    # given a list price in euros, changed to yen as a Money
    price = ListPrice.objects.create(item=item, currency="EUR", unit_amount=Decimal("25"))
    price.unit_amount = Money("3000", "JPY")

    # when the imports' bulk write (update_in_bulk and its history) writes the amount
    save_with_history(ListPrice, [], [price], ["unit_amount"], user=None, reason="file a.csv")

    # then the currency went with it, in the table and in the history
    price.refresh_from_db()
    assert (price.currency, price.unit_amount) == ("JPY", Money("3000", "JPY"))
    latest = price.history.first()
    assert (latest.currency, latest.unit_amount, latest.history_change_reason) == (
        "JPY",
        Money("3000", "JPY"),
        "file a.csv",
    )


def test_a_second_amount_of_the_row_follows_its_currency():
    """django-money's own descriptor kept the Money it made first: a credit note's total read
    before its currency changed stayed in the old currency."""
    note = CreditNote(currency="EUR", amount=Decimal("50"), total=Decimal("59.50"))
    assert note.total == Money("59.50", "EUR")

    note.amount = Money("5000", "JPY")

    assert (note.currency, note.amount, note.total) == (
        "JPY",
        Money("5000", "JPY"),
        Money("59.50", "JPY"),
    )


def test_money_in_a_filter_filters_the_currency_column_too():
    """django-money's manager: a Money compared in a query is an amount and its currency, so
    100 EUR is not compared with 100,000 JPY (and the queue's (currency, amount) index fits)."""
    for n, (currency, amount) in enumerate([("EUR", "2500"), ("JPY", "150000"), ("EUR", "90")]):
        InvoiceReview.objects.create(
            stripe_invoice_id=f"in_filter{n}", currency=currency, amount=Decimal(amount)
        )

    above = InvoiceReview.objects.filter(amount__gte=Money("1000", "EUR"))

    assert list(above.values_list("stripe_invoice_id", flat=True)) == ["in_filter0"]


# --- one decimal_places per field: three for every currency's amount, six for unit prices


def test_three_decimal_and_zero_decimal_amounts_are_stored_and_read_back_exactly():
    InvoiceApprovalLimit.objects.create(
        currency="BHD", auto_approve_below=Decimal("1.234"), second_approver_above=None
    )
    InvoiceApprovalLimit.objects.create(
        currency="JPY", auto_approve_below=Decimal("1500"), second_approver_above=None
    )

    bhd, jpy = (
        InvoiceApprovalLimit.objects.get(currency=code).auto_approve_below
        for code in ("BHD", "JPY")
    )

    assert (bhd.amount, bhd.currency.code) == (Decimal("1.234"), "BHD")
    assert (jpy.amount, jpy.currency.code) == (Decimal("1500"), "JPY")
    # shown in each currency's precision, not the field's three places
    assert (str(bhd), str(jpy)) == ("1.234 BHD", "1,500 JPY")


def test_unit_prices_keep_their_digits_below_the_currency(item):
    ListPrice.objects.create(item=item, currency="BHD", unit_amount=Decimal("0.0125"))
    ListPrice.objects.create(item=item, currency="JPY", unit_amount=Decimal("0.5"))

    prices = {p.currency: p.unit_amount for p in ListPrice.objects.filter(item=item)}

    assert prices == {"BHD": Money("0.0125", "BHD"), "JPY": Money("0.5", "JPY")}
    assert [str(p) for p in ListPrice.objects.filter(item=item).order_by("currency")] == [
        "Seats M 0.0125 BHD",
        "Seats M 0.5 JPY",
    ]


def test_an_amount_finer_than_its_currency_is_refused_naming_the_field():
    limit = InvoiceApprovalLimit(currency="JPY", auto_approve_below=Decimal("1500.5"))

    with pytest.raises(ValidationError) as refused:
        limit.full_clean()

    assert refused.value.message_dict == {
        "auto_approve_below": ["1500.5 JPY has too many decimals: JPY amounts have no decimals."]
    }


def test_the_approval_limit_page_refuses_half_a_yen_and_saves_nothing(demo_logins):
    client = Client()
    client.login(username="finance", password=demo_logins["finance"])

    page = client.post(
        reverse("admin:billing_invoiceapprovallimit_add"),
        {"currency": "JPY", "auto_approve_below": "1500.5", "second_approver_above": ""},
    )

    text = re.sub(r"\s+", " ", strip_tags(page.content.decode()))
    assert page.status_code == 200
    assert "1500.5 JPY has too many decimals: JPY amounts have no decimals." in text
    assert not InvoiceApprovalLimit.objects.exists()

    # and a whole number of yen is saved as typed
    client.post(
        reverse("admin:billing_invoiceapprovallimit_add"),
        {"currency": "JPY", "auto_approve_below": "1500", "second_approver_above": ""},
    )
    assert InvoiceApprovalLimit.objects.get().auto_approve_below == Money("1500", "JPY")


# --- Stripe's minor units: billing.money's conversion, never py-moneyed's truncating one


@pytest.mark.parametrize(
    ("currency", "amount", "minor", "py_moneyed"),
    [
        ("BHD", "1.234", 1234, 1234),
        ("JPY", "1500", 1500, 1500),
        ("USD", "0.01", 1, 1),
        # Stripe takes ISK with two decimals: py-moneyed's sub-unit says 5
        ("ISK", "5", 500, 5),
    ],
)
def test_money_read_from_a_field_converts_to_stripes_minor_units(
    currency, amount, minor, py_moneyed
):
    InvoiceApprovalLimit.objects.create(currency=currency, second_approver_above=Decimal(amount))
    money = InvoiceApprovalLimit.objects.get(currency=currency).second_approver_above

    assert money.get_amount_in_sub_unit() == minor
    assert to_stripe_amount(money.amount, currency) == minor
    assert PyMoney(money.amount, currency).get_amount_in_sub_unit() == py_moneyed


@pytest.mark.parametrize(
    ("amount", "currency", "ours", "py_moneyed"),
    [
        # half a fils up to Stripe's step of ten fils, where py-moneyed drops it
        ("1.2355", "BHD", 1240, 1235),
        ("0.0050", "BHD", 10, 5),
        ("0.0005", "BHD", 0, 0),
        ("0.0195", "USD", 2, 1),
        ("1499.5", "JPY", 1500, 1499),
    ],
)
def test_a_computed_amount_is_rounded_half_up_to_stripes_step_never_truncated(
    amount, currency, ours, py_moneyed
):
    assert to_stripe_charge(Decimal(amount), currency) == ours
    assert PyMoney(Decimal(amount), currency).get_amount_in_sub_unit() == py_moneyed


@pytest.mark.parametrize(("amount", "currency"), [("1.2345", "BHD"), ("0.0005", "BHD")])
def test_an_amount_finer_than_its_currency_is_refused_not_truncated(amount, currency, item):
    # a unit price, finer than its currency, read as Money
    money = ListPrice(item=item, currency=currency, unit_amount=Decimal(amount)).unit_amount

    with pytest.raises(ValidationError, match="too many decimals"):
        money.get_amount_in_sub_unit()
    with pytest.raises(ValidationError, match="too many decimals"):
        to_stripe_amount(money.amount, currency)
