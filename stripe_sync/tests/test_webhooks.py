"""The webhook endpoint and event processing: verified, stored first, applied once, in order."""

import hashlib
import hmac
import json
import threading
import time
from typing import Any

import pytest
import stripe
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse
from djstripe.models import Customer, Invoice

from stripe_standin.store import stripe_fixture
from stripe_sync.events import event_process
from stripe_sync.models import StripeEvent

WEBHOOK_SECRET = "whsec_backofficetests"


def sign(payload: str, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    timestamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def customer_event(
    event_id: str, customer_id: str, *, name: str, created: int, kind: str = "customer.updated"
) -> dict[str, Any]:
    customer = stripe_fixture("customer")
    customer.update(id=customer_id, name=name, email=f"{customer_id}@example.com")
    event = stripe_fixture("event")
    event.update(id=event_id, type=kind, created=created, livemode=False)
    event["data"] = {"object": customer, "previous_attributes": {}}
    return event


def invoice_event(event_id: str, invoice_id: str, *, customer: str) -> dict[str, Any]:
    invoice = stripe_fixture("invoice")
    invoice.update(id=invoice_id, customer=customer, subscription=None)
    invoice["lines"] = {"object": "list", "data": [], "has_more": False, "url": "/v1/x"}
    event = stripe_fixture("event")
    event.update(id=event_id, type="invoice.finalized", created=NOW)
    event["data"] = {"object": invoice}
    return event


def deliver(client: Client, event: dict[str, Any], **sign_kwargs: Any) -> Any:
    return deliver_body(client, json.dumps(event), **sign_kwargs)


def deliver_body(client: Client, payload: str, **sign_kwargs: Any) -> Any:
    """A body signed as Stripe would, whatever it holds."""
    return client.post(
        reverse("stripe-webhook"),
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(payload, **sign_kwargs),
    )


@pytest.fixture
def webhooks(settings: Any, stripe_standin: str) -> Client:
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return Client()


NOW = int(time.time())


@pytest.mark.django_db
def test_a_verified_event_is_stored_and_applied(webhooks, django_capture_on_commit_callbacks):
    event = customer_event("evt_1", "cus_W1", name="Nordlicht AG", created=NOW)

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(webhooks, event)

    assert response.status_code == 200
    stored = StripeEvent.objects.get(stripe_id="evt_1")
    assert stored.payload == event
    assert stored.status == StripeEvent.Status.PROCESSED
    assert Customer.objects.get(id="cus_W1").stripe_data["name"] == "Nordlicht AG"


@pytest.mark.django_db
def test_a_forged_signature_is_refused_and_nothing_stored(webhooks):
    event = customer_event("evt_forged", "cus_F", name="Forged", created=NOW)

    response = deliver(webhooks, event, secret="whsec_someone_else")

    assert response.status_code == 400
    assert not StripeEvent.objects.exists()


@pytest.mark.django_db
def test_a_replayed_old_signature_is_refused(webhooks):
    event = customer_event("evt_old", "cus_O", name="Old", created=NOW)

    # signed six minutes ago: outside the 300 s tolerance
    response = deliver(webhooks, event, at=int(time.time()) - 360)

    assert response.status_code == 400
    assert "tolerance" in response.json()["error"]
    assert not StripeEvent.objects.exists()


@pytest.mark.django_db
def test_without_a_webhook_secret_nothing_is_accepted(settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    event = customer_event("evt_x", "cus_X", name="X", created=NOW)

    response = deliver(Client(), event)

    assert response.status_code == 503
    assert not StripeEvent.objects.exists()


@pytest.mark.django_db
def test_a_duplicate_delivery_is_stored_and_applied_once(
    webhooks, django_capture_on_commit_callbacks
):
    event = customer_event("evt_dup", "cus_D", name="Dup GmbH", created=NOW)

    with django_capture_on_commit_callbacks(execute=True) as first:
        deliver(webhooks, event)
    with django_capture_on_commit_callbacks(execute=True) as second:
        again = deliver(webhooks, event)

    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert len(first) == 1
    assert second == []  # nothing enqueued for the second delivery
    assert StripeEvent.objects.get(stripe_id="evt_dup").attempts == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_deliveries_make_one_event(webhooks):
    event = customer_event("evt_race", "cus_R", name="Race Ltd", created=NOW)
    payload = json.dumps(event)
    header = sign(payload)
    answers: list[int] = []
    start = threading.Barrier(4)

    def post() -> None:
        start.wait()
        try:
            response = Client().post(
                reverse("stripe-webhook"),
                data=payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=header,
            )
            answers.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert answers == [200, 200, 200, 200]
    event_row = StripeEvent.objects.get(stripe_id="evt_race")
    assert event_row.attempts == 1
    assert Customer.objects.filter(id="cus_R").count() == 1


@pytest.mark.django_db
def test_an_older_event_arriving_late_does_not_overwrite_a_newer_state(
    webhooks, django_capture_on_commit_callbacks
):
    newer = customer_event("evt_new", "cus_OO", name="Renamed Ltd", created=NOW)
    older = customer_event("evt_older", "cus_OO", name="Old Name Ltd", created=NOW - 60)

    with django_capture_on_commit_callbacks(execute=True):
        deliver(webhooks, newer)
        deliver(webhooks, older)

    assert Customer.objects.get(id="cus_OO").stripe_data["name"] == "Renamed Ltd"
    assert StripeEvent.objects.get(stripe_id="evt_older").status == StripeEvent.Status.PROCESSED


@pytest.mark.django_db
def test_same_second_events_are_settled_by_reading_stripe(
    webhooks, django_capture_on_commit_callbacks
):
    # given a customer whose two changes happened within one second
    created = stripe.Customer.create(name="Final Name AG", api_key=settings.STRIPE_SECRET_KEY)
    first = customer_event("evt_s1", created.id, name="Middle Name AG", created=NOW)
    second = customer_event("evt_s2", created.id, name="Stale Name AG", created=NOW)

    with django_capture_on_commit_callbacks(execute=True):
        deliver(webhooks, first)
        deliver(webhooks, second)

    # then the mirror holds what Stripe holds, not whichever event came last
    assert Customer.objects.get(id=created.id).stripe_data["name"] == "Final Name AG"


@pytest.mark.django_db
def test_an_update_arriving_after_the_deletion_keeps_the_customer_deleted(
    webhooks, django_capture_on_commit_callbacks
):
    update = customer_event("evt_u", "cus_Gone", name="Before deletion", created=NOW - 30)
    deletion = customer_event(
        "evt_d", "cus_Gone", name="Before deletion", created=NOW, kind="customer.deleted"
    )
    deletion["data"]["object"]["deleted"] = True

    with django_capture_on_commit_callbacks(execute=True):
        deliver(webhooks, update)
        deliver(webhooks, deletion)
        deliver(webhooks, update | {"id": "evt_u_late", "created": NOW - 10})

    customer = Customer.objects.get(id="cus_Gone")
    assert customer.stripe_data["deleted"] is True
    assert customer.date_purged is not None


@pytest.mark.django_db
def test_an_invoice_for_a_customer_deleted_since_is_still_mirrored(
    webhooks, django_capture_on_commit_callbacks
):
    # given an invoice event whose customer no longer exists in Stripe
    event = invoice_event("evt_inv", "in_orphan", customer="cus_deleted_since")

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(webhooks, event)

    # then the invoice is mirrored, its customer kept as a deleted placeholder
    assert response.status_code == 200
    assert StripeEvent.objects.get(stripe_id="evt_inv").status == StripeEvent.Status.PROCESSED
    assert Invoice.objects.get(id="in_orphan").customer_id == "cus_deleted_since"
    assert Customer.objects.get(id="cus_deleted_since").stripe_data["deleted"] is True


@pytest.mark.django_db
def test_an_unknown_event_type_is_kept_and_marked_ignored(
    webhooks, django_capture_on_commit_callbacks
):
    event = stripe_fixture("event")
    event.update(id="evt_unknown", type="climate.order.created", created=NOW)
    event["data"] = {"object": {"id": "climorder_1", "object": "climate.order"}}

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(webhooks, event)

    assert response.status_code == 200
    stored = StripeEvent.objects.get(stripe_id="evt_unknown")
    assert stored.status == StripeEvent.Status.IGNORED


@pytest.mark.django_db
def test_the_endpoint_answers_in_one_query(webhooks, django_assert_max_num_queries):
    event = customer_event("evt_q", "cus_Q", name="Q", created=NOW)
    with django_assert_max_num_queries(1):
        response = deliver(webhooks, event)
    assert response.status_code == 200


@pytest.mark.django_db
def test_a_failed_event_shows_its_error_and_is_retried_from_the_admin(
    webhooks, settings, stripe_standin, demo_logins, django_capture_on_commit_callbacks
):
    # given an invoice event while Stripe cannot be reached (its customer must be fetched)
    event = invoice_event("evt_retry", "in_retry", customer="cus_retry_later")
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    settings.STRIPE_MAX_ATTEMPTS = 1
    from stripe_sync.events import event_store

    event_id = event_store(event, source=StripeEvent.Source.WEBHOOK)
    with pytest.raises(stripe.APIConnectionError):
        event_process(event_id=event_id)

    failed = StripeEvent.objects.get(pk=event_id)
    assert failed.status == StripeEvent.Status.FAILED
    assert "APIConnectionError" in failed.last_error

    # when Stripe is back and finance retries it from the event list
    settings.STRIPE_API_BASE = stripe_standin
    client = Client()
    client.login(username="finance", password=demo_logins["finance"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:stripe_sync_stripeevent_changelist"),
            {"action": "retry", "_selected_action": [event_id]},
        )

    # then it is processed
    assert response.status_code == 302
    done = StripeEvent.objects.get(pk=event_id)
    assert done.status == StripeEvent.Status.PROCESSED
    assert done.attempts == 2
    assert Invoice.objects.filter(id="in_retry").exists()


def stored(event_id: str) -> StripeEvent:
    return StripeEvent.objects.get(stripe_id=event_id)


@pytest.mark.django_db
def test_a_live_event_reaching_a_test_deployment_is_refused_and_recorded(webhooks):
    event = customer_event("evt_live", "cus_Live", name="Live GmbH", created=1)
    event["livemode"] = True

    response = deliver(webhooks, event)

    assert response.status_code == 400
    assert "live-mode event" in response.json()["error"]
    refused = stored("evt_live")
    assert refused.status == StripeEvent.Status.REFUSED
    assert "test-mode key" in refused.last_error
    assert not Customer.objects.filter(id="cus_Live").exists()


@pytest.mark.django_db
def test_an_event_of_another_api_version_is_refused_and_recorded(webhooks):
    event = customer_event("evt_old_version", "cus_Old", name="Old GmbH", created=1)
    event["api_version"] = "2020-08-27"

    response = deliver(webhooks, event)

    assert response.status_code == 400
    refused = stored("evt_old_version")
    assert (refused.status, "2020-08-27" in refused.last_error) == ("refused", True)
    assert not Customer.objects.filter(id="cus_Old").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"created": "yesterday"}, "is not a Unix time"),
        ({"data": [1]}, "data is not an object"),
        ({"id": 42}, "has no id"),
    ],
)
def test_a_signed_but_malformed_event_is_refused_never_a_500(webhooks, change, says):
    event = customer_event("evt_malformed", "cus_Bad", name="Bad GmbH", created=1) | change

    response = deliver(webhooks, event)

    assert response.status_code == 400
    assert says in response.json()["error"]
    (refused,) = StripeEvent.objects.all()
    assert refused.status == StripeEvent.Status.REFUSED
    assert says in refused.last_error


@pytest.mark.django_db
def test_a_signed_body_that_is_not_json_is_refused(webhooks):
    response = deliver_body(webhooks, "not json at all")

    assert response.status_code == 400
    assert StripeEvent.objects.get().status == StripeEvent.Status.REFUSED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ('{"id": "evt_nan", "object": "event", "created": NaN}', "not JSON"),
        ('{"id": "evt_inf", "object": "event", "created": -Infinity}', "not JSON"),
        (
            '{"id": "evt_nul", "object": "event", "created": 1, "type": "customer.updated", '
            '"data": {"object": {"id": "cus_Nul", "object": "customer", "name": "A\\u0000B"}}}',
            "\\u0000",
        ),
    ],
)
def test_a_signed_body_the_database_cannot_store_is_refused_never_a_500(webhooks, payload, says):
    """NaN and Infinity are not JSON; a NUL character (\\u0000) is JSON that PostgreSQL's jsonb
    refuses. Each is answered 400 and recorded as refused, with the reason."""
    response = deliver_body(webhooks, payload)

    assert response.status_code == 400
    assert says in response.json()["error"]
    refused = StripeEvent.objects.get()
    assert refused.status == StripeEvent.Status.REFUSED
    assert says in refused.last_error


@pytest.mark.django_db
def test_a_signature_from_the_future_is_refused(webhooks):
    event = customer_event("evt_future", "cus_Future", name="Future AG", created=1)

    response = deliver(webhooks, event, at=int(time.time()) + 3600)

    assert response.status_code == 400
    assert "future" in response.json()["error"]
    assert not StripeEvent.objects.exists()


@pytest.mark.django_db
def test_a_refused_event_is_not_applied_by_the_admins_retry(webhooks):
    event = customer_event("evt_live_retry", "cus_LiveRetry", name="Live AG", created=1)
    event["livemode"] = True
    deliver(webhooks, event)

    from stripe_sync.events import event_process

    event_process(event_id=stored("evt_live_retry").pk)

    assert stored("evt_live_retry").status == StripeEvent.Status.REFUSED
    assert not Customer.objects.filter(id="cus_LiveRetry").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL backend to kill")
def test_a_dead_kept_database_connection_is_replaced_never_a_500(webhooks):
    # given a kept connection that the database has since closed (a restart, a failover)
    from django.db import close_old_connections, connections

    connection.ensure_connection()
    dead_pid = connection.connection.info.backend_pid
    other = connections.create_connection("default")
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [dead_pid])
    other.close()
    close_old_connections()  # a new request begins (the test client leaves this out)

    # when an event arrives
    event = customer_event("evt_after_restart", "cus_AR", name="Restart AG", created=NOW)
    response = deliver(webhooks, event)

    # then it is stored once, on a new connection, and answered as new
    assert response.status_code == 200
    assert response.json()["duplicate"] is False
    assert connection.connection.info.backend_pid != dead_pid
    assert StripeEvent.objects.filter(stripe_id="evt_after_restart").count() == 1
