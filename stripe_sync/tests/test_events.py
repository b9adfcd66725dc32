"""Incremental sync from Stripe's events list: the safety net for webhooks that never came."""

import pytest
import stripe
from django.conf import settings
from djstripe.models import Customer

from stripe_sync.backfill import backfill
from stripe_sync.events import events_sync
from stripe_sync.models import StripeEvent, SyncStatus

pytestmark = pytest.mark.django_db


def key():
    return settings.STRIPE_SECRET_KEY


def test_changes_made_after_the_backfill_arrive_through_the_events_list(stripe_standin):
    # given a mirror backfilled from Stripe
    first = stripe.Customer.create(name="Before Backfill SA", api_key=key())
    backfill("customers")

    # when customers are created, changed and deleted in Stripe, and no webhook arrives
    later = stripe.Customer.create(name="After Backfill BV", api_key=key())
    stripe.Customer.modify(first.id, name="Renamed SA", api_key=key())
    gone = stripe.Customer.create(name="Short Lived Ltd", api_key=key())
    stripe.Customer.delete(gone.id, api_key=key())
    new_events = events_sync()

    # then the mirror shows every change, each event stored and applied once
    assert Customer.objects.get(id=later.id).stripe_data["name"] == "After Backfill BV"
    assert Customer.objects.get(id=first.id).stripe_data["name"] == "Renamed SA"
    assert Customer.objects.get(id=gone.id).stripe_data["deleted"] is True
    assert new_events >= 5
    assert not StripeEvent.objects.exclude(
        status__in=[StripeEvent.Status.PROCESSED, StripeEvent.Status.IGNORED]
    ).exists()
    status = SyncStatus.objects.get(object_type="events")
    assert status.events_cursor_id
    assert status.last_error == ""

    # and a second pass finds nothing new
    assert events_sync() == 0
