"""Under a Stripe that fails a third of the time (429, 500, answers that come too late), the
backfill and the pushes still end with exactly the right objects: none lost, none twice."""

from collections.abc import Callable
from typing import Any

import pytest
import stripe
from django.conf import settings
from djstripe import models as mirror

from billing.models import StripeWrite
from billing.services.stripe_push import contract_push_to_stripe
from billing.sync.backfill import backfill
from billing.tests.conftest import contract_prices
from billing.tests.test_stripe_standin_gaps import standin_config

pytestmark = pytest.mark.django_db


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


@pytest.fixture
def faults(stripe_standin: str, settings: Any) -> Callable[[bool], None]:
    # Our client gives up before the stand-in's late answers arrive, as with a real timeout.
    settings.STRIPE_TIMEOUT_SECONDS = 0.5
    settings.STRIPE_MAX_ATTEMPTS = 3

    def switch(on: bool, rate: float = 0.3) -> None:
        if on:
            standin_config(
                stripe_standin,
                "POST",
                "/_config/faults",
                {
                    "rate": rate,
                    "kinds": ["429", "500", "timeout"],
                    "seed": 11,
                    "timeout_seconds": 1,
                },
            )
        else:
            standin_config(stripe_standin, "DELETE", "/_config/faults")

    yield switch
    switch(False)


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


def test_a_contract_push_under_faults_creates_everything_exactly_once(faults, ramp_contract):
    # when the contract is pushed while Stripe fails 30% of requests
    faults(True)
    schedule_id, runs = until_done(lambda: contract_push_to_stripe(contract=ramp_contract))
    faults(False)

    # then Stripe has one customer, the six prices and one schedule: nothing twice
    assert len(stripe.Customer.list(limit=100, **key()).data) == 1
    prices = contract_prices(ramp_contract)
    assert len(prices) == 6
    assert len({p.metadata["price_phase_id"] for p in prices}) == 6
    schedules = stripe.SubscriptionSchedule.list(limit=100, **key()).data
    assert [s.id for s in schedules] == [schedule_id]
    assert {i.price for phase in schedules[0].phases for i in phase["items"]} <= {
        p.id for p in prices
    }
    # and every write is recorded as done, some after several attempts
    writes = StripeWrite.objects.all()
    assert {w.outcome for w in writes} == {StripeWrite.Outcome.DONE}
    stats = standin_config(settings.STRIPE_API_BASE, "GET", "/_config/stats")
    assert stats["faults"] > 0
    assert runs >= 1
