"""Admin page timings and query counts at a small and a large number of accounts.

Prints, for each page, the median and 95th percentile time to answer and the number of SQL
queries, with 200 and with 5,000 accounts, and the ratio between the two: a page whose queries
or time grow with the number of rows shows it here.

Runs in a throwaway test database (created once, then kept: `--create-db` rebuilds it), on
PostgreSQL when DATABASE_URL is set, SQLite otherwise:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice .venv/bin/python bench/admin_pages.py
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

import django

django.setup()

from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, setup_test_environment

PAGES = {
    "admin index": "/admin/",
    "accounts list": "/admin/customers/account/",
    "accounts search": "/admin/customers/account/?q=Trading",
    "contracts list": "/admin/billing/contract/",
    "contracts ending": "/admin/billing/contract/?ends_within=90",
}
ROUNDS = 30
# Both sizes fill a whole changelist page (100 rows), so the ratio shows growth with the table.
SIZES = (200, 5000)


def measure(client: Client, url: str) -> tuple[float, float, int]:
    client.get(url)  # warm caches
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], len(queries)


def add_accounts(total: int) -> None:
    """Accounts up to `total`, each with a one-line contract."""
    from datetime import date
    from decimal import Decimal

    from backoffice.models import User
    from billing.catalog.models import CatalogItem
    from billing.contracts.models import Contract, ContractLine, PricePhase
    from customers.models import Account

    managers = list(User.objects.filter(username__in=["manager", "manager2"]))
    have = Account.objects.count()
    Account.objects.bulk_create(
        Account(
            legal_name=f"Bench Trading {n:05d} Ltd",
            external_ref=f"BENCH-{n:05d}",
            billing_country=("US", "DE", "JP", "GB", "FR")[n % 5],
            default_currency=("USD", "EUR", "JPY", "GBP", "EUR")[n % 5],
            account_manager=managers[n % 2],
        )
        for n in range(have, total)
    )
    item, _ = CatalogItem.objects.get_or_create(code="bench-seats", defaults={"name": "Seats"})
    accounts = Account.objects.filter(external_ref__startswith="BENCH-", contracts__isnull=True)
    contracts = Contract.objects.bulk_create(
        Contract(
            number=f"B-{account.external_ref}",
            account=account,
            status=Contract.Status.ACTIVE,
            start_date=date(2026, 1, 1),
            end_date=date(2026, 12, 31),
            currency=account.default_currency,
            annual_contract_value=Decimal("12000"),
            total_contract_value=Decimal("12000"),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--create-db", action="store_true", help="rebuild the bench database")
    args = parser.parse_args()

    from demo.users import demo_users_ensure

    setup_test_environment()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # A database of its own, apart from the test suite's.
    bench_db = (
        "bench_backoffice"
        if connection.vendor != "sqlite"
        else str(Path(__file__).parent / "bench.sqlite3")
    )
    connection.settings_dict["TEST"]["NAME"] = bench_db
    started = time.perf_counter()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=not args.create_db)
    print(f"database: {connection.vendor}, ready in {time.perf_counter() - started:.1f} s")
    try:
        demo_users_ensure(password="bench")
        bench_cleanup()
        client = Client()
        client.login(username="finance", password="bench")
        results = {}
        for size in SIZES:
            add_accounts(size)
            results[size] = {name: measure(client, url) for name, url in PAGES.items()}
        print(f"{'page':<18}{'accounts':>9}{'median ms':>11}{'p95 ms':>9}{'queries':>9}")
        for name in PAGES:
            for size, by_page in results.items():
                median, p95, queries = by_page[name]
                print(f"{name:<18}{size:>9}{median * 1000:>11.1f}{p95 * 1000:>9.1f}{queries:>9}")
            small, large = results[SIZES[0]][name], results[SIZES[1]][name]
            print(
                f"{'':<18}{'ratio':>9}{large[0] / small[0]:>11.2f}{'':>9}"
                f"{large[2] / small[2]:>9.2f}"
            )
    finally:
        bench_cleanup()


def bench_cleanup() -> None:
    from billing.contracts.models import Contract
    from customers.models import Account

    Contract.objects.filter(number__startswith="B-BENCH-").delete()
    Account.objects.filter(external_ref__startswith="BENCH-").delete()


if __name__ == "__main__":
    main()
