"""payment_settings.payment_method_types on subscriptions and invoices, as Stripe keeps them."""

from typing import Any

import pytest
import stripe
from django.conf import settings

pytestmark = pytest.mark.django_db


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


def customer_with_trial(**subscription: Any) -> tuple[Any, Any]:
    """A customer and its subscription (on a trial: localstripe invoices only customers with a
    subscription, and takes no card payment for a trial)."""
    customer = stripe.Customer.create(name="Northwind Traders Inc.", **key())
    product = stripe.Product.create(name="Seats", **key())
    plan = stripe.Plan.create(
        product=product.id, amount=100, currency="usd", interval="month", **key()
    )
    created = stripe.Subscription.create(
        customer=customer.id,
        items=[{"plan": plan.id}],
        trial_period_days=14,
        **subscription,
        **key(),
    )
    return customer, created


def test_subscription_keeps_its_payment_method_types_and_its_invoices_take_them(stripe_standin):
    # given a subscription told to take ACH only
    customer, subscription = customer_with_trial(
        payment_settings={"payment_method_types": ["us_bank_account"]}
    )
    assert subscription.payment_settings.payment_method_types == ["us_bank_account"]
    # when its next invoice is made
    stripe.InvoiceItem.create(customer=customer.id, amount=5000, currency="usd", **key())
    invoice = stripe.Invoice.create(customer=customer.id, subscription=subscription.id, **key())
    # then it accepts only ACH, as the subscription says
    assert invoice.payment_settings.payment_method_types == ["us_bank_account"]
    assert stripe.Invoice.retrieve(invoice.id, **key()).payment_settings.payment_method_types == [
        "us_bank_account"
    ]


def test_subscription_types_are_changed_and_cleared(stripe_standin):
    _, subscription = customer_with_trial()
    assert subscription.payment_settings.payment_method_types is None
    changed = stripe.Subscription.modify(
        subscription.id,
        payment_settings={"payment_method_types": ["card", "us_bank_account"]},
        **key(),
    )
    assert changed.payment_settings.payment_method_types == ["card", "us_bank_account"]
    cleared = stripe.Subscription.modify(
        subscription.id, payment_settings={"payment_method_types": ""}, **key()
    )
    assert cleared.payment_settings.payment_method_types is None


def test_draft_invoice_takes_payment_method_types(stripe_standin):
    customer, _ = customer_with_trial()
    stripe.InvoiceItem.create(customer=customer.id, amount=5000, currency="usd", **key())
    draft = stripe.Invoice.create(customer=customer.id, **key())
    assert draft.payment_settings.payment_method_types is None
    updated = stripe.Invoice.modify(
        draft.id, payment_settings={"payment_method_types": ["us_bank_account"]}, **key()
    )
    assert updated.payment_settings.payment_method_types == ["us_bank_account"]
    assert updated.payment_settings.default_mandate is None


def test_unknown_payment_method_type_is_refused_naming_it(stripe_standin):
    _, subscription = customer_with_trial()
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe.Subscription.modify(
            subscription.id,
            payment_settings={"payment_method_types": ["card", "cheque"]},
            **key(),
        )
    assert refused.value.param == "payment_settings[payment_method_types][1]"
    assert refused.value.code == "parameter_invalid_string"
    # and nothing was changed
    held = stripe.Subscription.retrieve(subscription.id, **key())
    assert held.payment_settings.payment_method_types is None


def test_finalized_invoice_keeps_its_payment_method_types(stripe_standin):
    customer, _ = customer_with_trial()
    stripe.InvoiceItem.create(customer=customer.id, amount=5000, currency="usd", **key())
    draft = stripe.Invoice.create(customer=customer.id, **key())
    stripe.Invoice.finalize_invoice(draft.id, **key())
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe.Invoice.modify(
            draft.id, payment_settings={"payment_method_types": ["card"]}, **key()
        )
    assert refused.value.param == "payment_settings"
