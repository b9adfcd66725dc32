"""The local Stripe stand-in serves what dj-stripe needs, through stripe-python, for real."""

import pytest
import stripe
from django.conf import settings
from djstripe.models import Customer

from stripe_sync.mirror import customer_sync_from_stripe

pytestmark = pytest.mark.django_db


def test_customer_created_in_stripe_syncs_into_the_mirror(stripe_standin):
    # given a customer created in Stripe through stripe-python
    created = stripe.Customer.create(
        name="Bergmann Logistik GmbH",
        email="billing@bergmann.example",
        address={"country": "DE", "city": "Hamburg", "line1": "Hafenstr. 1"},
        api_key=settings.STRIPE_SECRET_KEY,
    )

    # when it is synced
    customer = customer_sync_from_stripe(stripe_id=created.id)

    # then dj-stripe's mirror holds it as Stripe has it
    mirrored = Customer.objects.get(id=created.id)
    assert mirrored == customer
    assert mirrored.stripe_data["name"] == "Bergmann Logistik GmbH"
    assert mirrored.stripe_data["email"] == "billing@bergmann.example"
    assert mirrored.stripe_data["address"]["city"] == "Hamburg"
    assert mirrored.livemode is False


def test_syncing_again_updates_the_same_row(stripe_standin):
    # given a customer already mirrored
    created = stripe.Customer.create(name="Old name", api_key=settings.STRIPE_SECRET_KEY)
    customer_sync_from_stripe(stripe_id=created.id)

    # when it changes in Stripe and is synced again
    stripe.Customer.modify(created.id, name="New name", api_key=settings.STRIPE_SECRET_KEY)
    customer_sync_from_stripe(stripe_id=created.id)

    # then the one mirror row shows the change
    assert Customer.objects.filter(id=created.id).count() == 1
    assert Customer.objects.get(id=created.id).stripe_data["name"] == "New name"


def test_unknown_customer_is_an_error_naming_it(stripe_standin):
    with pytest.raises(stripe.InvalidRequestError, match="cus_doesnotexist"):
        customer_sync_from_stripe(stripe_id="cus_doesnotexist")
    assert not Customer.objects.exists()
