"""Under a Stripe that fails half the time (429, 500, answers that come too late), the backfill
still ends with exactly Stripe's objects: none lost, none twice."""

from collections.abc import Callable
from typing import Any

import pytest
import stripe
from django.conf import settings
from djstripe import models as mirror

from stripe_standin.control import standin_config
from stripe_sync.backfill import backfill

pytestmark = pytest.mark.django_db


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


def until_done(run: Callable[[], Any], *, attempts: int = 40) -> tuple[Any, int]:
    """Run as Celery's autoretry would: again after each transient failure."""
    for attempt in range(1, attempts + 1):
        try:
            return run(), attempt
        except (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError):
            continue
    raise AssertionError(f"still failing after {attempts} attempts")


def test_a_backfill_under_faults_ends_with_exactly_stripes_objects(faults):
    # given 230 customers and 12 products in Stripe
    customers = {stripe.Customer.create(name=f"Faulty {n:03d} AG", **key()).id for n in range(230)}
    products = {stripe.Product.create(name=f"Product {n}", **key()).id for n in range(12)}

    # when both are backfilled while Stripe fails half the requests
    faults(True, rate=0.5)
    _, product_runs = until_done(lambda: backfill("products"))
    _, customer_runs = until_done(lambda: backfill("customers"))
    stats = standin_config(settings.STRIPE_API_BASE, "GET", "/_config/stats")
    faults(False)

    # then the mirror holds each exactly once
    assert set(mirror.Customer.objects.values_list("id", flat=True)) == customers
    assert mirror.Customer.objects.count() == 230
    assert set(mirror.Product.objects.values_list("id", flat=True)) == products
    assert stats["faults"] > 0
    # (how many task runs it took, for the record when this fails)
    assert product_runs + customer_runs >= 2
