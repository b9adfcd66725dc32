"""Pull one customer from Stripe into dj-stripe's mirror."""

from djstripe.models import Customer

from billing.sync.mirror import Mirror
from billing.sync.object_types import object_type


def customer_sync_from_stripe(*, stripe_id: str) -> Customer:
    """Fetch one customer from Stripe and write it to the mirror; safe to run twice."""
    Mirror().refresh(object_type("customers"), stripe_id, missing_ok=False)
    return Customer.objects.get(id=stripe_id)
