"""The Stripe webhook endpoint over real HTTP: gunicorn, PostgreSQL and a Redis broker.

Starts `gunicorn backoffice.wsgi` as production runs it (BACKOFFICE_ENV=production: DEBUG off,
WhiteNoise, HTTPS behind a proxy, which the client's X-Forwarded-Proto stands for), with
CELERY_BROKER_URL on Redis (a queue of its own, no worker: events wait, stored, and the drain
is queued through the production path, stripe_sync/drains.py) and STRIPE_WEBHOOK_SECRET set.
Posts N signed `customer.updated` events (test mode, the pinned API version) and, interleaved,
a tenth as many second deliveries of events already sent, over one keep-alive
`requests.Session`, after a warm-up. Prints:

- the time to answer, server side, read from gunicorn's own access log (`%(D)s`, microseconds
  from the request's start to the last byte written): median and p99, new events and second
  deliveries apart;
- the client's round trip (median), which adds the HTTP client and the connection;
- SQL statements per event, counted in this process on the same view through Django's WSGI
  handler (health-check pings included), as gunicorn's worker would run it;
- a check that every event was answered 200 and stored exactly once.

Runs in a database of its own (`<DATABASE_URL's name>_bench_webhook`, created once then kept:
`--create-db` rebuilds it), on PostgreSQL when DATABASE_URL is set:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice \
        .venv/bin/python bench/webhook_http.py

`--events 500` for a quick run; `--workers` gunicorn's workers (default 2); BENCH_BROKER_URL
another Redis database (default redis://127.0.0.1:6379/12). Another bench imports
`run_webhook_http(count)` and runs it in its own bench database.
"""

import argparse
import hashlib
import hmac
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

import django

django.setup()

import requests
from django.conf import settings
from django.db import connection

from bench.database import database_url
from stripe_sync.models import StripeEvent

SECRET_KEY = "sk_test_" + "benchwebhook0123456789abcd"
WEBHOOK_SECRET = "whsec_bench_webhook"
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12")
PREFIX = "evt_whhttp_"
WARMUP = 100
# gunicorn's access log line: microseconds, status, and which part of the run it belongs to.
ACCESS_FORMAT = "%(D)s %(s)s %({x-bench-phase}i)s"


def sign(payload: str) -> str:
    timestamp = int(time.time())
    digest = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_bodies(count: int, run: str) -> list[str]:
    """`count` customer.updated events shaped like Stripe's (the stand-in's generated customers)."""
    from stripe_standin.list_pages import StripePages

    customers = StripePages(customers=count, invoices=0, seed=2).customers
    now = int(time.time())
    return [
        json.dumps(
            {
                "id": f"{PREFIX}{run}_{n:06d}",
                "object": "event",
                "api_version": settings.STRIPE_API_VERSION,
                "created": now,
                "livemode": False,
                "type": "customer.updated",
                "data": {
                    "object": {**customer, "name": f"{customer.get('name')} (renamed)"},
                    "previous_attributes": {"name": customer.get("name")},
                },
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
            }
        )
        for n, customer in enumerate(customers)
    ]


def server_env(queue: str) -> dict[str, str]:
    return {
        **os.environ,
        "BACKOFFICE_ENV": "production",
        "DEBUG": "false",
        "SECRET_KEY": "bench-webhook-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(*, workers: int, queue: str, access_log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    command = [
        sys.executable, "-m", "gunicorn", "backoffice.wsgi", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--access-logfile", str(access_log),
        "--access-logformat", ACCESS_FORMAT, "--error-logfile", str(access_log) + ".err",
    ]  # fmt: skip
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env=server_env(queue),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/stripe/webhook/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {Path(str(access_log) + '.err').read_text()}")
        try:
            requests.get(url, timeout=10, allow_redirects=False)  # a redirect to HTTPS: up
            return server, url
        except requests.RequestException:
            time.sleep(0.2)
    server.terminate()
    server.wait(timeout=30)
    raise RuntimeError("gunicorn did not start within 60 s")


def server_times(access_log: Path) -> dict[str, list[float]]:
    """Milliseconds per request from gunicorn's access log, by phase."""
    times: dict[str, list[float]] = {}
    for line in access_log.read_text().splitlines():
        micros, _status, phase = line.split(" ", 2)
        times.setdefault(phase, []).append(int(micros) / 1000)
    return times


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)]


def run_webhook_http(count: int, *, workers: int = 2) -> dict:
    """Deliver `count` new events (and a tenth as many second deliveries) to gunicorn over
    HTTP, in the database this process uses. Returns the figures `main` prints."""
    import redis

    run = uuid.uuid4().hex[:6]
    queue = f"bench-webhook-{run}"
    log = Path(tempfile.gettempdir()) / f"{queue}.access.log"
    StripeEvent.objects.filter(stripe_id__startswith=PREFIX).delete()  # earlier runs'
    bodies = event_bodies(WARMUP + count, run)
    warmup, measured = bodies[:WARMUP], bodies[WARMUP:]
    rng = random.Random(1)  # noqa: S311  (which events to deliver twice, not a secret)
    # A second delivery comes some time after the first: after new event `after`.
    again: dict[int, list[str]] = {}
    for _ in range(count // 10):
        first = rng.randrange(count)
        again.setdefault(rng.randrange(first, count), []).append(measured[first])
    plan = [("warmup", body) for body in warmup]
    for n, body in enumerate(measured):
        plan.append(("new", body))
        plan.extend(("duplicate", repeated) for repeated in again.get(n, []))

    server, url = start_gunicorn(workers=workers, queue=queue, access_log=log)
    round_trips: dict[str, list[float]] = {}
    wrong: list[str] = []
    try:
        with requests.Session() as session:
            for phase, body in plan:
                headers = {
                    "Content-Type": "application/json",
                    "Stripe-Signature": sign(body),
                    "X-Forwarded-Proto": "https",  # the TLS-terminating proxy's
                    "X-Bench-Phase": phase,
                }
                started = time.perf_counter()
                response = session.post(url, data=body.encode(), headers=headers, timeout=10)
                round_trips.setdefault(phase, []).append((time.perf_counter() - started) * 1000)
                if response.status_code != 200 or (
                    phase != "warmup" and response.json()["duplicate"] != (phase == "duplicate")
                ):
                    wrong.append(f"{phase}: {response.status_code} {response.text[:200]}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        flags = redis.Redis.from_url(BROKER_URL)
        flags.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    times = server_times(log)
    stored = StripeEvent.objects.filter(stripe_id__startswith=f"{PREFIX}{run}_")
    rows = stored.count()
    distinct = stored.values("stripe_id").distinct().count()
    problems = [f"{len(wrong)} answers not as expected (first: {wrong[0]})"] if wrong else []
    if rows != len(bodies) or distinct != len(bodies):
        problems.append(f"{rows} rows, {distinct} distinct ids for {len(bodies)} events")
    log.unlink()
    Path(str(log) + ".err").unlink(missing_ok=True)
    return {
        "count": count,
        "duplicates": len(times.get("duplicate", [])),
        "workers": workers,
        "median_ms": statistics.median(times["new"]),
        "p99_ms": _p99(times["new"]),
        "duplicate_median_ms": statistics.median(times["duplicate"]),
        "client_median_ms": statistics.median(round_trips["new"]),
        "check": "; ".join(problems) or "every event stored exactly once",
    }


def queries_per_event(count: int = 200, *, profile: str = "") -> float:
    """SQL statements per new event, through Django's WSGI handler in this process (as in a
    gunicorn worker: request signals, middleware, CONN_MAX_AGE and health checks), with the
    Celery app pointed at the Redis broker as the server's is. `profile`: a cProfile file."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import CaptureQueriesContext

    from backoffice.celery import app
    from stripe_sync import outbox

    run = uuid.uuid4().hex[:6]
    queue = f"bench-webhook-{run}"
    saved = {
        "secret": settings.STRIPE_WEBHOOK_SECRET,
        "key": settings.STRIPE_SECRET_KEY,
        "eager": app.conf.task_always_eager,
        "broker": app.conf.broker_url,
        "queue": app.conf.task_default_queue,
        "conn_max_age": connection.settings_dict["CONN_MAX_AGE"],
    }
    settings.STRIPE_WEBHOOK_SECRET, settings.STRIPE_SECRET_KEY = WEBHOOK_SECRET, SECRET_KEY
    connection.settings_dict["CONN_MAX_AGE"] = 60

    def point_celery(broker: str, queue_name: str, eager: bool) -> None:
        app.conf.task_always_eager = eager
        app.conf.broker_url = broker
        app.conf.task_default_queue = queue_name
        for name in ("send_task_message", "queues", "default_queue", "router"):
            app.amqp.__dict__.pop(name, None)
        app.amqp._producer_pool = None
        app._pool = None

    point_celery(BROKER_URL, queue, False)
    handler = WSGIHandler()
    pings = 0
    is_usable = connection.is_usable

    def counted_is_usable() -> bool:
        nonlocal pings
        pings += 1
        return is_usable()

    connection.is_usable = counted_is_usable  # type: ignore[method-assign]

    def deliver(body: str) -> None:
        raw = body.encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/stripe/webhook/",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(raw)),
            "HTTP_STRIPE_SIGNATURE": sign(body),
            "wsgi.input": io.BytesIO(raw),
            "wsgi.url_scheme": "http",
        }
        statuses: list[str] = []
        response = handler(environ, lambda status, headers: statuses.append(status))
        b"".join(response)
        response.close()  # request_finished, as gunicorn's worker does
        assert statuses == ["200 OK"], statuses

    try:
        bodies = event_bodies(WARMUP + count, run)
        for body in bodies[:WARMUP]:
            deliver(body)
        pings = 0
        with CaptureQueriesContext(connection) as queries:
            if profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.runcall(lambda: [deliver(body) for body in bodies[WARMUP:]])
                profiler.dump_stats(profile)
            else:
                for body in bodies[WARMUP:]:
                    deliver(body)
        return (len(queries) + pings) / count
    finally:
        # What the requests left to the outbox thread is sent before Celery is pointed back.
        outbox._PUBLISHER.submit(lambda: None).result(timeout=30)
        del connection.is_usable
        connection.settings_dict["CONN_MAX_AGE"] = saved["conn_max_age"]
        settings.STRIPE_WEBHOOK_SECRET, settings.STRIPE_SECRET_KEY = saved["secret"], saved["key"]
        point_celery(saved["broker"], saved["queue"], saved["eager"])
        import redis

        redis.Redis.from_url(BROKER_URL).delete(
            queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
        )


def main() -> None:
    from bench.database import bench_database

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000, help="new events delivered")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the in-process run into FILE")
    parser.add_argument("--create-db", action="store_true", help="rebuild the bench database")
    args = parser.parse_args()

    bench_db = bench_database("bench_webhook", rebuild=args.create_db)
    print(f"Database: {connection.vendor} {bench_db}; broker: {BROKER_URL}")
    r = run_webhook_http(args.events, workers=args.workers)
    queries = queries_per_event(min(args.events, 500), profile=args.profile or "")
    print(
        f"webhook over HTTP (gunicorn, {r['workers']} workers), {r['count']:,} signed events "
        f"+ {r['duplicates']:,} second deliveries:\n"
        f"  server side (access log): median {r['median_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms; "
        f"second deliveries median {r['duplicate_median_ms']:.2f} ms\n"
        f"  client round trip: median {r['client_median_ms']:.2f} ms\n"
        f"  SQL statements per event (in process, same view): {queries:.2f}\n"
        f"  {r['check']}"
    )
    if args.profile:
        print(f"Profile of the in-process run written to {args.profile}")


if __name__ == "__main__":
    main()
