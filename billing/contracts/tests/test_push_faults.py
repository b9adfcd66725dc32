"""Under a Stripe that fails a third of the time (429, 500, answers that come too late), a
contract's push still ends with exactly the right objects: none lost, none twice."""

import pytest
import stripe
from django.conf import settings

from billing.contracts.push import contract_push_to_stripe
from billing.contracts.tests.fixtures import contract_prices
from stripe_standin.control import standin_config
from stripe_sync.models import StripeWrite
from stripe_sync.tests.test_faults import key, until_done

pytestmark = pytest.mark.django_db


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


def test_a_schedule_create_that_timed_out_is_completed_by_the_retry(faults, ramp_contract):
    from billing.contracts.models import Contract
    from stripe_sync.models import PushStatus

    # given Stripe makes the schedule but answers too late, every time
    standin_config(
        settings.STRIPE_API_BASE,
        "POST",
        "/_config/faults",
        {
            "rate": 1.0,
            "kinds": ["timeout"],
            "methods": ["POST"],
            "paths": ["/v1/subscription_schedules"],
            "timeout_seconds": 1,
        },
    )
    with pytest.raises(stripe.APIConnectionError):
        contract_push_to_stripe(contract=ramp_contract)
    ramp_contract.refresh_from_db()
    assert ramp_contract.stripe_push_status == PushStatus.RETRYING

    # when Stripe answers again and the task is retried (the stored request sent again, as it
    # was: the database may hand its parameters back in another order)
    faults(False)
    schedule_id = contract_push_to_stripe(contract=Contract.objects.get(pk=ramp_contract.pk))

    # then Stripe replays its first answer: one schedule, and the contract knows its id
    schedules = stripe.SubscriptionSchedule.list(limit=100, **key()).data
    assert [s.id for s in schedules] == [schedule_id]
    ramp_contract.refresh_from_db()
    assert (ramp_contract.stripe_push_status, ramp_contract.stripe_schedule_id) == (
        PushStatus.PUSHED,
        schedule_id,
    )
    stats = standin_config(settings.STRIPE_API_BASE, "GET", "/_config/stats")
    assert stats["idempotent_replays"] >= 1
