"""Money on the Stripe mirror's screens (dj-stripe's admin), as finance reads it (issue 19):
every amount through django-money's Money in the object's currency and precision, on the lists
and the object pages: no decimals for JPY, three for BHD, two for USD. Never Stripe's integer
minor units (297500 for 2,975.00 USD), never dj-stripe's own rendering of them (an invoice "for
€297,500.00", a 1,500 JPY charge "¥15.00")."""

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags
from djstripe.models import Account, BalanceTransaction, Charge, Invoice, PaymentIntent, Price

from stripe_standin.store import stripe_fixture
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type

pytestmark = pytest.mark.django_db

OWNER = "acct_mirror_money"
OBSERVED_AT = datetime(2026, 3, 1, tzinfo=UTC)

INVOICES = {
    # currency: (total, subtotal, amount paid, each as shown)
    "jpy": (150000, 136364, 0, ["150,000 JPY", "136,364 JPY", "0 JPY"]),
    "bhd": (1234, 1122, 1234, ["1.234 BHD", "1.122 BHD", "1.234 BHD"]),
    "usd": (297500, 250000, 297500, ["2,975.00 USD", "2,500.00 USD", "2,975.00 USD"]),
}


def _mirror() -> Mirror:
    Account.objects.get_or_create(id=OWNER, defaults={"stripe_data": {"id": OWNER}})
    mirror = Mirror()
    mirror._owner_account_id = OWNER  # no Stripe to ask: the account is the test's
    return mirror


def _write(type_key: str, data: dict) -> None:
    _mirror().write(object_type(type_key), [data], observed_at=OBSERVED_AT)


def _invoice(currency: str) -> Invoice:
    total, subtotal, paid, _ = INVOICES[currency]
    customer = stripe_fixture("customer") | {
        "id": f"cus_money_{currency}",
        "name": "Money Holder",
        "email": None,
        "default_source": None,
        "invoice_settings": {},
        "test_clock": None,
    }
    _write("customers", customer)
    data = stripe_fixture("invoice") | {
        "id": f"in_money_{currency}",
        "number": f"MONEY-{currency.upper()}",
        "currency": currency,
        "status": "open",
        "customer": customer["id"],
        "subscription": None,
        "total": total,
        "subtotal": subtotal,
        "amount_due": total,
        "amount_paid": paid,
        "amount_remaining": total - paid,
        "lines": {"object": "list", "data": [], "has_more": False, "url": ""},
    }
    _write("invoices", data)
    return Invoice.objects.get(id=data["id"])


@pytest.fixture
def finance(demo_logins):
    client = Client()
    client.login(username="finance", password=demo_logins["finance"])
    return client


def _text(response) -> str:
    assert response.status_code == 200
    return re.sub(r"\s+", " ", strip_tags(response.content.decode()))


def _page_without_payload(response) -> str:
    """An object page's text, less Stripe's payload (its amounts are minor units, and the
    page says so)."""
    text = _text(response)
    shown, _, payload = text.partition("What Stripe sent")
    assert "amounts are integers in the currency's minor unit" in payload
    return shown


@pytest.mark.parametrize("currency", sorted(INVOICES))
def test_a_mirror_invoice_shows_its_money_in_its_currency(finance, currency):
    invoice = _invoice(currency)
    total, subtotal, _, (total_shown, subtotal_shown, paid_shown) = INVOICES[currency]

    listed = _text(finance.get(reverse("admin:djstripe_invoice_changelist")))
    page = _page_without_payload(
        finance.get(reverse("admin:djstripe_invoice_change", args=[invoice.pk]))
    )

    title = f"Invoice #MONEY-{currency.upper()} for {total_shown} (open)"
    assert title in listed
    assert f"open{total_shown}" in listed  # the status and total columns
    assert title in page  # the page's title
    for label, shown in (
        ("Total", total_shown),
        ("Subtotal", subtotal_shown),
        ("Amount due", total_shown),
        ("Amount paid", paid_shown),
    ):
        assert f"{label}: {shown}" in page, label
    # none of Stripe's integers, nor dj-stripe's reading of them, outside the payload
    for raw in {str(total), str(subtotal)} - {"0"}:
        assert not re.search(rf"(?<![\d,.]){raw}(?![\d,])", page), raw
    assert not re.search(r"[€$¥]|BD\d", page)


def test_a_yen_charge_with_its_fee_and_a_dollar_payment_intent_show_money(finance):
    # a 1,500 JPY charge, whose column dj-stripe stores divided by 100 (15.00), and its
    # balance transaction with Stripe's fee
    fee = BalanceTransaction.objects.create(
        id="txn_money_jpy",
        amount=1500,
        currency="jpy",
        source="ch_money_jpy",
        type="charge",
        stripe_data=stripe_fixture("balance_transaction")
        | {"id": "txn_money_jpy", "amount": 1500, "fee": 45, "net": 1455, "currency": "jpy"},
    )
    _write(
        "charges",
        stripe_fixture("charge")
        | {
            "id": "ch_money_jpy",
            "amount": 1500,
            "amount_captured": 1500,
            "amount_refunded": 500,
            "currency": "jpy",
            "status": "succeeded",
            "customer": None,
            "invoice": None,
            "payment_intent": None,
            "payment_method": None,
            "balance_transaction": None,
            "source": None,
        },
    )
    charge = Charge.objects.get(id="ch_money_jpy")
    assert charge.amount == Decimal("15.00")  # as dj-stripe stores it: never shown
    Charge.objects.filter(pk=charge.pk).update(balance_transaction=fee)
    _write(
        "payment_intents",
        stripe_fixture("payment_intent")
        | {
            "id": "pi_money_usd",
            "amount": 297500,
            "amount_received": 297500,
            "currency": "usd",
            "customer": None,
            "payment_method": None,
            "latest_charge": None,
            "on_behalf_of": None,
        },
    )
    intent = PaymentIntent.objects.get(id="pi_money_usd")

    charges = _text(finance.get(reverse("admin:djstripe_charge_changelist")))
    charge_page = _page_without_payload(
        finance.get(reverse("admin:djstripe_charge_change", args=[charge.pk]))
    )
    balance = _text(finance.get(reverse("admin:djstripe_balancetransaction_changelist")))
    intents = _text(finance.get(reverse("admin:djstripe_paymentintent_changelist")))
    intent_page = _page_without_payload(
        finance.get(reverse("admin:djstripe_paymentintent_change", args=[intent.pk]))
    )

    assert "1,500 JPY (succeeded)" in charges  # the charge's own name, dj-stripe's "¥15.00"
    for shown in ("1,500 JPY", "45 JPY", "500 JPY"):  # amount, fee, refunded
        assert shown in charges, shown
    for label, shown in (
        ("Amount", "1,500 JPY"),
        ("Amount captured", "1,500 JPY"),
        ("Amount refunded", "500 JPY"),
        ("Fee", "45 JPY"),
    ):
        assert f"{label}: {shown}" in charge_page, label
    assert "15.00" not in charges + charge_page
    for shown in ("1,455 JPY", "1,500 JPY", "45 JPY"):  # net, amount, fee
        assert shown in balance, shown
    assert "2,975.00 USD" in intents
    assert "Amount: 2,975.00 USD" in intent_page
    assert "Amount received: 2,975.00 USD" in intent_page
    assert "297500" not in intents + intent_page


def test_a_price_shows_its_unit_price_finer_than_its_currency(finance):
    _write(
        "products",
        stripe_fixture("product")
        | {"id": "prod_money", "name": "API calls", "default_price": None},
    )
    for price_id, currency, unit in (
        ("price_money_bhd", "bhd", "12500"),
        ("price_money_usd", "usd", "0.4"),
        ("price_money_jpy", "jpy", "4000"),
    ):
        _write(
            "prices",
            stripe_fixture("price")
            | {
                "id": price_id,
                "currency": currency,
                "product": "prod_money",
                "unit_amount": int(Decimal(unit)) if "." not in unit else None,
                "unit_amount_decimal": unit,
                "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
            },
        )

    listed = _text(finance.get(reverse("admin:djstripe_price_changelist")))
    page = _page_without_payload(
        finance.get(
            reverse(
                "admin:djstripe_price_change", args=[Price.objects.get(id="price_money_usd").pk]
            )
        )
    )

    for shown in (
        "12.500 BHD a month for API calls",
        "0.004 USD a month for API calls",
        "4,000 JPY a month for API calls",
    ):
        assert shown in listed, shown
    assert "Unit price: 0.004 USD" in page
    assert "Human readable price: 0.004 USD a month" in page
