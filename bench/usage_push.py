"""Usage sent to Stripe's billing meters: our cost per meter event, against canned fast answers.

Records N usage figures (default 100,000: one-day periods of `api_calls` over the last 25 days,
25 per account, each account with an active contract that meters the metric) and sends them
all as the tasks do, `usage_send_to_stripe` over chunks of SEND_CHUNK figures with a StripeApi
each, to a canned Stripe: a local server, in a process of its own so that its CPU stays off
ours, answering each `POST /v1/billing/meter_events` at once with Stripe's example
`billing.meter_event` (stripe_standin/fixtures/fixtures3.json) and counting requests. Prints:

- requests per event, wall time, the time spent inside HTTP (StripeApi._request: stripe-python,
  requests and the round trip) and our cost per event excluding HTTP (goal: at most 1 ms),
  beside the time Stripe's documented rate limit would take for the same events;
- the same for a correction of every figure, sent again within Stripe's 24 hours: each sent
  event canceled (a meter event adjustment) and the new quantity sent;
- the growth of peak resident memory (getrusage) after 10,000 figures and after all of them
  (`--tracemalloc`: the Python heap's peak too, at the cost of slower timings);
- a check that every figure is in Stripe and that its sent events sum to its quantity.

Runs in a throwaway database of its own (created once, then kept: `--create-db` rebuilds it),
named after DATABASE_URL's (`<name>_usage`), on PostgreSQL when DATABASE_URL is set:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice make bench-usage
    DATABASE_URL=... .venv/bin/python bench/usage_push.py [--quick | --figures N] [--profile]

About 13 minutes for 100,000 figures on two cores (a third of it the first send); `--quick`
(10,000) two.
"""

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "stripe_standin" / "fixtures" / "fixtures3.json"
SERVE_FLAG = "--serve-canned-stripe"

# --- The canned Stripe: the standard library only, run as `usage_push.py --serve-canned-stripe`
# in a process of its own (without Django), so that its work is not counted as ours.


class _CannedStripe(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int]) -> None:
        resources = json.loads(FIXTURES.read_text())["resources"]
        self.meter_event = resources["billing.meter_event"]
        self.adjustment = resources["billing.meter_event_adjustment"]
        self.counts: Counter[str] = Counter()
        self.connections = 0
        self.lock = threading.Lock()
        super().__init__(address, _CannedHandler)

    def answer(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict]:
        if path == "/_stats":
            with self.lock:
                counts = {"requests": dict(self.counts), "connections": self.connections}
                if method == "DELETE":
                    self.counts.clear()
                    self.connections = 0
            return 200, counts
        with self.lock:
            self.counts[f"{method} {path}"] += 1
        if method == "POST" and path == "/v1/billing/meter_events":
            return 200, {
                **self.meter_event,
                "created": int(time.time()),
                "event_name": form.get("event_name"),
                "identifier": form.get("identifier"),
                "payload": {
                    "stripe_customer_id": form.get("payload[stripe_customer_id]"),
                    "value": form.get("payload[value]"),
                },
                "timestamp": int(form.get("timestamp") or time.time()),
            }
        if method == "POST" and path == "/v1/billing/meter_event_adjustments":
            return 200, {
                **self.adjustment,
                "event_name": form.get("event_name"),
                "cancel": {"identifier": form.get("cancel[identifier]")},
            }
        error = {"type": "invalid_request_error", "code": "resource_missing"}
        return 404, {"error": {**error, "message": f"Unrecognized request URL ({method}: {path})."}}


class _CannedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: stripe-python's requests session reuses one
    disable_nagle_algorithm = True
    server: _CannedStripe

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        status, answer = self.server.answer(method, self.path.split("?")[0], dict(parse_qsl(body)))
        data = json.dumps(answer).encode()
        with self.server.lock:
            request_id = sum(self.server.counts.values())
        # Head and body in one write; a Request-Id as Stripe's, which stripe-python reads.
        head = b"HTTP/1.1 %d %s\r\n" % (status, b"OK" if status == 200 else b"Not Found")
        head += b"Content-Type: application/json\r\nRequest-Id: req_bench%08d\r\n" % request_id
        head += b"Content-Length: %d\r\n\r\n" % len(data)
        self.wfile.write(head + data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a line per request would cost more than the answer


def canned_stripe_serve() -> None:
    server = _CannedStripe(("127.0.0.1", 0))
    print(f"serving http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__" and sys.argv[1:2] == [SERVE_FLAG]:
    canned_stripe_serve()
    sys.exit(0)

# --- The benchmark.

sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

import django

django.setup()

import requests
from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Q, Sum

from bench.database import bench_database
from bench.pages import machine_yardstick
from billing.usage.services import SEND_CHUNK, usage_send_to_stripe
from stripe_sync.client import StripeApi

SECRET_KEY = "sk_test_" + "benchusage0123456789abcdef"
METRIC = "api_calls"
DAYS_PER_ACCOUNT = 25  # one-day figures, 2 to 26 days ago: inside Stripe's 35 days
SEED_ACCOUNTS_AT_ONCE = 1_000  # accounts (and their 25,000 figures) written per batch
MEMORY_CHECKPOINT = 10_000  # figures
# https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage-api, "Rate limits":
# "The Meter Event endpoint allows 1,000 calls per second in live mode" (and one concurrent
# call per customer per meter); in a sandbox they count toward the basic limit of 25 a second.
# Adjustments are not named there: the basic live-mode limit of 100 operations a second
# (https://docs.stripe.com/rate-limits) is assumed for them.
RATE_LIMIT_SOURCE = "https://docs.stripe.com/billing/subscriptions/usage-based/recording-usage-api"
METER_EVENTS_PER_SECOND = 1_000
BASIC_LIVE_PER_SECOND = 100
BASIC_SANDBOX_PER_SECOND = 25


@dataclass
class CannedStripe:
    url: str
    process: subprocess.Popen

    def counts(self, *, reset: bool = False) -> dict[str, Any]:
        """Requests by method and path, and TCP connections, since the last reset."""
        answer = requests.request("DELETE" if reset else "GET", f"{self.url}/_stats", timeout=10)
        return answer.json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        if self.process.stdout:
            self.process.stdout.close()


def canned_stripe_start() -> CannedStripe:
    process = subprocess.Popen(
        [sys.executable, __file__, SERVE_FLAG], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("serving "):
        raise RuntimeError(f"the canned Stripe exited with {process.wait()} before serving")
    return CannedStripe(url=line.split()[1], process=process)


@dataclass
class HttpClock:
    """Time spent inside StripeApi._request, summed over every StripeApi of a run."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0  # of it, this thread's CPU: stripe-python and requests
    requests: int = 0


class TimedStripeApi(StripeApi):
    def __init__(self, clock: HttpClock) -> None:
        super().__init__()
        self.clock = clock

    def _request(self, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        started, cpu, before = time.perf_counter(), time.thread_time(), self.requests
        try:
            return super()._request(method, path, params)
        finally:
            self.clock.seconds += time.perf_counter() - started
            self.clock.cpu_seconds += time.thread_time() - cpu
            self.clock.requests += self.requests - before


class QueryCount:
    def __init__(self) -> None:
        self.queries = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.queries += 1
        return execute(sql, params, many, context)


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux: the process's peak resident memory so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Resident memory now (Linux), to tell growth from a peak reached before sending."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return float("nan")
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Run:
    figures: int
    seconds: float = 0.0
    http: HttpClock = field(default_factory=HttpClock)
    queries: int = 0
    refused: dict[int, str] = field(default_factory=dict)
    server: dict[str, int] = field(default_factory=dict)  # requests by method and path
    connections: int = 0  # TCP connections the canned Stripe accepted
    memory: list[tuple[int, float, float, float]] = field(default_factory=list)
    cpu_seconds: float = 0.0  # this process's CPU over the run
    chunks: list[tuple[int, float, float]] = field(default_factory=list)  # figures, wall, HTTP
    yardstick: tuple[str, str] = ("", "")  # the machine's speed and load, before and after


def wipe() -> None:
    from djstripe.models import Customer

    from billing.catalog.models import BillingMeter
    from billing.contracts.models import Contract, ContractLine, PricePhase, PriceTier
    from billing.usage.models import MeterEvent, UsageQuantity
    from customers.models import Account

    models: list[Any] = [MeterEvent, BillingMeter, Customer]
    for model in (UsageQuantity, PriceTier, PricePhase, ContractLine, Contract, Account):
        models += [model, model.history.model]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            tables = ", ".join(model._meta.db_table for model in models)
            cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
            return
    for model in models:
        model.objects.all().delete()


def seed(figures: int) -> list[int]:
    """Accounts in Stripe, each with an active contract metering api_calls over the last months,
    and their usage figures (one a day; the periods of one account never overlap); returns the
    figures' ids. Written in batches, so that seeding does not set the memory peak."""
    from datetime import timedelta

    from django.utils import timezone
    from djstripe.models import Customer

    from billing.catalog.models import BillingMeter, CatalogItem
    from billing.contracts.models import Contract, ContractLine
    from billing.usage.models import UsageQuantity
    from customers.models import Account

    wipe()
    today = timezone.now().date()
    days = [today - timedelta(days=2 + d) for d in range(DAYS_PER_ACCOUNT)]
    item, _ = CatalogItem.objects.get_or_create(
        code="api-calls", defaults={"name": "API calls", "unit_label": "API call"}
    )
    BillingMeter.objects.create(metric=METRIC, stripe_meter_id="mtr_bench")
    accounts = -(-figures // DAYS_PER_ACCOUNT)
    left = figures
    for first in range(0, accounts, SEED_ACCOUNTS_AT_ONCE):
        numbers = range(first, min(first + SEED_ACCOUNTS_AT_ONCE, accounts))
        customer_ids = [f"cus_Bench{n:09d}" for n in numbers]
        Customer.objects.bulk_create(
            Customer(id=c, livemode=False, stripe_data={"id": c, "object": "customer"})
            for c in customer_ids
        )
        made = Account.objects.bulk_create(
            Account(
                legal_name=f"Usage Customer {n:06d} GmbH",
                external_ref=f"USAGE-{n:06d}",
                billing_country="DE",
                default_currency="EUR",
                stripe_customer_id=c,
            )
            for n, c in zip(numbers, customer_ids, strict=True)
        )
        contracts = Contract.objects.bulk_create(
            Contract(
                number=f"U-2026-{n:06d}",
                account=account,
                status=Contract.Status.ACTIVE,
                start_date=today - timedelta(days=90),
                end_date=today + timedelta(days=275),
                currency="EUR",
            )
            for n, account in zip(numbers, made, strict=True)
        )
        ContractLine.objects.bulk_create(
            ContractLine(contract=c, key="api", item=item, pricing_model="usage", metric=METRIC)
            for c in contracts
        )
        usage = [
            UsageQuantity(
                account=account,
                metric=METRIC,
                period_start=day,
                period_end=day,
                quantity=1_000 + (account.pk * 7919 + d * 104_729) % 50_000,
                source="bench",
            )
            for account in made
            for d, day in enumerate(days)
        ][:left]
        UsageQuantity.objects.bulk_create(usage, batch_size=5_000)
        left -= len(usage)
    return list(UsageQuantity.objects.order_by("pk").values_list("pk", flat=True))


def meter_events() -> Counter[str]:
    """Meter events written so far, by status."""
    from billing.usage.models import MeterEvent

    return Counter(dict(MeterEvent.objects.values_list("status").annotate(n=Count("pk"))))


def send_all(ids: list[int], stripe: CannedStripe, *, trace_memory: bool = False) -> Run:
    """Every figure through usage_send_to_stripe, SEND_CHUNK at a time, as the tasks send
    them; a StripeApi per chunk, as a task has."""
    import tracemalloc

    run = Run(figures=len(ids))
    stripe.counts(reset=True)
    counter = QueryCount()

    def memory_now(done: int) -> None:
        heap = tracemalloc.get_traced_memory()[1] / 2**20 if trace_memory else float("nan")
        run.memory.append((done, peak_rss_mb(), rss_mb(), heap))

    if trace_memory:
        tracemalloc.start()
        tracemalloc.reset_peak()
    memory_now(0)
    checkpoint = MEMORY_CHECKPOINT
    yardstick_before = machine_yardstick()
    started, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(counter):
        for start in range(0, len(ids), SEND_CHUNK):
            chunk = ids[start : start + SEND_CHUNK]
            chunk_started, chunk_http = time.perf_counter(), run.http.seconds
            result = usage_send_to_stripe(usage_ids=chunk, api=TimedStripeApi(run.http))
            run.chunks.append(
                (
                    len(chunk),
                    time.perf_counter() - chunk_started,
                    run.http.seconds - chunk_http,
                )
            )
            run.refused.update(result.refused)
            done = min(start + SEND_CHUNK, len(ids))
            if done >= checkpoint and done < len(ids):
                memory_now(done)
                checkpoint = len(ids) + 1
    run.seconds = time.perf_counter() - started
    run.cpu_seconds = time.process_time() - cpu
    run.yardstick = (yardstick_before, machine_yardstick())
    memory_now(len(ids))
    if trace_memory:
        tracemalloc.stop()
    run.queries = counter.queries
    counts = stripe.counts()
    # Less the connection that asked for the counts.
    run.server, run.connections = counts["requests"], counts["connections"] - 1
    return run


def report(title: str, run: Run, *, events: int, adjustments: int = 0) -> None:
    """Our figures beside what Stripe's documented rate limits would take for the same calls."""
    server_events = run.server.get("POST /v1/billing/meter_events", 0)
    server_adjustments = run.server.get("POST /v1/billing/meter_event_adjustments", 0)
    server_total = sum(run.server.values())
    ours = run.seconds - run.http.seconds
    limit_live = events / METER_EVENTS_PER_SECOND + adjustments / BASIC_LIVE_PER_SECOND
    limit_sandbox = (events + adjustments) / BASIC_SANDBOX_PER_SECOND
    print(f"{title}: {run.figures:,} figures in chunks of {SEND_CHUNK}")
    print(
        f"  meter events sent       {events:>10,}"
        + (f"   and {adjustments:,} canceled (adjustments)" if adjustments else "")
    )
    print(
        f"  requests                {server_total:>10,}   (canned Stripe's count: "
        f"{server_events:,} meter events, {server_adjustments:,} adjustments; "
        f"StripeApi's: {run.http.requests:,}) over {run.connections:,} connections"
    )
    print(
        f"  requests per event      {server_events / max(events, 1):>10.2f}   "
        f"per figure {server_total / run.figures:.2f}"
    )
    print(f"  database queries        {run.queries / run.figures:>10.2f}   per figure")
    print(f"  wall time               {run.seconds:>10.1f} s")
    print(
        f"  inside HTTP             {run.http.seconds:>10.1f} s  ({run.http.cpu_seconds:.1f} s "
        "of it our CPU in stripe-python and requests, the rest the canned Stripe and loopback)"
    )
    verdict = "within" if ours / events <= 0.001 else "OVER"
    print(
        f"  ours, excluding HTTP    {ours:>10.1f} s  = {1000 * ours / events:.3f} ms per event "
        f"({verdict} the goal of 1 ms); {1000 * ours / run.figures:.3f} ms per figure, "
        f"{1000 * ours / max(server_total, 1):.3f} ms per request"
    )
    print(
        f"  with stripe-python's CPU {1000 * (ours + run.http.cpu_seconds) / events:>9.3f} ms "
        "per event (everything but waiting for the answer)"
    )
    tenth = max(len(run.chunks) // 10, 1)
    phases = []
    for name, chunks in (("first", run.chunks[:tenth]), ("last", run.chunks[-tenth:])):
        count = sum(c[0] for c in chunks)
        ms = 1000 * sum(c[1] - c[2] for c in chunks) / count
        phases.append(f"{name} {count:,} figures {ms:.3f} ms")
    print(f"  ours per figure, by part {'; '.join(phases)} (growth, or the machine's load)")
    print(
        f"  our process's CPU       {run.cpu_seconds:>10.1f} s of the wall time (the rest: waiting "
        f"for PostgreSQL, the canned Stripe, or a core), on {os.cpu_count()} cores; before: "
        f"{run.yardstick[0]}; after: {run.yardstick[1]}"
    )
    limits = f"{METER_EVENTS_PER_SECOND:,} meter events a second"
    if adjustments:
        limits += f" + {BASIC_LIVE_PER_SECOND} adjustments a second (basic limit, assumed)"
    print(
        f"  side by side            {run.seconds:>10.1f} s ours (wall)  |  "
        f"{limit_live:.1f} s at Stripe's live-mode limit ({limits})  |  "
        f"{limit_sandbox:.0f} s at the sandbox's {BASIC_SANDBOX_PER_SECOND} a second"
    )
    if run.refused:
        first = next(iter(run.refused.items()))
        print(f"  REFUSED {len(run.refused):,} figures, e.g. {first[0]}: {first[1]}")


def check(ids: list[int]) -> str:
    """Every figure in Stripe, its sent events summing to its quantity."""
    from billing.usage.models import MeterStatus, UsageQuantity

    # The bench database holds only the seeded figures (and a filter on 100,000 ids would pass
    # PostgreSQL's limit of 65,535 parameters).
    standing = UsageQuantity.objects.aggregate(
        figures=Count("pk", distinct=True),
        not_sent=Count("pk", filter=~Q(stripe_status=MeterStatus.SENT), distinct=True),
        wrong_sent_quantity=Count("pk", filter=~Q(sent_quantity=F("quantity")), distinct=True),
    )
    sums = (
        UsageQuantity.objects.annotate(
            in_stripe=Sum("meter_events__value", filter=Q(meter_events__status="sent"), default=0)
        )
        .exclude(in_stripe=F("quantity"))
        .count()
    )
    problems = [
        f"{standing['not_sent']:,} figures not 'sent'" if standing["not_sent"] else "",
        f"{sums:,} figures whose sent events do not sum to the quantity" if sums else "",
        f"{standing['wrong_sent_quantity']:,} with sent_quantity != quantity"
        if standing["wrong_sent_quantity"]
        else "",
    ]
    problems = [p for p in problems if p]
    if standing["figures"] != len(ids):
        problems.append(f"{standing['figures']:,} figures found of {len(ids):,}")
    return "; ".join(problems) or (
        f"exact: all {len(ids):,} figures 'sent', each one's sent events summing to its quantity"
    )


def print_memory(run: Run) -> None:
    (_, peak0, rss0, _), *rest = run.memory
    print(f"memory while sending (before: peak RSS {peak0:.0f} MB, RSS now {rss0:.0f} MB):")
    for done, peak, rss, heap in rest:
        line = (
            f"  after {done:>7,} figures: peak RSS {peak:.0f} MB (+{peak - peak0:.0f} MB), "
            f"RSS now {rss:.0f} MB (+{rss - rss0:.0f} MB)"
        )
        if heap == heap:  # not NaN: traced
            line += f", Python heap peak (tracemalloc) {heap:.1f} MB"
        print(line)


def profiled(label: str, send: Any) -> Run:
    """The send under cProfile (its timings inflated), then where its time went."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    run = profiler.runcall(send)
    print(f"profile of the {label} ({run.seconds:.1f} s under cProfile):")
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(45)
    return run


def code_version() -> str:
    """The commit measured, and whether the usage code differs from it: others change it."""
    git = ["git", "-C", str(ROOT)]
    try:
        head = subprocess.run(
            [*git, "log", "-1", "--format=%h %cI"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            [*git, "status", "--porcelain", "billing/usage"], capture_output=True, text=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return f"commit {head}" + (
        f", billing/usage changed since: {', '.join(changed[1::2])}" if changed else ""
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--figures", type=int, default=100_000, help="usage figures to send")
    parser.add_argument("--quick", action="store_true", help="10,000 figures")
    parser.add_argument("--create-db", action="store_true", help="rebuild the bench database")
    parser.add_argument("--skip-correction", action="store_true")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="trace the Python heap too (slower timings)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile each send (timings inflated)"
    )
    args = parser.parse_args()
    figures = 10_000 if args.quick else args.figures

    bench_db = bench_database("usage", rebuild=args.create_db)
    stripe = canned_stripe_start()
    settings.STRIPE_API_BASE = stripe.url
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    print(f"database: {connection.vendor} ({bench_db}); canned Stripe at {stripe.url}")
    print(f"code: {code_version()}")
    try:
        started = time.perf_counter()
        ids = seed(figures)
        accounts = -(-figures // DAYS_PER_ACCOUNT)
        print(
            f"seeded {len(ids):,} usage figures of {METRIC} ({accounts:,} accounts in Stripe, "
            f"an active contract each, one-day periods over the last {DAYS_PER_ACCOUNT + 1} "
            f"days) in {time.perf_counter() - started:.1f} s; peak RSS {peak_rss_mb():.0f} MB\n"
        )
        first_send = functools.partial(send_all, ids, stripe, trace_memory=args.tracemalloc)
        first = profiled("first send", first_send) if args.profile else first_send()
        before = meter_events()
        report("first send", first, events=before.total())
        print_memory(first)
        if not args.skip_correction:
            from billing.usage.models import UsageQuantity

            # Every figure corrected upwards, within Stripe's 24 hours of the first send.
            UsageQuantity.objects.update(quantity=F("quantity") + 7)
            print()
            correction_send = functools.partial(send_all, ids, stripe)
            correction = (
                profiled("correction", correction_send) if args.profile else correction_send()
            )
            after = meter_events()
            report(
                "correction (every quantity changed, sent again within 24 hours)",
                correction,
                events=after.total() - before.total(),
                adjustments=after["canceled"] - before["canceled"],
            )
        print(f"\ncheck: {check(ids)}")
        print(f"rate limits: {RATE_LIMIT_SOURCE} (Rate limits)")
    finally:
        stripe.stop()
        # Emptied, so that the next run's start (which serialises the kept database) stays
        # quick and does not set the memory peak.
        wipe()
        connection.close()


if __name__ == "__main__":
    main()
