"""Pull customers from Stripe into dj-stripe's mirror."""

import stripe
from django.conf import settings
from djstripe.models import Customer

from billing.stripe_api import stripe_secret_key


def customer_sync_from_stripe(*, stripe_id: str) -> Customer:
    """Fetch one customer from Stripe and write it to the mirror; safe to run twice."""
    api_key = stripe_secret_key()
    data = stripe.Customer.retrieve(
        stripe_id, api_key=api_key, stripe_version=settings.STRIPE_API_VERSION
    )
    return Customer.sync_from_stripe_data(data, api_key=api_key)
