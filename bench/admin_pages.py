"""Admin page timings and query counts at a small and a large number of rows.

Prints, for each list page, the median and 95th percentile time to answer and the number of SQL
queries, with 200 and with 5,000 accounts, and the ratio between the two: a page whose queries
or time grow with the number of rows shows it here.

Then the same for the contract page at 10, 50 and 200 lines (two in three lines ramp over two
phases, one in three is a graduated usage line with two tiers, every phase changed once since),
editable (a draft, as finance and as the account manager) and read-only (an active contract):
its queries stay the same whatever the number of lines.

Runs in a throwaway test database (created once, then kept: `--create-db` rebuilds it), named
after DATABASE_URL's (`<name>_admin_pages`; `db_admin_pages.sqlite3` next to the SQLite
default), on PostgreSQL when DATABASE_URL is set, SQLite otherwise:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice .venv/bin/python bench/admin_pages.py
    ... bench/admin_pages.py --only contracts --rounds 5
"""

import argparse
import os
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
from django.test.utils import teardown_test_environment

from backoffice.logins.tests.client import client_logins_give_the_second_factor
from bench.database import bench_database
from bench.pages import machine_yardstick, page_timing

# Logins by the test client give their second factor too, as in the tests: what is measured is
# each page, not the code page it would redirect to (backoffice/logins/).
client_logins_give_the_second_factor()

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
# Lines of the contracts whose page is timed.
CONTRACT_LINES = (10, 50, 200)
# The contract page: (label, who opens it, the contract active or a draft).
CONTRACT_PAGES = (
    ("editable, finance", "finance", False),
    ("editable, manager", "manager", False),
    ("read-only, finance", "finance", True),
)


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


def add_contract(lines: int, *, active: bool) -> str:
    """A 2026-2028 EUR contract of the manager's with `lines` lines, as described above, and
    its history; returns its page's address."""
    from datetime import date
    from decimal import Decimal

    from django.urls import reverse
    from simple_history.utils import bulk_create_with_history

    from backoffice.models import User
    from billing.catalog.models import CatalogItem, ListPrice
    from billing.contracts.models import Contract, ContractLine, PricePhase, PriceTier
    from customers.models import Account

    manager = User.objects.get(username="manager")
    account, _ = Account.objects.get_or_create(
        external_ref="BENCHPAGE-1",
        defaults={
            "legal_name": "Bench Page Holdings AG",
            "billing_country": "DE",
            "default_currency": "EUR",
            "account_manager": manager,
        },
    )
    items = []
    for n in range(lines):
        item, created = CatalogItem.objects.get_or_create(
            code=f"bench-page-{n:03d}", defaults={"name": f"Bench product {n:03d}"}
        )
        if created and n % 2:
            ListPrice.objects.create(item=item, currency="EUR", unit_amount=Decimal("25.00"))
        items.append(item)
    status = Contract.Status.ACTIVE if active else Contract.Status.DRAFT
    contract = Contract.objects.create(
        number=f"B-PAGE-{lines:03d}-{status}",
        account=account,
        status=status,
        start_date=date(2026, 1, 1),
        end_date=date(2028, 12, 31),
        currency="EUR",
        created_by=manager,
    )
    made = bulk_create_with_history(
        [
            ContractLine(
                contract=contract,
                key=f"line-{n + 1}",
                position=n + 1,
                item=item,
                pricing_model="graduated" if n % 3 == 2 else "per_unit",
                metric="api_calls" if n % 3 == 2 else "",
            )
            for n, item in enumerate(items)
        ],
        ContractLine,
    )
    phases = []
    for line in ContractLine.objects.filter(pk__in=[line.pk for line in made]):
        if line.pricing_model == "graduated":
            phases.append(PricePhase(line=line))
        else:
            phases += [
                PricePhase(
                    line=line, end_date=date(2026, 12, 31), unit_amount=Decimal(20), quantity=100
                ),
                PricePhase(
                    line=line, start_date=date(2027, 1, 1), unit_amount=Decimal(18), quantity=100
                ),
            ]
    made_phases = bulk_create_with_history(phases, PricePhase)
    phase_ids = [phase.pk for phase in made_phases]
    tiered = PricePhase.objects.filter(pk__in=phase_ids, line__pricing_model="graduated")
    bulk_create_with_history(
        [
            PriceTier(phase=phase, up_to=up_to, unit_amount=Decimal(amount))
            for phase in tiered
            for up_to, amount in ((1000, "0.05"), (None, "0.01"))
        ],
        PriceTier,
    )
    for phase in PricePhase.objects.filter(pk__in=phase_ids):  # the change log's changes
        phase.quantity += 1
        phase.save()
    return reverse("admin:billing_contract_change", args=[contract.pk])


def contract_pages(rounds: int) -> None:
    clients = {}
    for username in {who for _, who, _ in CONTRACT_PAGES}:
        clients[username] = Client()
        clients[username].login(username=username, password="bench")
    results: dict[str, dict[int, tuple[float, float, int]]] = {}
    for lines in CONTRACT_LINES:
        urls = {active: add_contract(lines, active=active) for active in (False, True)}
        for label, who, active in CONTRACT_PAGES:
            results.setdefault(label, {})[lines] = page_timing(clients[who], urls[active], rounds)
            print(f"  {label}, {lines} lines: done", flush=True)
    print(f"{'contract page':<20}{'lines':>7}{'median ms':>11}{'p95 ms':>9}{'queries':>9}")
    for label, by_size in results.items():
        for lines, (median, p95, queries) in by_size.items():
            print(f"{label:<20}{lines:>7}{median * 1000:>11.1f}{p95 * 1000:>9.1f}{queries:>9}")
        small, large = by_size[CONTRACT_LINES[0]], by_size[CONTRACT_LINES[-1]]
        ratio = f"{CONTRACT_LINES[-1]}/{CONTRACT_LINES[0]}"
        print(f"{'':<20}{ratio:>7}{large[0] / small[0]:>11.2f}{'':>9}{large[2] / small[2]:>9.2f}")


def list_pages() -> None:
    client = Client()
    client.login(username="finance", password="bench")
    results = {}
    for size in SIZES:
        add_accounts(size)
        results[size] = {name: page_timing(client, url, ROUNDS) for name, url in PAGES.items()}
    print(f"{'page':<18}{'accounts':>9}{'median ms':>11}{'p95 ms':>9}{'queries':>9}")
    for name in PAGES:
        for size, by_page in results.items():
            median, p95, queries = by_page[name]
            print(f"{name:<18}{size:>9}{median * 1000:>11.1f}{p95 * 1000:>9.1f}{queries:>9}")
        small, large = results[SIZES[0]][name], results[SIZES[1]][name]
        print(f"{'':<18}{'ratio':>9}{large[0] / small[0]:>11.2f}{'':>9}{large[2] / small[2]:>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--create-db", action="store_true", help="rebuild the bench database")
    parser.add_argument("--only", choices=("lists", "contracts"), help="one part of the bench")
    parser.add_argument(
        "--rounds", type=int, default=10, help="times each contract page is timed (default 10)"
    )
    args = parser.parse_args()

    from demo.users import demo_users_ensure

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    started = time.perf_counter()
    bench_db = bench_database("admin_pages", rebuild=args.create_db)
    # Pages rendered as in production: without the test instrumentation of every template
    # render (the test client keeps a copy of each context), a fifth of the time of a page of
    # a thousand nested forms. DEBUG stays off.
    teardown_test_environment()
    settings.DEBUG = False
    ready = time.perf_counter() - started
    print(f"database: {connection.vendor} ({bench_db}), ready in {ready:.1f} s")
    print(machine_yardstick())
    try:
        demo_users_ensure(password="bench")
        bench_cleanup()
        if args.only != "contracts":
            list_pages()
        if args.only != "lists":
            contract_pages(args.rounds)
    finally:
        bench_cleanup()


def bench_cleanup() -> None:
    from billing.contracts.models import Contract
    from customers.models import Account

    Contract.objects.filter(number__startswith="B-BENCH-").delete()
    Contract.objects.filter(number__startswith="B-PAGE-").delete()
    Account.objects.filter(external_ref__startswith="BENCH-").delete()
    Account.objects.filter(external_ref="BENCHPAGE-1").delete()


if __name__ == "__main__":
    main()
