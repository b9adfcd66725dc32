"""Issue 21, done when: an ACH-only account's next invoice in the stand-in accepts only
us_bank_account.

End to end on the real parts: an account, its contract approved and pushed to the stand-in,
the subscription Stripe bills it by and the drafts it makes, mirrored by the sync (whose hooks
set the account's methods), tasks run after commit as in the embedded default.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import stripe
from django.conf import settings
from django.urls import reverse

from backoffice.models import User
from billing.contracts.models import Contract
from billing.contracts.push import contract_push_to_stripe
from billing.contracts.services import contract_approve, contract_submit
from billing.contracts.tests.factories import (
    ContractFactory,
    ContractLineFactory,
    PricePhaseFactory,
)
from billing.invoices.models import InvoiceReview
from customers.models import Account
from customers.tests.factories import AccountFactory
from customers.tests.test_account_admin import account_form
from stripe_standin.control import standin_config
from stripe_sync.backfill import backfill
from stripe_sync.models import StripeWrite

pytestmark = pytest.mark.django_db(transaction=True)


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


def ach_only_contract() -> Contract:
    """A US customer paying by ACH only (tax-exempt, so no tax rule is needed), with an active
    contract of 10 seats at 20.00 USD a month from today, pushed to the stand-in."""
    manager = User.objects.get(username="manager")
    account = AccountFactory(
        legal_name="Northwind Traders Inc.",
        billing_email="ap@northwind.example",
        billing_country="US",
        state="NY",
        default_currency="USD",
        tax_exemption=Account.TaxExemption.EXEMPT,
        exemption_certificate="NY ST-120 on file",
        exemption_valid_from=date(2020, 1, 1),
        accepted_payment_methods=["us_bank_account"],
        account_manager=manager,
    )
    today = datetime.now(UTC).date()
    contract = ContractFactory(
        account=account,
        currency="USD",
        created_by=manager,
        start_date=today,
        end_date=today + timedelta(days=364),
        collection_method=Contract.CollectionMethod.CHARGE_AUTOMATICALLY,
    )
    PricePhaseFactory(
        line=ContractLineFactory(contract=contract, key="seats"),
        unit_amount=Decimal("20.00"),
        quantity=10,
    )
    contract_submit(contract=contract, by=manager)
    contract_approve(contract=contract, by=User.objects.get(username="finance"))
    contract_push_to_stripe(contract=contract)
    contract.refresh_from_db()
    return contract


def subscription_in_stripe(contract: Contract) -> str:
    """The subscription Stripe bills the contract by. The stand-in's schedules make none, and
    localstripe's subscriptions take plans: a plan with the price's id stands for it (on a
    trial, so localstripe asks no card for the first month)."""
    phase = contract.lines.get().phases.get()
    price = stripe.Price.retrieve(phase.stripe_price_id, **key())
    stripe.Plan.create(
        id=price.id, product=price.product, amount=2000, currency="usd", interval="month", **key()
    )
    return stripe.Subscription.create(
        customer=contract.account.stripe_customer_id,
        items=[{"plan": price.id, "quantity": 10}],
        trial_period_days=30,
        **key(),
    ).id


def test_ach_only_accounts_next_invoice_accepts_only_us_bank_account(
    stripe_standin, settings, demo_logins
):
    # given an ACH-only account whose subscription Stripe made without payment settings
    contract = ach_only_contract()
    subscription_id = subscription_in_stripe(contract)
    assert (
        stripe.Subscription.retrieve(subscription_id, **key()).payment_settings.payment_method_types
        is None
    )
    # when the sync mirrors the subscription (its hook sets the account's methods on it)
    backfill("customers")
    backfill("subscriptions")
    # then the subscription in Stripe takes ACH only, and its next invoice accepts only ACH
    held = stripe.Subscription.retrieve(subscription_id, **key()).payment_settings
    assert held.payment_method_types == ["us_bank_account"]
    customer = contract.account.stripe_customer_id
    stripe.InvoiceItem.create(customer=customer, amount=20000, currency="usd", **key())
    invoice = stripe.Invoice.create(customer=customer, subscription=subscription_id, **key())
    assert invoice.payment_settings.payment_method_types == ["us_bank_account"]
    # and the write was recorded on the account, once, with its idempotency key
    writes = StripeWrite.objects.filter(path=f"/v1/subscriptions/{subscription_id}")
    assert writes.count() == 1
    assert writes.get().idempotency_key.startswith(f"subscription-{subscription_id}-payment-")
    # and mirrored again, nothing more is sent
    backfill("subscriptions")
    assert StripeWrite.objects.filter(path=f"/v1/subscriptions/{subscription_id}").count() == 1


def test_draft_held_for_review_takes_the_accounts_methods_and_follows_a_change(
    stripe_standin, settings, client, demo_logins
):
    settings.INVOICE_REVIEW_ON_SYNC = True
    # given an ACH-only account's draft, made by Stripe for its schedule's first month
    contract = ach_only_contract()
    today = datetime.now(UTC).date()
    start = int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp())
    draft_id = standin_config(
        stripe_standin,
        "POST",
        f"/_config/subscription_schedules/{contract.stripe_schedule_id}/invoice",
        {"period_start": start, "period_end": start + 30 * 86400},
    )["id"]
    assert stripe.Invoice.retrieve(draft_id, **key()).payment_settings.payment_method_types is None
    # when the sync mirrors it (invoice review checks it, holds it and sets its methods)
    backfill("customers")
    backfill("invoices")
    assert InvoiceReview.objects.filter(stripe_invoice_id=draft_id).exists()
    # then the draft in Stripe accepts only ACH
    in_stripe = stripe.Invoice.retrieve(draft_id, **key())
    assert in_stripe.payment_settings.payment_method_types == ["us_bank_account"]
    assert in_stripe.auto_advance is False

    # when finance adds card on the account page
    assert client.login(username="finance", password=demo_logins["finance"])
    account = contract.account
    page = reverse("admin:customers_account_change", args=[account.pk])
    response = client.post(
        page, account_form(account, accepted_payment_methods=["card", "us_bank_account"])
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    # then the open draft follows
    in_stripe = stripe.Invoice.retrieve(draft_id, **key())
    assert in_stripe.payment_settings.payment_method_types == ["card", "us_bank_account"]
    # and when finance changes them back, the draft follows back (not taken as already sent)
    response = client.post(
        page, account_form(account, accepted_payment_methods=["us_bank_account"])
    )
    assert response.status_code == 302
    in_stripe = stripe.Invoice.retrieve(draft_id, **key())
    assert in_stripe.payment_settings.payment_method_types == ["us_bank_account"]
