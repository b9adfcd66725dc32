"""Radar in the stand-in (radar.py): approving a review, refunds as fraudulent, and the refusals
Stripe gives, used through stripe-python as our code does."""

from typing import Any

import pytest
import stripe
from django.conf import settings

from stripe_standin.control import standin_config

pytestmark = pytest.mark.django_db


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


def card_charge(amount: int = 12500, currency: str = "usd") -> stripe.Charge:
    """A captured card charge, as localstripe makes one."""
    customer = stripe.Customer.create(name="Radar test", **key())
    method = stripe.PaymentMethod.create(
        type="card",
        card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        **key(),
    )
    stripe.PaymentMethod.attach(method.id, customer=customer.id, **key())
    return stripe.Charge.create(
        amount=amount, currency=currency, customer=customer.id, source=method.id, **key()
    )


def seed(base: str, **fields: Any) -> dict[str, Any]:
    seeded: dict[str, Any] = standin_config(base, "POST", "/_config/objects", fields)
    return seeded


def test_a_review_is_approved_once_and_a_closed_one_is_refused(stripe_standin):
    # given an open review on a charge
    charge = card_charge()
    review = seed(stripe_standin, object="review", charge=charge.id, reason="rule")
    assert review["open"] is True
    assert review["closed_reason"] is None

    # when it is approved
    approved = stripe.Review.approve(review["id"], **key())

    # then it is closed as approved, and no longer in the list of open reviews' state
    assert approved.open is False
    assert approved.closed_reason == "approved"
    assert stripe.Review.retrieve(review["id"], **key()).open is False
    # and approving it again is refused, naming how it was closed
    with pytest.raises(stripe.InvalidRequestError, match=r"already closed \(approved\)"):
        stripe.Review.approve(review["id"], **key())
    # an unknown review is Stripe's "No such review"
    with pytest.raises(stripe.InvalidRequestError, match="No such review: 'prv_nope'"):
        stripe.Review.approve("prv_nope", **key())


def test_an_approval_sent_twice_under_one_key_is_done_once(stripe_standin):
    charge = card_charge()
    review = seed(stripe_standin, object="review", charge=charge.id)
    first = stripe.Review.approve(review["id"], idempotency_key="radar-decision-1", **key())
    again = stripe.Review.approve(review["id"], idempotency_key="radar-decision-1", **key())
    assert first.closed_reason == again.closed_reason == "approved"
    stats = standin_config(stripe_standin, "GET", "/_config/stats")
    assert stats["idempotent_replays"] == 1


def test_a_refund_as_fraudulent_closes_the_review_and_a_second_refund_is_refused(stripe_standin):
    # given a charge with an open review and an early fraud warning
    charge = card_charge(amount=9900)
    review = seed(stripe_standin, object="review", charge=charge.id)
    warning = seed(stripe_standin, object="radar.early_fraud_warning", charge=charge.id)
    assert warning["actionable"] is True

    # when it is refunded as fraudulent
    refund = stripe.Refund.create(charge=charge.id, reason="fraudulent", **key())

    # then the whole charge is refunded with Stripe's reason, the review closes as refunded
    # as fraud, the warning is no longer actionable
    assert (refund.amount, refund.reason, refund.status) == (9900, "fraudulent", "succeeded")
    refunded = stripe.Charge.retrieve(charge.id, **key())
    assert refunded.refunded is True
    assert refunded.amount_refunded == 9900
    assert refunded.fraud_details.user_report == "fraudulent"
    closed = stripe.Review.retrieve(review["id"], **key())
    assert (closed.open, closed.closed_reason) == (False, "refunded_as_fraud")
    warned = stripe.radar.EarlyFraudWarning.retrieve(warning["id"], **key())
    assert warned.actionable is False

    # and a charge refunded in full is not refunded again
    with pytest.raises(stripe.InvalidRequestError, match="has already been refunded") as refused:
        stripe.Refund.create(charge=charge.id, reason="fraudulent", **key())
    assert refused.value.code == "charge_already_refunded"


def test_a_partial_refund_leaves_what_is_left_and_bad_reasons_are_refused(stripe_standin):
    charge = card_charge(amount=5000)
    with pytest.raises(stripe.InvalidRequestError, match="Invalid reason") as bad:
        stripe.Refund.create(charge=charge.id, reason="stolen", **key())
    assert bad.value.param == "reason"
    stripe.Refund.create(charge=charge.id, amount=2000, **key())
    with pytest.raises(stripe.InvalidRequestError, match=r"greater than unrefunded") as big:
        stripe.Refund.create(charge=charge.id, amount=3001, **key())
    assert big.value.code == "amount_too_large"
    rest = stripe.Refund.create(charge=charge.id, reason="requested_by_customer", **key())
    assert rest.amount == 3000
