"""A real Celery worker process on the real Redis broker, as in production."""

import time
from pathlib import Path

import pytest
import stripe
from celery import Celery
from django.conf import settings
from djstripe.models import Customer

from customers.models import Account

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def producer(broker_url: str) -> Celery:
    # A plain producer on the broker: the worker knows the tasks by name, as it would in production.
    # Not the current app: shared tasks sent later in this process must keep using ours.
    return Celery("test-producer", broker=broker_url, set_as_current=False)


def test_worker_syncs_a_stripe_customer_sent_through_redis(celery_worker_process):
    # given a customer in Stripe that the mirror does not have yet
    created = stripe.Customer.create(
        name="Tanaka Seimitsu K.K.", api_key=settings.STRIPE_SECRET_KEY
    )
    assert not Customer.objects.filter(id=created.id).exists()

    # when the sync task goes through the broker to the worker
    producer(celery_worker_process["broker_url"]).send_task(
        "billing.tasks.customer_sync_from_stripe_task",
        args=[created.id],
        queue=celery_worker_process["queue"],
    )

    # then the worker has written it to the database
    found = wait_until(lambda: Customer.objects.filter(id=created.id).exists())
    assert found, Path(celery_worker_process["log"]).read_text()
    assert Customer.objects.get(id=created.id).stripe_data["name"] == "Tanaka Seimitsu K.K."


def test_task_whose_worker_dies_is_delivered_again(celery_worker_process, tmp_path):
    # given a task whose first run dies with its worker process
    attempts = tmp_path / "attempts"

    # when it is sent
    producer(celery_worker_process["broker_url"]).send_task(
        "tests.create_account_after_worker_lost",
        args=[str(attempts), "CRM-REDELIVERED"],
        queue=celery_worker_process["queue"],
    )

    # then it is redelivered and the second run does the work, once
    found = wait_until(lambda: Account.objects.filter(external_ref="CRM-REDELIVERED").exists())
    assert found, Path(celery_worker_process["log"]).read_text()
    assert attempts.read_text() == "2"
    assert Account.objects.filter(external_ref="CRM-REDELIVERED").count() == 1


@pytest.fixture
def tasks_to_worker(celery_worker_process):
    """This process's Celery app sends to the worker's queue instead of running tasks inline."""
    from backoffice.celery import app

    def forget_connections() -> None:
        # Celery caches queues, routes and connection pools on first use; start afresh.
        for name in ("send_task_message", "queues", "default_queue", "router"):
            app.amqp.__dict__.pop(name, None)
        app.amqp._producer_pool = None
        app._pool = None

    saved = (app.conf.task_always_eager, app.conf.broker_url, app.conf.task_default_queue)
    app.conf.task_always_eager = False
    app.conf.broker_url = celery_worker_process["broker_url"]
    app.conf.task_default_queue = celery_worker_process["queue"]
    forget_connections()
    yield celery_worker_process
    app.conf.task_always_eager, app.conf.broker_url, app.conf.task_default_queue = saved
    forget_connections()


def test_a_webhook_is_answered_at_once_and_applied_by_the_worker(tasks_to_worker, settings):
    from django.test import Client

    from stripe_sync.models import StripeEvent
    from stripe_sync.tests.test_webhooks import WEBHOOK_SECRET, customer_event, deliver

    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    event = customer_event("evt_worker", "cus_Worker", name="Worker Applied AG", created=1)

    # when Stripe delivers the event, twice
    first = deliver(Client(), event)
    second = deliver(Client(), event)

    # then both get their answer straight away, and the worker applies the event once
    assert (first.status_code, second.status_code) == (200, 200)
    applied = wait_until(
        lambda: StripeEvent.objects.filter(
            stripe_id="evt_worker", status=StripeEvent.Status.PROCESSED
        ).exists()
    )
    assert applied, Path(tasks_to_worker["log"]).read_text()
    assert Customer.objects.get(id="cus_Worker").stripe_data["name"] == "Worker Applied AG"
    assert StripeEvent.objects.get(stripe_id="evt_worker").attempts == 1


def test_a_burst_of_webhooks_is_applied_in_a_few_drains_not_a_task_each(tasks_to_worker, settings):
    from django.test import Client

    from stripe_sync.models import StripeEvent
    from stripe_sync.tests.test_webhooks import WEBHOOK_SECRET, customer_event, deliver

    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    # The worker is busy while the burst arrives (as under load): the drain queued by the
    # first event waits, and the events after it queue none.
    producer(tasks_to_worker["broker_url"]).send_task(
        "tests.hold_the_worker", args=[10], queue=tasks_to_worker["queue"]
    )
    assert wait_until(lambda: "tests.hold_the_worker" in Path(tasks_to_worker["log"]).read_text())
    client = Client()
    for n in range(200):
        event = customer_event(f"evt_burst_{n}", f"cus_Burst{n}", name=f"Burst {n} AG", created=1)
        assert deliver(client, event).status_code == 200

    def all_applied() -> bool:
        return (
            StripeEvent.objects.filter(
                stripe_id__startswith="evt_burst_", status=StripeEvent.Status.PROCESSED
            ).count()
            == 200
        )

    assert wait_until(all_applied, timeout=60), Path(tasks_to_worker["log"]).read_text()
    assert Customer.objects.filter(id__startswith="cus_Burst").count() == 200
    log = Path(tasks_to_worker["log"]).read_text()
    drains = log.count("stripe_events_drain_task") // 2  # received, then succeeded
    assert drains <= 5, drains  # one queued during the burst; a few more if it outlasts it
    assert set(
        StripeEvent.objects.filter(stripe_id__startswith="evt_burst_").values_list(
            "attempts", flat=True
        )
    ) == {1}
