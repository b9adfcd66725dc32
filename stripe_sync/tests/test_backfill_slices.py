"""A type's backfill split into creation-date slices that several workers read at once: every
object is mirrored once, a slice interrupted resumes alone, and the type is closed (relinked,
counted, marked synced) once, by whichever slice finishes last."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from djstripe.models import Customer, Invoice, LineItem

from backoffice.tests.test_celery_worker import producer, wait_until
from stripe_standin.list_pages import StripePages, serve_in_thread
from stripe_sync.backfill import backfill, backfill_split, slice_key
from stripe_sync.models import OutboxTask, SyncStatus
from stripe_sync.tasks import stripe_backfill_split_task

pytestmark = pytest.mark.django_db(transaction=True)
KEY = "sk_test_" + "pagesserver0123456789abcd"


@pytest.fixture
def pages() -> StripePages:
    return StripePages(customers=40, invoices=700, seed=5, lines_per_invoice=(2, 4))


@pytest.fixture
def pages_server(pages: StripePages, settings) -> Iterator[object]:
    server = serve_in_thread(pages)
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_SECRET_KEY = KEY
    yield server
    server.stop()


@pytest.fixture
def worker_stripe_api_base(pages_server) -> str:
    # The worker reads the same generated pages as the test checks against.
    return pages_server.url


@pytest.fixture
def worker_concurrency() -> int:
    # Two processes writing at once; the embedded SQLite default runs one.
    return 2 if connection.vendor == "postgresql" else 1


def mirror_holds_exactly(pages: StripePages) -> None:
    assert set(Invoice.objects.values_list("id", flat=True)) == pages.invoice_ids
    assert set(LineItem.objects.values_list("id", flat=True)) == pages.line_ids
    assert not Invoice.objects.filter(customer__isnull=True).exists()


def invoices_status() -> SyncStatus:
    return SyncStatus.objects.get(object_type="invoices")


def test_a_split_backfill_mirrors_every_object_once_and_closes_each_type_once(
    pages, pages_server, settings
):
    settings.STRIPE_BACKFILL_SLICES = 4

    # when every type from customers on is backfilled, customers then invoices, each split
    stripe_backfill_split_task("customers", False, ["invoices"])

    # then the mirror holds exactly what Stripe serves
    assert set(Customer.objects.values_list("id", flat=True)) == pages.customer_ids
    mirror_holds_exactly(pages)
    # read in slices of the account's life, each read to its end
    slices = SyncStatus.objects.filter(object_type__startswith="invoices@")
    assert slices.count() == 4
    assert not slices.filter(backfill_finished_at__isnull=True).exists()
    assert sum(slices.values_list("backfill_objects", flat=True)) == len(pages.invoices)
    # and each type is marked synced, counted once
    status = invoices_status()
    assert status.backfill_finished_at is not None
    assert status.synced_through == status.backfill_started_at
    assert status.backfill_objects == len(pages.invoices)
    assert SyncStatus.objects.get(object_type="customers").backfill_objects == len(pages.customers)
    # one list request per page of each slice: nothing read twice
    pages_per_slice = [-(-n // 100) or 1 for n in slices.values_list("backfill_objects", flat=True)]
    assert pages_server.stats()["by_path"]["/v1/invoices"] == sum(pages_per_slice)


def test_the_sync_status_page_shows_a_split_in_progress(pages, pages_server, admin_client):
    backfill("customers")
    bounds = backfill_split("invoices", parts=3)
    backfill("invoices", created=bounds[-1])

    page = admin_client.get("/admin/stripe_sync/syncstatus/").content.decode()

    assert "in progress: 1 of 3 slices read" in page
    assert "Invoices, created " in page
    assert "(a slice)" in page


def test_an_interrupted_slice_resumes_alone(pages, pages_server, settings):
    # given customers mirrored, and a split of invoices where every slice was read but the
    # biggest, which stopped after its first page (its worker was killed)
    backfill("customers")
    bounds = backfill_split("invoices", parts=4)
    counts = {b: sum(1 for i in pages.invoices if b[0] <= i["created"] < b[1]) for b in bounds}
    biggest = max(bounds, key=counts.get)
    assert counts[biggest] > 100
    for b in bounds:
        backfill("invoices", created=b, max_pages=1 if b == biggest else None)
    assert invoices_status().backfill_finished_at is None
    pages_server.reset_stats()

    # when the type's backfill is run again
    settings.STRIPE_BACKFILL_SLICES = 4
    stripe_backfill_split_task("invoices")

    # then only the pages left of that slice are read, and the type is closed
    assert pages_server.stats()["by_path"]["/v1/invoices"] == -(-counts[biggest] // 100) - 1
    mirror_holds_exactly(pages)
    assert invoices_status().backfill_objects == len(pages.invoices)
    assert SyncStatus.objects.get(object_type=slice_key("invoices", biggest)).backfill_cursor == ""


def test_the_slices_are_read_by_real_workers_at_once(pages, pages_server, celery_worker_process):
    # given customers mirrored
    backfill("customers")

    # when the invoices' backfill is sent to the workers
    producer(celery_worker_process["broker_url"]).send_task(
        "billing.tasks.stripe_backfill_split_task",
        args=["invoices", True, []],
        queue=celery_worker_process["queue"],
    )

    # then the workers read every slice and one of them closes the type
    log = Path(celery_worker_process["log"])
    closed = SyncStatus.objects.filter(object_type="invoices", backfill_finished_at__isnull=False)
    assert wait_until(closed.exists, 120), log.read_text()
    mirror_holds_exactly(pages)
    assert invoices_status().backfill_objects == len(pages.invoices)
    slices = SyncStatus.objects.filter(object_type__startswith="invoices@")
    assert slices.count() == 8  # the default STRIPE_BACKFILL_SLICES
    assert not slices.filter(backfill_finished_at__isnull=True).exists()
    assert log.read_text().count("stripe_backfill_slice_task") >= 8


def test_re_reading_a_mirror_object_without_a_stripe_key_says_so(admin_client, settings):
    from djstripe.models import Product

    settings.STRIPE_SECRET_KEY = ""
    product = Product.objects.create(id="prod_NoKey", stripe_data={"id": "prod_NoKey"})

    response = admin_client.post(
        "/admin/djstripe/product/",
        {"action": "mirror_refresh", "_selected_action": [product.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "No Stripe account is connected" in response.content.decode()


def test_sync_now_without_a_stripe_key_says_so_and_queues_nothing(admin_client, settings):
    """The demo runs without a key: "Sync now" on a type answered with a server error."""
    settings.STRIPE_SECRET_KEY = ""
    admin_client.get("/admin/stripe_sync/syncstatus/")  # every type gets its row
    invoices = SyncStatus.objects.get(object_type="invoices")

    response = admin_client.post(
        "/admin/stripe_sync/syncstatus/",
        {"action": "sync_now", "_selected_action": [invoices.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "No Stripe account is connected" in response.content.decode()
    assert not OutboxTask.objects.exists()
    assert not SyncStatus.objects.filter(object_type__startswith="invoices@").exists()
    assert SyncStatus.objects.get(object_type="invoices").backfill_started_at is None
