"""Stripe sync figures: our backfill against dj-stripe's, per type; the invoices' backfill
split across one and two real Celery workers; the webhook endpoint in-process and over HTTP
(bench/webhook_http.py); events through a real worker.

Prints, in one run on the same data:
- backfill of N customers (with tax IDs) and N invoices (with 3-6 lines each), served as
  Stripe list pages by a fast local server (stripe_standin/list_pages.py), by our engine and by
  dj-stripe's `djstripe_sync_models Customer Invoice`: objects per second, HTTP requests per
  100 objects, and a check that the mirror holds exactly the served objects;
- the webhook endpoint: median and p99 time to answer a signed event, database queries per
  event, and how many events per second the Celery side (event processing) applies.

Runs in a database of its own (`<DATABASE_URL's name>_bench_sync`), on PostgreSQL when
DATABASE_URL is set:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice .venv/bin/python bench/sync.py

`--objects 2000` for a quick run; `--skip-djstripe` to leave dj-stripe out (it is slow).
"""

import argparse
import hashlib
import hmac
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

import django

django.setup()

from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models.signals import pre_save
from django.test import Client
from django.test.utils import CaptureQueriesContext
from djstripe import models as djstripe_models

from bench.database import bench_database, database_url
from stripe_standin.list_pages import StripePages, serve_in_subprocess
from stripe_sync.models import StripeEvent, StripeObjectVersion, SyncStatus

SECRET_KEY = "sk_test_" + "benchsync0123456789abcdef"
WEBHOOK_SECRET = "whsec_bench"
MIRROR = (
    djstripe_models.LineItem,
    djstripe_models.Invoice,
    djstripe_models.TaxId,
    djstripe_models.Customer,
    djstripe_models.APIKey,
    StripeObjectVersion,
    SyncStatus,
)


def empty_mirror() -> None:
    if connection.vendor == "postgresql":
        tables = ", ".join(model._meta.db_table for model in MIRROR)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables} CASCADE")
        return
    for model in MIRROR:
        model.objects.all().delete()


def mirror_check(pages: StripePages) -> str:
    customers = set(djstripe_models.Customer.objects.values_list("id", flat=True))
    invoices = set(djstripe_models.Invoice.objects.values_list("id", flat=True))
    lines = set(djstripe_models.LineItem.objects.values_list("id", flat=True))
    problems = []
    for name, have, want in (
        ("customers", customers, pages.customer_ids),
        ("invoices", invoices, pages.invoice_ids),
        ("invoice lines", lines, pages.line_ids),
    ):
        if have != want:
            problems.append(f"{name}: {len(want - have)} missing, {len(have - want)} extra")
    return "exact" if not problems else "; ".join(problems)


def run_engine(server, pages: StripePages) -> dict:
    from stripe_sync.backfill import backfill

    empty_mirror()
    server.reset_stats()
    by_type = {}
    for key in ("customers", "invoices"):
        started = time.perf_counter()
        backfill(key, restart=True)
        by_type[key] = time.perf_counter() - started
    return {
        "seconds": sum(by_type.values()),
        "by_type": by_type,
        "requests": server.stats()["requests"],
        "check": mirror_check(pages),
    }


def run_djstripe(server, pages: StripePages) -> dict:
    from stripe_sync.apps import refuse_storing_stripe_keys

    empty_mirror()
    server.reset_stats()
    # dj-stripe cannot sync without storing the key in its APIKey table; allowed for the
    # comparison only, in this throwaway database, and emptied afterwards.
    pre_save.disconnect(
        refuse_storing_stripe_keys,
        sender=djstripe_models.APIKey,
        dispatch_uid="refuse_storing_stripe_keys",
    )
    by_type = {}
    try:
        for key, model in (("customers", "Customer"), ("invoices", "Invoice")):
            started = time.perf_counter()
            call_command("djstripe_sync_models", model, verbosity=0)
            by_type[key] = time.perf_counter() - started
    finally:
        djstripe_models.APIKey.objects.all().delete()
        pre_save.connect(
            refuse_storing_stripe_keys,
            sender=djstripe_models.APIKey,
            dispatch_uid="refuse_storing_stripe_keys",
        )
    return {
        "seconds": sum(by_type.values()),
        "by_type": by_type,
        "requests": server.stats()["requests"],
        "check": mirror_check(pages),
    }


def sign(payload: str) -> str:
    timestamp = int(time.time())
    digest = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def run_webhooks(pages: StripePages, count: int) -> dict:
    from stripe_sync.events import event_process

    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    StripeEvent.objects.all().delete()
    customers = list(pages.customers)[:count]
    now = int(time.time())
    bodies = []
    for n, customer in enumerate(customers):
        event = {
            "id": f"evt_bench{n:06d}",
            "object": "event",
            "api_version": settings.STRIPE_API_VERSION,
            "created": now,
            "livemode": False,
            "type": "customer.updated",
            "data": {"object": {**customer, "name": f"{customer.get('name')} (renamed)"}},
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
        }
        body = json.dumps(event)
        bodies.append((body, sign(body)))
    client = Client()
    # Processing is measured apart from answering: here tasks would go to a broker.
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from backoffice.celery import app

    app.conf.task_always_eager = False
    app.conf.broker_url = os.environ.get("BENCH_BROKER_URL", "memory://")
    times = []
    with CaptureQueriesContext(connection) as queries:
        for body, header in bodies:
            started = time.perf_counter()
            response = client.post(
                "/stripe/webhook/",
                data=body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=header,
            )
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.content
    times.sort()
    started = time.perf_counter()
    for pk in StripeEvent.objects.order_by("pk").values_list("pk", flat=True):
        event_process(event_id=pk)
    processing = time.perf_counter() - started
    return {
        "median_ms": statistics.median(times) * 1000,
        "p99_ms": times[int(len(times) * 0.99) - 1] * 1000,
        "queries": len(queries) / len(bodies),
        "processed_per_s": len(bodies) / processing,
        "count": len(bodies),
    }


def _event(n: int, prefix: str, customer: dict, created: int) -> dict:
    return {
        "id": f"evt_{prefix}{n:06d}",
        "object": "event",
        "api_version": settings.STRIPE_API_VERSION,
        "created": created,
        "livemode": False,
        "type": "customer.updated",
        "data": {"object": {**customer, "name": f"{customer.get('name')} ({prefix})"}},
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
    }


@contextmanager
def celery_workers(server, count: int) -> Iterator[tuple[Path, str]]:
    """`count` real Celery workers (one process each) on Redis, on a queue of their own, which
    this process's tasks are sent to; yields the first worker's log and the queue."""
    import subprocess
    import tempfile
    import uuid

    from backoffice.celery import app

    broker = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "STRIPE_API_BASE": server.url,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "CONN_MAX_AGE": "60",
    }
    root = Path(__file__).resolve().parent.parent
    logs, workers = [], []
    for n in range(count):
        command = [
            sys.executable, "-m", "celery", "-A", "backoffice", "worker", "--queues", queue,
            "--concurrency", "1", "--hostname", f"{queue}-{n}@%h", "--without-gossip",
            "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
        ]  # fmt: skip
        logs.append(Path(tempfile.gettempdir()) / f"{queue}-{n}.log")
        with logs[-1].open("w") as out:
            workers.append(subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=out))
    try:
        for log in logs:
            while "ready." not in log.read_text():
                time.sleep(0.2)
        app.conf.task_always_eager = False
        app.conf.broker_url = broker
        app.conf.task_default_queue = queue
        for name in ("send_task_message", "queues", "default_queue", "router"):
            app.amqp.__dict__.pop(name, None)
        app.amqp._producer_pool = None
        app._pool = None
        yield logs[0], queue
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)


def run_split_backfill(server, pages: StripePages, workers: int) -> dict:
    """The invoices' backfill as in production: split in creation-date slices, read by
    `workers` real Celery workers at once. Customers are mirrored first (in this process)."""
    from stripe_sync.backfill import backfill
    from stripe_sync.tasks import stripe_backfill_split_task

    empty_mirror()
    backfill("customers", restart=True)
    with celery_workers(server, workers):
        started = time.perf_counter()
        stripe_backfill_split_task.delay("invoices", True, [])
        done = SyncStatus.objects.filter(object_type="invoices", backfill_finished_at__isnull=False)
        while not done.exists():
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "invoices_per_s": len(pages.invoices) / seconds,
            "check": mirror_check(pages)}  # fmt: skip


def run_worker_events(server, pages: StripePages, count: int) -> dict:
    """Events applied by a real Celery worker on Redis: stored by the webhook and drained in
    batches (as in production), and, on as many other events, one task per event (as before).
    Events per second from the first delivery to the last event applied."""
    from stripe_sync.events import event_store
    from stripe_sync.tasks import stripe_event_process_task, stripe_events_drain_task

    with celery_workers(server, 1) as (log, _):
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        customers = list(pages.customers)[:count]
        created = int(time.time()) + 2

        def applied(prefix: str) -> int:
            return StripeEvent.objects.filter(
                stripe_id__startswith=f"evt_{prefix}", status=StripeEvent.Status.PROCESSED
            ).count()

        def wait_for(prefix: str) -> None:
            deadline = time.monotonic() + 600
            while applied(prefix) < count and time.monotonic() < deadline:
                time.sleep(0.05)

        client = Client()
        started = time.perf_counter()
        for n, customer in enumerate(customers):
            body = json.dumps(_event(n, "drained", customer, created))
            response = client.post(
                "/stripe/webhook/",
                data=body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=sign(body),
            )
            assert response.status_code == 200, response.content
        wait_for("drained")
        drained = time.perf_counter() - started

        # The worker alone: events already stored, one drain.
        for n, c in enumerate(customers):
            event_store(_event(n, "stored", c, created + 1), source=StripeEvent.Source.WEBHOOK)
        started = time.perf_counter()
        stripe_events_drain_task.apply_async()
        wait_for("stored")
        stored = time.perf_counter() - started

        ids = [
            event_store(_event(n, "single", c, created + 2), source=StripeEvent.Source.WEBHOOK)
            for n, c in enumerate(customers)
        ]
        started = time.perf_counter()
        for event_id in ids:
            stripe_event_process_task.apply_async(args=[event_id])
        wait_for("single")
        single = time.perf_counter() - started
        tasks = log.read_text().count("stripe_events_drain_task") // 2
        return {
            "drained_per_s": applied("drained") / drained,
            "stored_per_s": applied("stored") / stored,
            "single_per_s": applied("single") / single,
            "drains": tasks,
            "count": count,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000, help="customers, and invoices")
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--skip-djstripe", action="store_true")
    parser.add_argument("--backfill-only", action="store_true", help="no webhook or events")
    parser.add_argument("--profile", metavar="FILE", help="profile our engine only, into FILE")
    parser.add_argument("--create-db", action="store_true", help="rebuild the bench database")
    args = parser.parse_args()

    # Named after DATABASE_URL's database: two runs against two databases never share one.
    bench_db = bench_database("bench_sync", rebuild=args.create_db)

    print(f"Generating {args.objects:,} customers and {args.objects:,} invoices ...")
    pages = StripePages(customers=args.objects, invoices=args.objects, seed=1)
    server = serve_in_subprocess(customers=args.objects, invoices=args.objects, seed=1)
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    # The engines side by side are measured syncing alone (dj-stripe reviews nothing); the
    # workers' runs below review drafts as they are mirrored, as in production.
    settings.INVOICE_REVIEW_ON_SYNC = False
    # dj-stripe reads stripe-python's module globals.
    from stripe_sync.client import configure_stripe

    configure_stripe()
    objects = 2 * args.objects
    lines = len(pages.line_ids)
    print(
        f"Database: {connection.vendor}; objects: {objects:,} (+ {lines:,} invoice lines and "
        f"{len(pages.tax_id_ids):,} tax IDs written as rows of their own)\n"
    )
    try:
        if args.profile:
            import cProfile

            cProfile.runctx("run_engine(server, pages)", globals(), locals(), args.profile)
            print(f"Profile written to {args.profile}")
            return
        results = {"our engine": run_engine(server, pages)}
        if not args.skip_djstripe:
            results["djstripe_sync_models"] = run_djstripe(server, pages)
        print(f"{'backfill':<22} {'seconds':>8} {'objects/s':>10} {'req/100 obj':>12}  mirror")
        for name, r in results.items():
            print(
                f"{name:<22} {r['seconds']:>8.1f} {objects / r['seconds']:>10,.0f} "
                f"{100 * r['requests'] / objects:>12.2f}  {r['check']}"
            )
            for key, seconds in r["by_type"].items():
                print(f"  {key:<20} {seconds:>8.1f} {args.objects / seconds:>10,.0f}")
        if "djstripe_sync_models" in results:
            ours, theirs = results["our engine"], results["djstripe_sync_models"]
            ratios = ", ".join(
                f"{key} {theirs['by_type'][key] / ours['by_type'][key]:.1f}x"
                for key in ours["by_type"]
            )
            print(
                f"our engine is {theirs['seconds'] / ours['seconds']:.1f}x dj-stripe's "
                f"throughput ({ratios})"
            )
        print("\ninvoices' backfill split in slices, read by real Celery workers on Redis:")
        settings.INVOICE_REVIEW_ON_SYNC = True
        split = {n: run_split_backfill(server, pages, n) for n in (1, 2)}
        settings.INVOICE_REVIEW_ON_SYNC = False
        for n, r in split.items():
            print(
                f"  {n} worker{'s' if n > 1 else ' '}  {r['seconds']:>6.1f} s "
                f"{r['invoices_per_s']:>8,.0f} invoices/s  {r['check']}"
            )
        print(f"  2 workers read {split[1]['seconds'] / split[2]['seconds']:.2f}x as fast as one")
        if args.backfill_only:
            return
        hooks = run_webhooks(pages, args.events)
        print(
            f"\nwebhook endpoint, {hooks['count']:,} signed events: median "
            f"{hooks['median_ms']:.2f} ms, p99 {hooks['p99_ms']:.2f} ms, "
            f"{hooks['queries']:.1f} queries per event"
        )
        print(
            f"event processing in this process (no broker): {hooks['processed_per_s']:,.0f} "
            "events/s"
        )
        from bench.webhook_http import run_webhook_http

        http = run_webhook_http(args.events)
        print(
            f"webhook over HTTP (gunicorn, {http['workers']} workers, Redis broker), "
            f"{http['count']:,} events + {http['duplicates']:,} second deliveries: server median "
            f"{http['median_ms']:.2f} ms, p99 {http['p99_ms']:.2f} ms; second deliveries "
            f"{http['duplicate_median_ms']:.2f} ms; client round trip "
            f"{http['client_median_ms']:.2f} ms; {http['check']}"
        )
        worker = run_worker_events(server, pages, args.events)
        print(
            f"events through a real Celery worker on Redis, {worker['count']:,} each way:\n"
            f"  delivered to the webhook and drained in batches: "
            f"{worker['drained_per_s']:,.0f} events/s ({worker['drains']} drain tasks)\n"
            f"  stored, then one drain: {worker['stored_per_s']:,.0f} events/s\n"
            f"  one task per event (before): {worker['single_per_s']:,.0f} events/s"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
