"""Events applied in batches (the drain): the same end state as one by one, whatever the
order and the duplicates, each event applied once, and a failing batch applied one by one."""

import pytest
from djstripe.models import Customer

from stripe_sync.events import event_store, events_apply_pending
from stripe_sync.models import StripeEvent
from stripe_sync.tests.test_webhooks import customer_event

pytestmark = pytest.mark.django_db


def store(*events):
    for event in events:
        event_store(event, source=StripeEvent.Source.WEBHOOK)


def test_a_batch_writes_each_objects_newest_state_whatever_the_order(stripe_standin):
    # three states of one customer, delivered newest first, and another customer
    store(
        customer_event("evt_b3", "cus_Batch", name="Third GmbH", created=300),
        customer_event("evt_b1", "cus_Batch", name="First GmbH", created=100),
        customer_event("evt_b2", "cus_Batch", name="Second GmbH", created=200),
        customer_event("evt_o1", "cus_Other", name="Other SA", created=150),
    )
    assert events_apply_pending() == 4
    assert Customer.objects.get(id="cus_Batch").stripe_data["name"] == "Third GmbH"
    assert Customer.objects.get(id="cus_Other").stripe_data["name"] == "Other SA"
    assert set(StripeEvent.objects.values_list("status", "attempts")) == {("processed", 1)}

    # an older state arriving later never overwrites the newer one
    store(customer_event("evt_b0", "cus_Batch", name="Zeroth GmbH", created=50))
    assert events_apply_pending() == 1
    assert Customer.objects.get(id="cus_Batch").stripe_data["name"] == "Third GmbH"
    assert events_apply_pending() == 0


def test_a_batch_that_fails_is_applied_one_by_one_each_with_its_outcome(stripe_standin):
    good = customer_event("evt_good", "cus_Good", name="Good AG", created=100)
    bad = customer_event("evt_bad", "cus_Bad", name="Bad AG", created=100)
    bad["data"]["object"]["created"] = "not a time"  # the mirror cannot write it
    store(good, bad)
    events_apply_pending()
    statuses = dict(StripeEvent.objects.values_list("stripe_id", "status"))
    assert statuses == {"evt_good": "processed", "evt_bad": "failed"}
    assert Customer.objects.get(id="cus_Good").stripe_data["name"] == "Good AG"
