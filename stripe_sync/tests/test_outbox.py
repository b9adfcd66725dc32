"""The outbox on real parts: a broker that refuses connections, or accepts them and never
answers, delays a write to Stripe and loses none; the change that asked for it is not held up,
and once the broker is back the relay publishes it, and Stripe gets it once."""

import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import stripe
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from backoffice.tests import test_celery_worker
from backoffice.tests.test_celery_worker import wait_until
from billing.contracts.models import Contract
from billing.contracts.services import contract_approve, contract_submit
from billing.contracts.tests.factories import (
    ContractFactory,
    ContractLineFactory,
    PricePhaseFactory,
)
from customers.models import Account, TaxId
from customers.tests.factories import AccountFactory
from stripe_sync import outbox
from stripe_sync.models import OutboxTask, PushStatus

pytestmark = pytest.mark.django_db(transaction=True)
tasks_to_worker = test_celery_worker.tasks_to_worker


def point_broker_at(url: str) -> None:
    from backoffice.celery import app

    app.conf.broker_url = url
    for name in ("send_task_message", "queues", "default_queue", "router"):
        app.amqp.__dict__.pop(name, None)
    app.amqp._producer_pool = None
    app._pool = None


@pytest.fixture
def silent_broker():
    """A TCP server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    for conn in held:
        conn.close()
    server.close()


def approved_contract_while_the_broker_is(url: str) -> tuple[Contract, float]:
    from backoffice.models import User

    # the demo's logins (fixture demo_logins): roles as in production
    manager, finance = User.objects.get(username="manager"), User.objects.get(username="finance")
    # a reverse-charge customer: no tax rule needed to push
    account = AccountFactory(
        legal_name="Outbox Freight BV",
        billing_email="ap@example.com",
        address_line1="Keizersgracht 1",
        city="Amsterdam",
        postal_code="1015 CJ",
        billing_country="NL",
        tax_exemption=Account.TaxExemption.REVERSE,
        account_manager=manager,
    )
    TaxId.objects.create(account=account, type="eu_vat", value="NL123456789B01")
    contract = ContractFactory(account=account, created_by=manager)
    PricePhaseFactory(line=ContractLineFactory(contract=contract, key="seats"), quantity=5)
    contract_submit(contract=contract, by=manager)
    point_broker_at(url)
    started = time.monotonic()
    with transaction.atomic():
        contract_approve(contract=contract, by=finance)
    return contract, time.monotonic() - started


@pytest.mark.parametrize("broker", ["refusing", "silent"])
def test_a_broker_that_is_down_delays_the_push_and_loses_nothing(
    stripe_standin, demo_logins, tasks_to_worker, silent_broker, broker
):
    down = "redis://127.0.0.1:1/0" if broker == "refusing" else silent_broker
    contract, took = approved_contract_while_the_broker_is(down)

    # the approval is not held up, and the push waits in the outbox with the broker's error
    assert took < 2.0
    assert Contract.objects.get(pk=contract.pk).status == Contract.Status.ACTIVE
    push = "billing.tasks.contract_push_to_stripe_task"
    assert push in OutboxTask.objects.values_list("task", flat=True)

    def all_tried() -> bool:
        return not OutboxTask.objects.filter(attempts=0).exists()

    assert wait_until(all_tried, timeout=30)
    waiting = list(OutboxTask.objects.all())
    assert {(w.published_at, bool(w.last_error)) for w in waiting} == {(None, True)}
    assert outbox.relay() == 0  # too new for the relay, and the broker is still away

    # the broker is back: the relay publishes it, the worker pushes once
    point_broker_at(tasks_to_worker["broker_url"])
    OutboxTask.objects.update(created_at=timezone.now() - timedelta(minutes=1))
    assert outbox.relay() == len(waiting)
    assert outbox.relay() == 0

    def pushed() -> bool:
        return Contract.objects.get(pk=contract.pk).stripe_push_status == PushStatus.PUSHED

    assert wait_until(pushed, timeout=60), Contract.objects.get(pk=contract.pk).stripe_push_error
    customer = Contract.objects.get(pk=contract.pk).account.stripe_customer_id
    schedules = stripe.SubscriptionSchedule.list(
        customer=customer, api_key=settings.STRIPE_SECRET_KEY
    ).data
    assert len(schedules) == 1


def test_a_worker_killed_mid_push_leaves_one_schedule_and_a_contract_in_stripe(
    stripe_standin, demo_logins, tasks_to_worker
):
    """Stripe made the schedule, and the worker's process was killed (kill -9) before the
    answer came back: the task is delivered again (acks late, rejected when its worker is
    lost), re-sends the identical request under its key, and Stripe answers the first
    result. One schedule, and the contract says so."""
    import os
    import signal
    import subprocess

    from stripe_standin.control import standin_config

    customer_schedules = []
    # Stripe does the schedule's creation, then answers 20 seconds late.
    standin_config(
        stripe_standin,
        "POST",
        "/_config/faults",
        {
            "rate": 1.0,
            "kinds": ["timeout"],
            "methods": ["POST"],
            "paths": ["/v1/subscription_schedules"],
            "timeout_seconds": 20,
        },
    )
    contract, _ = approved_contract_while_the_broker_is(tasks_to_worker["broker_url"])

    def schedule_made() -> bool:
        customer = Contract.objects.get(pk=contract.pk).account.stripe_customer_id
        if not customer:
            return False
        customer_schedules[:] = stripe.SubscriptionSchedule.list(
            customer=customer, api_key=settings.STRIPE_SECRET_KEY
        ).data
        return bool(customer_schedules)

    assert wait_until(schedule_made, timeout=60), Path(tasks_to_worker["log"]).read_text()
    children = subprocess.run(
        ["pgrep", "-P", tasks_to_worker["pid"]], capture_output=True, text=True, check=False
    ).stdout.split()
    assert children, "the worker has no pool process"
    for child in children:
        os.kill(int(child), signal.SIGKILL)  # mid-push: the answer never reaches it
    standin_config(stripe_standin, "DELETE", "/_config/faults")

    def pushed() -> bool:
        return Contract.objects.get(pk=contract.pk).stripe_push_status == PushStatus.PUSHED

    assert wait_until(pushed, timeout=90), Path(tasks_to_worker["log"]).read_text()
    customer = Contract.objects.get(pk=contract.pk).account.stripe_customer_id
    schedules = stripe.SubscriptionSchedule.list(
        customer=customer, api_key=settings.STRIPE_SECRET_KEY
    ).data
    assert [s.id for s in schedules] == [Contract.objects.get(pk=contract.pk).stripe_schedule_id]
    log = Path(tasks_to_worker["log"]).read_text()
    assert "signal 9" in log or "WorkerLostError" in log, log  # the kill did happen mid-task
