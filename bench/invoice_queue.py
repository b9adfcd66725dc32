"""The invoice review queue at 1,000 and at 100,000 invoices in the Stripe mirror.

Prints, for each page of the queue (the default list, each kind of filter, a search, and the
invoice page of a draft), the median and 95th percentile time to answer and the number of SQL
queries at both sizes, and the ratios between them: a page whose time or queries grow with the
number of invoices shows it here. On PostgreSQL it then prints EXPLAIN (ANALYZE, BUFFERS) of the
queue's own query at the large size, and of every query of each page that took a millisecond
or more, so that a sequential scan or a count over the whole table can be seen.

Each invoice is a dj-stripe Invoice row shaped like Stripe's (`../shared/stripe/fixtures3.json`)
with its lines (in the invoice, and as LineItem rows, as the sync writes them) and its
InvoiceReview: most finalized, a few percent drafts (clean, flagged, held, awaiting a second
approver, approved), some voided; USD, EUR, GBP, JPY and BHD; 300 accounts with contracts,
shared among 8 account managers.

Runs in a throwaway test database (created once, then kept: `--create-db` rebuilds it), named
after DATABASE_URL's (`<name>_invoice_queue`; `db_invoice_queue.sqlite3` next to the SQLite
default), on PostgreSQL when DATABASE_URL is set, SQLite otherwise:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice make bench-queue
    DATABASE_URL=... .venv/bin/python bench/invoice_queue.py [--create-db] [--large 10000]

Loading 100,000 invoices takes about a minute and a half on PostgreSQL, the whole run about three.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

import django

django.setup()

from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from backoffice.logins.tests.client import client_logins_give_the_second_factor
from bench.database import bench_database

# Logins by the test client give their second factor too, as in the tests: what is measured is
# each page, not the code page it would redirect to (backoffice/logins/).
client_logins_give_the_second_factor()

ROUNDS = 20
# At both sizes the queue fills a whole page (100 rows), so the ratio shows growth with the table.
SIZES = (1_000, 100_000)
ACCOUNTS = 300
MANAGERS = 8
BATCH = 2_000  # invoices a transaction: about 20 MB of JSON with their lines
LINES_PER_INVOICE = 2
FIXTURES = Path(__file__).resolve().parent.parent / "stripe_standin/fixtures/fixtures3.json"
# Invoice n was created n * 10 minutes before NEWEST: 100,000 invoices span about two years.
NEWEST = datetime(2026, 10, 1, tzinfo=UTC)
STEP = timedelta(minutes=10)
PREFIX = "qbench"  # in every id the benchmark writes, so that it can remove them

# currency, share of accounts in 20, minor units per US dollar (roughly: 0.377 BHD is 377 fils)
CURRENCIES = (
    ("USD", 8, 100),
    ("EUR", 6, 92),
    ("GBP", 3, 79),
    ("JPY", 2, 150),
    ("BHD", 1, 377),
)
# review status, Stripe status, weight in 1,000: most invoices went out long ago.
STATUS_MIX = (
    ("finalized", "paid", 800),
    ("finalized", "open", 140),
    ("voided", "void", 10),
    ("clean", "draft", 15),
    ("flagged", "draft", 20),
    ("held", "draft", 5),
    ("awaiting_second", "draft", 5),
    ("approved", "draft", 5),
)
RULES = (
    "unit_price",
    "quantity",
    "line_amount",
    "unexplained_line",
    "missing_charge",
    "minimum_commit",
    "total",
    "tax",
    "due_date",
    "duplicate",
)


class SqlTimer:
    """Time spent executing SQL (in the database and the driver), added up over requests."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start


def measure(client: Client, url: str) -> dict[str, Any]:
    client.get(url)  # warm caches
    times = []
    sql = SqlTimer()
    with connection.execute_wrapper(sql):
        for _ in range(ROUNDS):
            start = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - start)
            assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    times.sort()
    return {
        "median": statistics.median(times),
        "p95": times[int(len(times) * 0.95) - 1],
        "best": times[0],
        "queries": queries.captured_queries,
        # The part that grows with the table, per request: it moves little on a busy machine.
        "sql_ms": sql.seconds / ROUNDS * 1000,
    }


def pages(draft_pk: int, draft_id: str, manager_pk: int, account_name: str) -> dict[str, str]:
    """What finance opens, with the query strings of the admin's own filters."""
    queue = "/admin/billing/invoicereview/"
    return {
        "queue": queue,
        "status flagged": f"{queue}?status__exact=flagged",
        "flag unit price": f"{queue}?flag=unit_price",
        "currency EUR": f"{queue}?currency=EUR",
        "account manager": f"{queue}?account__account_manager__id__exact={manager_pk}",
        "amount 10k-100k": f"{queue}?amount=10k-100k",
        "search account": f"{queue}?q={account_name.replace(' ', '+')}",
        "search Stripe id": f"{queue}?q={draft_id}",
        "draft page": f"{queue}{draft_pk}/change/",
        # Stripe mirror > Invoices (dj-stripe's list, with our search fields).
        "mirror invoices": "/admin/djstripe/invoice/",
        "mirror search id": f"/admin/djstripe/invoice/?q={draft_id}",
    }


def pages_check(client: Client, urls: dict[str, str], draft_id: str) -> None:
    """Each page answers and shows rows (a wrong filter parameter answers a redirect to ?e=1,
    a wrong value no rows)."""
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, (name, url, response.status_code)
        if "cl" in response.context:
            shown = len(response.context["cl"].result_list)
            assert shown, (name, url, "no rows")
        else:
            assert draft_id in response.content.decode(), (name, url)


# --- The data.


def _templates() -> dict[str, dict[str, Any]]:
    """Stripe's example objects. Each row starts as a shallow copy of one: the fields set are
    replaced at the top level, and the nested objects left as they are, shared, are only read
    (serialised), never changed."""
    resources = json.loads(FIXTURES.read_text())["resources"]
    return {name: resources[name] for name in ("invoice", "line_item", "customer")}


def _timestamp(moment: datetime | date) -> int:
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return int(moment.timestamp())


def _month(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def accounts_ensure() -> list[Any]:
    """ACCOUNTS accounts, each a Stripe customer with an active contract in its currency."""
    from django.contrib.auth.models import Group
    from djstripe.models import Customer

    from backoffice.models import User
    from backoffice.roles import ACCOUNT_MANAGERS
    from billing.catalog.models import CatalogItem
    from billing.contracts.models import Contract, ContractLine, PricePhase
    from customers.models import Account

    have = list(Account.objects.filter(external_ref__startswith=f"{PREFIX}-").order_by("pk"))
    if len(have) == ACCOUNTS:
        return have
    managers = []
    for n in range(1, MANAGERS + 1):
        manager, _ = User.objects.get_or_create(
            username=f"{PREFIX}_manager_{n}",
            defaults={"first_name": "Manager", "last_name": f"Bench {n}", "is_staff": True},
        )
        manager.groups.add(*Group.objects.filter(name=ACCOUNT_MANAGERS))
        managers.append(manager)
    slots = [code for code, share, _ in CURRENCIES for _ in range(share)]
    template = _templates()["customer"]
    customers = []
    for n in range(ACCOUNTS):
        data = dict(template)
        data.update(
            id=f"cus_{PREFIX}{n:04d}",
            created=_timestamp(NEWEST - timedelta(days=1200 - n)),
            name=f"Queue Trading {n:04d} Ltd",
            email=f"billing@queue{n:04d}.example",
            currency=slots[n % len(slots)].lower(),
            discount=None,
        )
        customers.append(
            Customer(
                id=data["id"],
                stripe_data=data,
                livemode=False,
                created=datetime.fromtimestamp(data["created"], UTC),
                metadata={},
                email=data["email"],
            )
        )
    Customer.objects.bulk_create(customers)
    accounts = Account.objects.bulk_create(
        Account(
            legal_name=f"Queue Trading {n:04d} Ltd",
            external_ref=f"{PREFIX}-{n:04d}",
            billing_country={"USD": "US", "EUR": "DE", "GBP": "GB", "JPY": "JP", "BHD": "BH"}[
                slots[n % len(slots)]
            ],
            default_currency=slots[n % len(slots)],
            account_manager=managers[n % MANAGERS],
            stripe_customer_id=f"cus_{PREFIX}{n:04d}",
        )
        for n in range(ACCOUNTS)
    )
    item, _ = CatalogItem.objects.get_or_create(code="bench-seats", defaults={"name": "Seats"})
    contracts = Contract.objects.bulk_create(
        Contract(
            number=f"Q-{account.external_ref}",
            account=account,
            status=Contract.Status.ACTIVE,
            start_date=date(2024, 1, 1),
            end_date=date(2027, 12, 31),
            currency=account.default_currency,
            annual_contract_value=Decimal("12000"),
            total_contract_value=Decimal("48000"),
        )
        for account in accounts
    )
    lines = ContractLine.objects.bulk_create(
        ContractLine(contract=c, key="seats", item=item, pricing_model="per_unit")
        for c in contracts
    )
    PricePhase.objects.bulk_create(
        PricePhase(line=line, unit_amount=Decimal("10"), quantity=100) for line in lines
    )
    return list(Account.objects.filter(external_ref__startswith=f"{PREFIX}-").order_by("pk"))


def invoices_add(total: int, accounts: list[Any], approver: Any) -> None:
    """Invoices up to `total`, in batches; invoice n is the same whatever the size."""
    from djstripe.models import Invoice, LineItem

    from billing.contracts.models import Contract
    from billing.invoices.models import InvoiceReview

    contracts = {c.account_id: c for c in Contract.objects.filter(account__in=accounts)}
    templates = _templates()
    have = InvoiceReview.objects.filter(stripe_invoice_id__startswith=f"in_{PREFIX}").count()
    for start in range(have, total, BATCH):
        invoices, lines, reviews = [], [], []
        for n in range(start, min(start + BATCH, total)):
            invoice, invoice_lines, review = _invoice(n, accounts, contracts, templates, approver)
            invoices.append(invoice)
            lines.extend(invoice_lines)
            reviews.append(review)
        # One transaction a batch: a commit for each row would wait for the disk each time.
        with transaction.atomic():
            rows_insert(Invoice, invoices)
            rows_insert(LineItem, lines)
            InvoiceReview.objects.bulk_create(reviews)


def rows_insert(model: Any, objects: list[Any]) -> None:
    """bulk_create without its PostgreSQL UNNEST: one prepared INSERT, executed for each row.

    Django 5.2's bulk_create sends each column as one array, and psycopg escapes every quote of
    every JSON document in Python on the way: more than half of the loading time, measured.
    Executing one prepared statement per row (psycopg pipelines executemany), as the mirror
    does (stripe_sync/mirror.py), costs a fraction of that.
    """
    qn = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    now = datetime.now(UTC)
    for obj in objects:
        obj.djstripe_created = obj.djstripe_updated = now
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "  # noqa: S608 (our own names)
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    rows = [
        [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields] for obj in objects
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _invoice(
    n: int,
    accounts: list[Any],
    contracts: dict[int, Any],
    templates: dict[str, dict[str, Any]],
    approver: Any,
) -> tuple[Any, list[Any], Any]:
    from djstripe.models import Invoice, LineItem

    from billing.invoices.models import InvoiceReview
    from billing.money import from_stripe_amount

    rng = random.Random(n)  # noqa: S311  (reproducible bench data, not secrets)
    account = accounts[rng.randrange(len(accounts))]
    currency = account.default_currency
    per_dollar = next(c[2] for c in CURRENCIES if c[0] == currency)
    review_status, stripe_status = rng.choices(
        [m[:2] for m in STATUS_MIX], [m[2] for m in STATUS_MIX]
    )[0]
    created = NEWEST - n * STEP
    period = _month(created.date())
    invoice_id = f"in_{PREFIX}{n:08d}"
    # Seats and a platform fee: from about 300 to 150,000 US dollars, in minor units.
    seats = rng.choice((5, 10, 25, 50, 100, 250, 500, 1000))
    seat_price = round(rng.choice((12, 25, 49, 99)) * per_dollar)
    platform = round(rng.choice((250, 1000, 2500, 10000, 50000)) * per_dollar)
    line_data = []
    for k, (description, quantity, unit) in enumerate(
        (("Seats", seats, seat_price), ("Platform fee", 1, platform))[:LINES_PER_INVOICE]
    ):
        line = dict(templates["line_item"])
        line.update(
            id=f"il_{PREFIX}{n:08d}{k}",
            invoice=invoice_id,
            amount=quantity * unit,
            subtotal=quantity * unit,
            currency=currency.lower(),
            description=f"{quantity} × {description}",  # noqa: RUF001 (as Stripe writes it)
            quantity=quantity,
            period={"start": _timestamp(period[0]), "end": _timestamp(period[1]) + 86_400},
            pricing={
                "type": "price_details",
                "price_details": {"price": f"price_{PREFIX}{currency.lower()}{k}", "product": ""},
                "unit_amount_decimal": str(unit),
            },
            taxes=[],
            metadata={},
        )
        line_data.append(line)
    subtotal = sum(line["amount"] for line in line_data)
    draft = stripe_status == "draft"
    held = draft and rng.random() < 0.8
    finalized_at = _timestamp(created + timedelta(hours=1)) if not draft else None
    data = dict(templates["invoice"])
    data.update(
        id=invoice_id,
        customer=account.stripe_customer_id,
        customer_name=account.legal_name,
        customer_email=f"billing@{account.external_ref}.example",
        currency=currency.lower(),
        status=stripe_status,
        created=_timestamp(created),
        effective_at=finalized_at,
        due_date=_timestamp(created + timedelta(days=30)),
        period_start=_timestamp(period[0]),
        period_end=_timestamp(period[1]),
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=subtotal,
        total_excluding_tax=subtotal,
        amount_due=subtotal,
        amount_paid=subtotal if stripe_status == "paid" else 0,
        amount_remaining=0 if stripe_status == "paid" else subtotal,
        amount_overpaid=0,
        auto_advance=not held,
        automatically_finalizes_at=_timestamp(created + timedelta(hours=1))
        if draft and not held
        else None,
        number=None if draft else f"{account.external_ref.upper()}-{n:06d}",
        hosted_invoice_url=None if draft else f"https://invoice.stripe.com/i/{invoice_id}",
        invoice_pdf=None if draft else f"https://pay.stripe.com/invoice/{invoice_id}/pdf",
        lines={
            "object": "list",
            "data": line_data,
            "has_more": False,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        status_transitions={
            "finalized_at": finalized_at,
            "marked_uncollectible_at": None,
            "paid_at": finalized_at if stripe_status == "paid" else None,
            "voided_at": finalized_at if stripe_status == "void" else None,
        },
        last_finalization_error=None,
        from_invoice=None,
        shipping_cost=None,
        parent=None,
    )
    # Drafts not clean carry one to three flags; a few finalized ones were approved with one.
    flagged = review_status in ("flagged", "held", "awaiting_second") or (
        review_status in ("finalized", "approved") and rng.random() < 0.08
    )
    rules = sorted(rng.sample(RULES, rng.choice((1, 1, 2, 3)))) if flagged else []
    flags = [
        {"rule": rule, "message": f"Bench: {rule} differs", "expected": "100", "actual": "110"}
        for rule in rules
    ]
    stamped = datetime.fromtimestamp(data["created"], UTC)
    invoice = Invoice(
        id=invoice_id,
        stripe_data=data,
        livemode=False,
        created=stamped,
        metadata={},
        customer_id=account.stripe_customer_id,
    )
    lines = [
        LineItem(id=line["id"], stripe_data=line, livemode=False, metadata={}) for line in line_data
    ]
    decided = review_status in ("finalized", "approved", "awaiting_second")
    review = InvoiceReview(
        stripe_invoice_id=invoice_id,
        account=account,
        contract=contracts.get(account.pk),
        currency=currency,
        amount=from_stripe_amount(subtotal, currency),
        period_start=period[0],
        period_end=period[1],
        status=review_status,
        flags=flags,
        flag_rules="," + ",".join(rules) + "," if rules else "",
        flag_count=len(rules),
        checked_at=stamped + timedelta(minutes=2),
        stripe_created_at=stamped,
        finalizes_at=stamped + timedelta(hours=1) if draft and not held else None,
        held_in_stripe=held,
        note="Waiting for the customer's new purchase order." if review_status == "held" else "",
        justification="Agreed with the customer." if decided and rules else "",
        approved_by=approver if decided else None,
        approved_at=stamped + timedelta(minutes=30) if decided else None,
    )
    return invoice, lines, review


def analyze() -> None:
    """Fresh statistics, as autovacuum would have them in production after a bulk load.

    VACUUM as well: it sets the visibility map, so that counts may use index-only scans as they
    would on a table autovacuum has visited.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in (
            "billing_invoicereview",
            "djstripe_invoice",
            "djstripe_lineitem",
            "djstripe_customer",
            "customers_account",
            "billing_contract",
        ):
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")


def bench_cleanup() -> None:
    from djstripe.models import Customer

    from backoffice.models import User
    from billing.contracts.models import Contract
    from customers.models import Account

    tables = (
        "billing_invoicereview",
        "billing_historicalinvoicereview",
        "djstripe_lineitem",
        "djstripe_invoice",
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # CASCADE: mirror tables that point at invoices (charges, ...), empty in this database.
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (our own table names)
    Contract.objects.filter(number__startswith=f"Q-{PREFIX}-").delete()
    Account.objects.filter(external_ref__startswith=f"{PREFIX}-").delete()
    Customer.objects.filter(id__startswith=f"cus_{PREFIX}").delete()
    User.objects.filter(username__startswith=f"{PREFIX}_manager_").delete()


# --- EXPLAIN on PostgreSQL.


def explain(sql: str) -> tuple[list[str], float]:
    """The plan's lines, and the execution time in milliseconds."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        plan = [row[0] for row in cursor.fetchall()]
    executed = next(line for line in plan if line.startswith("Execution Time"))
    return plan, float(executed.split()[2])


def plan_summary(plan: list[str]) -> list[str]:
    """The top line, each scan (which index, or none), and the execution time."""
    scans = [line.strip().removeprefix("->  ") for line in plan[1:] if "Scan" in line]
    execution = [line for line in plan if line.startswith("Execution Time")]
    return [plan[0].strip(), *(f"  {scan}" for scan in scans), *execution]


def queue_rows_query(queries: list[dict[str, str]]) -> str:
    """The changelist's page of rows: the last query that selects rows of the review table (the
    currency filter's SELECT DISTINCT and the paginator's COUNT come apart)."""
    return next(
        q["sql"]
        for q in reversed(queries)
        if q["sql"].startswith('SELECT "billing_invoicereview"."id"')
    )


def query_label(sql: str) -> str:
    """What a query is, short: its kind, its table, and its WHERE, ORDER BY and LIMIT."""
    kind = "count" if sql.startswith("SELECT COUNT") else "distinct" if " DISTINCT " in sql else ""
    table = sql.split(" FROM ", 1)[1].split(" ", 1)[0].strip('"') if " FROM " in sql else "?"
    for clause in (" WHERE ", " ORDER BY ", " LIMIT "):
        if clause in sql:
            rest = clause.strip() + " " + sql.split(clause, 1)[1]
            break
    else:
        rest = ""
    rest = rest.replace('"billing_invoicereview".', "")
    return f"{kind} {table} {rest[:130]}{' ...' if len(rest) > 130 else ''}".strip()


def explain_report(results: dict[str, dict[str, Any]]) -> None:
    print('\nEXPLAIN (ANALYZE, BUFFERS) at the large size, the page of rows of "queue":')
    for line in plan_summary(explain(queue_rows_query(results["queue"]["queries"]))[0]):
        print(f"  {line}")
    print("\nEvery query that took 1 ms or more in the database at the large size, once:")
    pages_of: dict[str, list[str]] = {}
    for name, result in results.items():
        for query in result["queries"]:
            if query["sql"].startswith("SELECT"):
                pages_of.setdefault(query["sql"], []).append(name)
    for sql, names in pages_of.items():
        plan, ms = explain(sql)
        if ms < 1:
            continue
        print(f"  {ms:.1f} ms  {', '.join(dict.fromkeys(names))}: {query_label(sql)}")
        for line in plan_summary(plan)[:-1]:
            print(f"      {line}")


def table_print(results: dict[int, dict[str, Any]], sizes: tuple[int, int]) -> None:
    """Per page: median and p95 at both sizes, their ratio (of medians, and of the fastest
    rounds, which a busy machine disturbs least), the queries, and the time they took."""
    small, large = sizes
    print(
        f"\n{'page':<17}{f'ms at {small:,}':>14}{f'ms at {large:,}':>16}{'ratio':>7}{'best':>6}"
        f"{'queries':>9}{'queries':>9}{'SQL ms':>8}{'SQL ms':>8}"
    )
    print(
        f"{'':<17}{'median / p95':>14}{'median / p95':>16}{'':>13}"
        f"{f'{small:,}':>9}{f'{large:,}':>9}{f'{small:,}':>8}{f'{large:,}':>8}"
    )
    for name in results[small]:
        s, lg = results[small][name], results[large][name]
        print(
            f"{name:<17}{s['median'] * 1000:>7.1f} /{s['p95'] * 1000:>5.0f}"
            f"{lg['median'] * 1000:>9.1f} /{lg['p95'] * 1000:>5.0f}"
            f"{lg['median'] / s['median']:>7.2f}{lg['best'] / s['best']:>6.2f}"
            f"{len(s['queries']):>9}{len(lg['queries']):>9}"
            f"{s['sql_ms']:>8.1f}{lg['sql_ms']:>8.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--create-db", action="store_true", help="rebuild the bench database")
    parser.add_argument(
        "--large", type=int, default=SIZES[1], help="invoices at the large size (quick: 10000)"
    )
    args = parser.parse_args()
    sizes = (SIZES[0], args.large)

    from billing.invoices.models import InvoiceReview
    from demo.users import demo_users_ensure

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    started = time.perf_counter()
    bench_db = bench_database("invoice_queue", rebuild=args.create_db)
    ready = time.perf_counter() - started
    print(f"database: {connection.vendor} ({bench_db}), ready in {ready:.1f} s")
    try:
        users = {user.username: user for user in demo_users_ensure(password="bench")}
        bench_cleanup()
        accounts = accounts_ensure()
        client = Client()
        client.login(username="finance", password="bench")
        results, loads, urls = {}, {}, {}
        for size in sizes:
            started = time.perf_counter()
            invoices_add(size, accounts, users["finance"])
            analyze()
            loads[size] = time.perf_counter() - started
            print(f"{size:,} invoices loaded (and analysed) in {loads[size]:.1f} s", flush=True)
            if not urls:
                # A flagged draft among the first invoices: the same page at both sizes.
                draft = (
                    InvoiceReview.objects.filter(status=InvoiceReview.Status.FLAGGED)
                    .select_related("account")
                    .order_by("pk")
                    .first()
                )
                assert draft is not None
                account = draft.account
                assert account is not None
                urls = pages(
                    draft.pk,
                    draft.stripe_invoice_id,
                    account.account_manager_id,
                    account.legal_name,
                )
                pages_check(client, urls, draft.stripe_invoice_id)
            results[size] = {name: measure(client, url) for name, url in urls.items()}
        table_print(results, sizes)
        if connection.vendor == "postgresql":
            explain_report(results[sizes[1]])
    finally:
        bench_cleanup()


if __name__ == "__main__":
    main()
