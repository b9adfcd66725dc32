"""The finance reports at 100,000 finalized invoices and 1,000,000 invoice lines.

Prints, for each report page and its CSV and XLSX exports, as finance (every account) and as an
account manager (their own), the median and 95th percentile time and the number of SQL queries,
at a small size and the large one: a page whose queries grow with the ledger shows it here.
The pages are timed in turn, each round every page once (bench.pages.pages_timing), so that a
slow minute of the shared machine weighs on every page alike.
The acceptance rates read Stripe's charges instead: one charge per invoice, written to the
mirror (dj-stripe's Charge, Stripe-shaped payloads of a real charge's size) and to the table of
charge outcomes the report reads (rebuilt from the mirror as `reports_rebuild` does).
Then the ledger's own speed: invoices written to the ledger from the Stripe mirror a second
(`reports_rebuild`'s work), on a sample of Stripe-shaped invoices.

The pages read only the ledger (reports.models), so the large size is written to it directly
(PostgreSQL's COPY); the mirror-to-ledger step is measured on its own. 2,000 accounts of 10
account managers in five currencies, each with a contract of five lines of 20 catalog items,
billed monthly over two years (the default range, the last twelve months, holds half).
Each report is asked over the view's default range on the bench's day (TODAY: 1 January to
3 December 2026, the calendar year, which the yearly sums answer), written out so that a later
run asks the same; billed fairly also over the default range on 15 November (1 December 2025
to 15 November 2026: this year's sums and last December's added up), the shape of the default
range on every day of the year but in December.

Runs in a throwaway test database of its own (`<name>_reports`, kept between runs;
`--create-db` rebuilds it; `--db-suffix` names another, so that two people measure apart), on
PostgreSQL when DATABASE_URL is set:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice make bench-reports
    DATABASE_URL=... .venv/bin/python bench/reports.py [--create-db] [--large 1000000]
"""

import argparse
import contextlib
import io
import json
import os
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

import django

django.setup()

from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction
from django.test import Client

from backoffice.logins.tests.client import client_logins_give_the_second_factor
from bench.database import bench_database
from bench.pages import machine_yardstick, pages_timing

client_logins_give_the_second_factor()

ROUNDS = 10
ACCOUNTS = 2_000
MANAGERS = 10
ITEMS = 20
LINES_PER_CONTRACT = 5
LINES_PER_INVOICE = 10
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "BHD")
TODAY = date(2026, 12, 3)
MONTHS = 24  # billed monthly from December 2024 to November 2026


def _months() -> list[date]:
    out, year, month = [], 2024, 12
    for _ in range(MONTHS):
        out.append(date(year, month, 1))
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return out


def world_ensure() -> dict[str, Any]:
    """Accounts, managers, items and contracts, once."""
    from backoffice.models import User
    from backoffice.roles import ACCOUNT_MANAGERS, FINANCE
    from billing.catalog.models import CatalogItem
    from billing.contracts.models import Contract, ContractLine, PricePhase
    from customers.models import Account
    from reports.models import ContractedMonth

    finance, _ = User.objects.get_or_create(username="bench-finance", defaults={"is_staff": True})
    finance.groups.add(Group.objects.get(name=FINANCE))
    managers = []
    for n in range(MANAGERS):
        user, _ = User.objects.get_or_create(username=f"bench-am-{n}", defaults={"is_staff": True})
        user.groups.add(Group.objects.get(name=ACCOUNT_MANAGERS))
        managers.append(user)
    if Account.objects.filter(external_ref__startswith="BENCH-").count() < ACCOUNTS:
        with transaction.atomic():
            items = [
                CatalogItem.objects.get_or_create(
                    code=f"bench-item-{i}",
                    defaults={"name": f"Bench item {i}", "unit_label": "seat"},
                )[0]
                for i in range(ITEMS)
            ]
            accounts = Account.objects.bulk_create(
                [
                    Account(
                        legal_name=f"Bench customer {n:04d}",
                        external_ref=f"BENCH-{n:04d}",
                        billing_country=("US", "DE", "GB", "JP", "BH")[n % 5],
                        default_currency=CURRENCIES[n % 5],
                        account_manager=managers[n % MANAGERS],
                    )
                    for n in range(ACCOUNTS)
                ]
            )
            contracts = Contract.objects.bulk_create(
                [
                    Contract(
                        number=f"C-BENCH-{n:05d}",
                        account=a,
                        status=Contract.Status.ACTIVE,
                        signed_date=date(2024, 1 + n % 12, 1),
                        start_date=date(2024, 12, 1),
                        end_date=date(2027, 11, 30),
                        currency=CURRENCIES[n % 5],
                        created_by=managers[n % MANAGERS],
                    )
                    for n, a in enumerate(accounts)
                ]
            )
            lines = ContractLine.objects.bulk_create(
                [
                    ContractLine(
                        contract=c,
                        key=f"line-{k}",
                        position=k,
                        item=items[(n + k) % ITEMS],
                        pricing_model="per_unit",
                    )
                    for n, c in enumerate(contracts)
                    for k in range(LINES_PER_CONTRACT)
                ]
            )
            PricePhase.objects.bulk_create(
                [PricePhase(line=line, unit_amount=Decimal(10), quantity=10) for line in lines]
            )
        contracted_fill()  # bulk_create sends no contract_changed
    elif not ContractedMonth.objects.exists():
        contracted_fill()
    return {"finance": finance, "managers": managers}


def contracted_fill() -> None:
    """The contracted MRR per version and month end, as reports_rebuild writes it."""
    from reports.contracted import contracted_months_rebuild

    started = time.perf_counter()
    rows = contracted_months_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE reports_contractedmonth")
    print(f"  contracted MRR: {rows:,} rows in {time.perf_counter() - started:.1f} s")


def ledger_fill(invoices: int) -> None:
    """`invoices` finalized invoices of ten lines each, straight into the ledger."""
    from billing.contracts.models import ContractLine
    from reports.models import BilledInvoice, BilledMonth, BilledQuarter, BilledYear

    if BilledInvoice.objects.count() == invoices:
        if not all(m.objects.exists() for m in (BilledMonth, BilledQuarter, BilledYear)):
            months_fill()
        return
    with connection.cursor() as cursor:
        # Not Django's delete (it lists every id, past PostgreSQL's 65,535 parameters), nor
        # DELETE: its dead rows would stay in the tables the pages read until a vacuum, where
        # production's autovacuum keeps them compact.
        cursor.execute(
            "TRUNCATE reports_billedyear, reports_billedquarter, reports_billedmonth, "
            "reports_billedline, reports_billedinvoice"
        )
    rng = random.Random(20)  # noqa: S311 - figures, not secrets
    contract_lines = list(
        ContractLine.objects.values_list(
            "id", "contract_id", "contract__account_id", "item_id", "contract__currency"
        )
    )
    by_account: dict[int, list[tuple[int, int, int, int, str]]] = {}
    for row in contract_lines:
        by_account.setdefault(row[2], []).append(row)
    accounts = sorted(by_account)
    months = _months()
    started = time.perf_counter()
    inv_buf, line_buf = io.StringIO(), io.StringIO()
    for n in range(invoices):
        account = accounts[n % len(accounts)]
        lines = by_account[account]
        currency = lines[0][4]
        month = months[n * MONTHS // invoices]  # every size spread over the two years
        due = date(month.year, month.month, 28)
        status = (
            "paid"
            if due < date(2026, 9, 1) or rng.random() < 0.6
            else rng.choice(["open", "open", "open", "uncollectible"])
        )
        amounts = []
        for k in range(LINES_PER_INVOICE):
            cl = lines[k % len(lines)]
            quantity = 10
            unit = Decimal(10) if rng.random() > 0.05 else Decimal("11.5")
            amount = unit * quantity
            amounts.append(amount)
            line_buf.write(
                f"{n + 1}\til_{n}_{k}\t{account}\t{currency}\t{month}\tt\t{cl[1]}\t{cl[0]}\t"
                f"{cl[3]}\trecurring\tBench line\t{month}\t{due}\t{quantity}\t{amount}\t100\t10\t"
                "10\t0\n"
            )
        total = sum(amounts)
        paid = total if status == "paid" else Decimal(0)
        inv_buf.write(
            f"{n + 1}\tin_bench_{n}\tBENCH-{n}\t{account}\tcus_bench_{account}\t{currency}\t"
            f"{status}\t{month}\t{due}\t\\N\t{month}\t{due}\t{total}\t0\t{total}\t{total}\t"
            f"{paid}\t{total - paid}\t0\n"
        )
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(
            "COPY reports_billedinvoice (id, stripe_invoice_id, number, account_id, "
            "stripe_customer_id, currency, status, finalized_on, due_on, paid_on, period_start, "
            "period_end, subtotal, tax, total, amount_due, amount_paid, amount_remaining, "
            "credited) FROM STDIN"
        ) as copy:
            copy.write(inv_buf.getvalue())
        with raw.copy(
            "COPY reports_billedline (invoice_id, stripe_line_id, account_id, currency, "
            "finalized_on, counted, contract_id, contract_line_id, item_id, kind, description, "
            "period_start, period_end, quantity, amount, contract_amount, list_unit_amount, "
            "contract_quantity, credited) "
            "FROM STDIN"
        ) as copy:
            copy.write(line_buf.getvalue())
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('reports_billedinvoice', 'id'), %s)", [invoices]
        )
    print(
        f"  ledger filled: {invoices:,} invoices, {invoices * LINES_PER_INVOICE:,} lines in "
        f"{time.perf_counter() - started:.0f} s"
    )
    months_fill()


def months_fill() -> None:
    """The monthly sums the reports add up, from the lines, the quarterly sums from them and
    the yearly sums from those, as reports_rebuild writes them."""
    from reports.ledger import billed_months_rebuild

    started = time.perf_counter()
    with transaction.atomic():
        rows = billed_months_rebuild()
    print(
        f"  monthly sums: {rows.months:,} rows, quarterly sums: {rows.quarters:,} rows, yearly "
        f"sums: {rows.years:,} rows in {time.perf_counter() - started:.1f} s"
    )
    with connection.cursor() as cursor:  # as autovacuum leaves a table written once
        for table in (
            "reports_billedinvoice",
            "reports_billedline",
            "reports_billedmonth",
            "reports_billedquarter",
            "reports_billedyear",
            # The names the reports join: written once by world_ensure, never analyzed where
            # autovacuum is off (PostgreSQL then guesses a tenth of their rows).
            "customers_account",
            "billing_contract",
            "billing_contractline",
            "billing_catalogitem",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")


STRIPE_FIXTURES = Path(__file__).resolve().parent.parent / "stripe_standin/fixtures/fixtures3.json"
OWNER = "acct_bench_reports"
# Besides cards, the debits an account of that country pays by, and how many of its charges.
LOCAL_DEBITS = {
    "US": ("us_bank_account", 0.3),
    "DE": ("sepa_debit", 0.4),
    "GB": ("bacs_debit", 0.25),
}


def _bench_mirror() -> Any:
    """A mirror writer for the bench's own Stripe account (no Stripe asked who it is)."""
    from djstripe.models import Account as StripeAccount

    from stripe_sync.mirror import Mirror

    mirror = Mirror()
    mirror._owner_account_id = OWNER
    StripeAccount.objects.get_or_create(id=OWNER, defaults={"stripe_data": {"id": OWNER}})
    return mirror


def customers_ensure() -> None:
    """A Stripe customer in the mirror for every bench account, linked to it
    (`cus_bench_<account id>`, the ledger's own), as pushing the accounts to Stripe leaves them."""
    from customers.models import Account
    from stripe_sync.object_types import object_type

    accounts = list(
        Account.objects.filter(external_ref__startswith="BENCH-", stripe_customer__isnull=True)
    )
    if not accounts:
        return
    with transaction.atomic():
        _bench_mirror().write(
            object_type("customers"),
            [
                {
                    "id": f"cus_bench_{a.pk}",
                    "object": "customer",
                    "name": a.legal_name,
                    "email": f"billing@{a.external_ref.lower()}.example",
                    "address": {"country": str(a.billing_country)},
                    "created": int(datetime(2024, 11, 1, tzinfo=UTC).timestamp()),
                    "currency": a.default_currency.lower(),
                    "metadata": {"backoffice_account_id": str(a.pk)},
                }
                for a in accounts
            ],
            observed_at=datetime(2026, 12, 1, tzinfo=UTC),
        )
        for a in accounts:
            Account.objects.filter(pk=a.pk).update(stripe_customer_id=f"cus_bench_{a.pk}")


def _charge_details(method: str, country: str, n: int) -> dict[str, Any]:
    """Stripe's payment_method_details of a charge by `method`."""
    if method == "us_bank_account":
        details = {
            "account_holder_type": "company",
            "account_type": "checking",
            "bank_name": "STRIPE TEST BANK",
            "fingerprint": f"FpUs{n:012d}",
            "last4": f"{n % 10000:04d}",
            "mandate": f"mandate_bench_us_{n % 997}",
            "payment_reference": None,
            "routing_number": "110000000",
        }
    elif method == "sepa_debit":
        details = {
            "bank_code": "37040044",
            "branch_code": None,
            "country": country,
            "fingerprint": f"FpDe{n:012d}",
            "last4": f"{n % 10000:04d}",
            "mandate": f"mandate_bench_de_{n % 997}",
        }
    else:  # bacs_debit
        details = {
            "fingerprint": f"FpGb{n:012d}",
            "last4": f"{n % 10000:04d}",
            "mandate": f"mandate_bench_gb_{n % 997}",
            "sort_code": "108800",
        }
    return {method: details, "type": method}


def charges_fill(invoices: int) -> None:
    """One charge per bench invoice, straight into dj-stripe's Charge (COPY), Stripe-shaped from
    Stripe's own example charge: created within the invoice's month, 93% succeeded and 7% failed
    (a few debits still pending), by card or by the account's country's debit."""
    from djstripe.models import Charge

    from customers.models import Account
    from payments.models import ChargeOutcome
    from stripe_sync.object_types import object_type

    charges = Charge.objects.filter(id__startswith="ch_bench_")
    if charges.count() == invoices:
        if ChargeOutcome.objects.count() != invoices:
            outcomes_fill()
        return
    customers_ensure()
    with connection.cursor() as cursor:  # one statement: Django's delete visits every charge
        cursor.execute("DELETE FROM djstripe_charge WHERE id LIKE %s", ["ch\\_bench\\_%"])
    template = json.loads(STRIPE_FIXTURES.read_text())["resources"]["charge"]
    template["source"] = None  # a payment intent's charge has no source
    rng = random.Random(21)  # noqa: S311 - figures, not secrets
    accounts = list(
        Account.objects.filter(external_ref__startswith="BENCH-")
        .order_by("pk")
        .values_list("pk", "billing_country", "default_currency", "legal_name")
    )
    ot = object_type("charges")
    columns = [
        f
        for f in Charge._meta.concrete_fields
        if f.name != "djstripe_id"
        and (not f.is_relation or f.name in ("customer", "djstripe_owner_account"))
    ]
    started = time.perf_counter()
    rows = (_charge_row(n, invoices, accounts, template, rng) for n in range(invoices))
    with transaction.atomic(), connection.cursor() as cursor:
        names = ", ".join(f.column for f in columns)
        with cursor.cursor.copy(f"COPY djstripe_charge ({names}) FROM STDIN") as copy:
            for data in rows:
                values = _row_values_of(ot, data)
                copy.write("\t".join(_copy_text(values.get(f.attname)) for f in columns) + "\n")
        cursor.execute("ANALYZE djstripe_charge")
    print(f"  charges mirrored: {invoices:,} in {time.perf_counter() - started:.0f} s")
    outcomes_fill()


def outcomes_fill() -> None:
    """The charges' outcomes the acceptance rates read, from the mirror, as reports_rebuild
    writes them."""
    from payments.acceptance import charge_outcomes_rebuild

    started = time.perf_counter()
    rows = charge_outcomes_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE payments_chargeoutcome")
    print(f"  charge outcomes: {rows:,} rows in {time.perf_counter() - started:.1f} s")


def _charge_row(
    n: int,
    invoices: int,
    accounts: list[tuple[int, str, str, str]],
    template: dict[str, Any],
    rng: random.Random,
) -> dict[str, Any]:
    """The bench's charge `n`, paying invoice `n` (in its month), as Stripe sends it."""
    card = template["payment_method_details"]
    account, country, currency, name = accounts[n % len(accounts)]
    month = _months()[n * MONTHS // invoices]
    created = datetime(month.year, month.month, 1, tzinfo=UTC) + timedelta(
        days=rng.randint(0, 27), seconds=rng.randint(0, 86_399)
    )
    debit, share = LOCAL_DEBITS.get(country, ("", 0.0))
    method = debit if rng.random() < share else "card"
    outcome = rng.random()
    status = (
        "pending"
        if method != "card" and outcome < 0.02
        else "failed"
        if outcome < 0.07
        else "succeeded"
    )
    amount = 100_000 + 1_000 * (n % 7)
    failed = status == "failed"
    return {
        **template,
        "id": f"ch_bench_{n}",
        "amount": amount,
        "amount_captured": 0 if failed else amount,
        "balance_transaction": None if failed else f"txn_bench_{n}",
        "billing_details": {
            **template["billing_details"],
            "email": f"billing@bench-{account}.example",
            "name": name,
        },
        "captured": not failed,
        "created": int(created.timestamp()),
        "currency": currency.lower(),
        "customer": f"cus_bench_{account}",
        "description": f"Payment for Invoice BENCH-{n}",
        "failure_code": ("card_declined" if method == "card" else "debit_not_authorized")
        if failed
        else None,
        "failure_message": "Your card was declined." if failed else None,
        "invoice": f"in_bench_{n}",
        "outcome": {
            **template["outcome"],
            "network_status": "declined_by_network" if failed else "approved_by_network",
            "reason": "generic_decline" if failed else None,
            "risk_level": "normal",
            "risk_score": n % 60,
            "seller_message": "The bank did not return any further details with this decline."
            if failed
            else "Payment complete.",
            "type": "issuer_declined" if failed else "authorized",
        },
        "paid": status == "succeeded",
        "payment_intent": f"pi_bench_{n}",
        "payment_method": f"pm_bench_{account}_{method}",
        "payment_method_details": card if method == "card" else _charge_details(method, country, n),
        "receipt_url": None if failed else f"{template['receipt_url']}{n}",
        "refunds": {**template["refunds"], "url": f"/v1/charges/ch_bench_{n}/refunds"},
        "status": status,
    }


def _row_values_of(ot: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The columns the mirror writes for `data`, by attname."""
    from stripe_sync.mirror import _row_values

    values = _row_values(ot, data, owner_account_id=OWNER)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    values["djstripe_created"] = values["djstripe_updated"] = now
    values["customer_id"] = data["customer"]
    return values


def _copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, dict | list):
        text = orjson.dumps(value).decode()
    elif isinstance(value, bool):
        text = "t" if value else "f"
    elif isinstance(value, datetime):
        text = value.isoformat()
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


URLS = {
    "billed fairly": "/admin/reports/report/billed-fairly/?{range}",
    "billed fairly, export CSV": "/admin/reports/report/billed-fairly/?export=csv&{range}",
    "billed fairly, export XLSX": "/admin/reports/report/billed-fairly/?export=xlsx&{range}",
    # The default range on any day but in December holds the end of last year: eleven months
    # of this year (the yearly sums) and one of the last (the monthly sums), added up.
    "billed fairly, 15 Nov": "/admin/reports/report/billed-fairly/?{across}",
    "billed fairly, 15 Nov, CSV": "/admin/reports/report/billed-fairly/?export=csv&{across}",
    "billed fairly, 15 Nov, XLSX": "/admin/reports/report/billed-fairly/?export=xlsx&{across}",
    "usage vs commit": "/admin/reports/report/usage-vs-commit/?{range}",
    "revenue by customer": "/admin/reports/report/revenue/?{range}",
    "revenue by product": "/admin/reports/report/revenue/?by=product&{range}",
    "revenue by cohort": "/admin/reports/report/revenue/?by=cohort&{range}",
    "revenue, export XLSX": "/admin/reports/report/revenue/?export=xlsx&{range}",
    "MRR, contracted": "/admin/reports/report/recurring-revenue/?{range}",
    "MRR, billed": "/admin/reports/report/recurring-revenue/?basis=billed&{range}",
    "AR aging": "/admin/reports/report/ar-aging/",
    "AR aging, export CSV": "/admin/reports/report/ar-aging/?export=csv",
    # EUR: the manager timed bills in EUR only (accounts go round ten managers and five
    # currencies), and a currency a person's ledger does not hold is refused on the form.
    "invoices owed, over 90 days": "/admin/reports/report/invoices/?bucket=over-90&currency=EUR",
    "lines of one account": "/admin/reports/report/lines/?account={account}&{range}",
    "acceptance rates": "/admin/reports/report/acceptance-rates/?{range}",
    "acceptance rates, export CSV": "/admin/reports/report/acceptance-rates/?export=csv&{range}",
    "acceptance rates, export XLSX": "/admin/reports/report/acceptance-rates/?export=xlsx&{range}",
}


def _default_range(day: date) -> str:
    """The range a report shows when none is asked (reports.pages.this_year), on `day`,
    written out: the bench's ledger ends in November 2026, and the view's own default on a
    later day would time a range the ledger barely holds."""
    from reports.pages import this_year

    start, end = this_year(day)
    return f"start={start}&end={end}"


def run(size: int, people: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    from customers.models import Account

    ledger_fill(size)
    charges_fill(size)
    # What the fills wrote goes to disk now, not by the checkpointer while pages are timed (a
    # third of a minute after a million lines): a database in its steady state. A role that
    # may not leaves it to the checkpointer.
    with connection.cursor() as cursor, contextlib.suppress(DatabaseError):
        cursor.execute("CHECKPOINT")
    account = Account.objects.filter(external_ref="BENCH-0001").values_list("pk", flat=True)[0]
    ranges = {"range": _default_range(TODAY), "across": _default_range(date(2026, 11, 15))}
    urls = {name: url.format(account=account, **ranges) for name, url in URLS.items()}
    results = {}
    for role, user in (("finance", people["finance"]), ("manager", people["managers"][1])):
        client = Client()
        client.force_login(user)
        for name, (median, p95, queries) in pages_timing(client, urls, ROUNDS).items():
            results[(role, name)] = {"median": median * 1000, "p95": p95 * 1000, "queries": queries}
    return results


def ledger_speed() -> None:
    """Mirror to ledger: Stripe-shaped invoices written to the mirror, then the ledger rebuilt."""
    from billing.contracts.models import PricePhase
    from customers.models import Account
    from reports.ledger import billed_ledger_rebuild
    from reports.models import BilledInvoice
    from reports.tests.world import finalized_invoice
    from stripe_sync.object_types import object_type

    sample = 2_000
    phases = list(
        PricePhase.objects.filter(
            line__contract__currency="EUR", line__key="line-0"
        ).select_related("line__contract__account")[:200]
    )
    mirror = _bench_mirror()
    with transaction.atomic():
        for n, phase in enumerate(phases):
            account = phase.line.contract.account
            customer = f"cus_bench_{account.pk}"
            mirror.write(
                object_type("customers"),
                [{"id": customer, "object": "customer", "name": account.legal_name}],
                observed_at=datetime.now(UTC),
            )
            Account.objects.filter(pk=account.pk).update(stripe_customer_id=customer)
            PricePhase.objects.filter(pk=phase.pk).update(stripe_price_id=f"price_bench_{n}")
    invoices = []
    for n in range(sample):
        phase = phases[n % len(phases)]
        inv = finalized_invoice(
            f"in_bench_mirror_{n}",
            "x",
            price=f"price_bench_{n % len(phases)}",
            quantity=10,
            unit=1000,
            month=1 + n % 6,
            status="paid",
        )
        inv["customer"] = f"cus_bench_{phase.line.contract.account_id}"
        invoices.append(inv)
    with transaction.atomic():
        mirror.write(
            # Read now: newer than a previous run's copy, which the mirror would otherwise ask
            # Stripe about (the same stamp, other figures).
            object_type("invoices"),
            invoices,
            observed_at=datetime.now(UTC),
        )
    started = time.perf_counter()
    written = billed_ledger_rebuild().invoices
    seconds = time.perf_counter() - started
    print(
        f"\nMirror to ledger (reports_rebuild): {written:,} invoices of one line in "
        f"{seconds:.2f} s, {written / seconds:,.0f} invoices/s"
    )
    BilledInvoice.objects.all().delete()


MONTHLY_SUM = (
    "select substr(cast(finalized_on as text), 1, 7) as month, currency, sum(amount) as billed\n"
    "from reporting.invoice_lines where counted\n"
    "group by 1, 2 order by 1, 2"
)


def saved_query_speed(people: dict[str, Any], lines: int) -> None:
    """A question of finance's own through the reporting views: the month's billing per
    currency over every ledger line, as finance and as an account manager (the views' scope
    row, the reader's connection and the run's record included)."""
    from django.core.management import call_command

    from reports.saved_queries import query_run

    call_command("reports_query_setup", stdout=io.StringIO())
    print(f"\nSaved query through the reporting views, a monthly sum over {lines:,} lines:")
    for role, user in (("finance", people["finance"]), ("manager", people["managers"][1])):
        times, rows = [], 0
        for _ in range(5):
            started = time.perf_counter()
            result = query_run(user=user, sql=MONTHLY_SUM)
            times.append(time.perf_counter() - started)
            if result.outcome != "ok":
                sys.exit(f"refused: {result.message}")
            rows = len(result.rows)
        times.sort()
        print(
            f"  {role:<8} median {times[len(times) // 2] * 1000:7.0f} ms, "
            f"max {times[-1] * 1000:7.0f} ms, {rows} rows (months x currencies)"
        )


def main() -> None:
    global ROUNDS  # the one setting a run may change
    parser = argparse.ArgumentParser()
    parser.add_argument("--create-db", action="store_true")
    parser.add_argument(
        "--db-suffix", default="reports", help="the database: DATABASE_URL's name + _<suffix>"
    )
    parser.add_argument("--large", type=int, default=100_000, help="invoices (ten lines each)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="requests timed a page")
    parser.add_argument(
        "--saved-query-only", action="store_true", help="only the saved query at the large size"
    )
    args = parser.parse_args()
    ROUNDS = args.rounds
    if connection.vendor != "postgresql":
        sys.exit("The reports bench runs on PostgreSQL: set DATABASE_URL.")
    name = bench_database(args.db_suffix, rebuild=args.create_db)
    print(f"Database {name}; {ACCOUNTS:,} accounts, {MANAGERS} managers, {ITEMS} items.")
    print(f"Before: {machine_yardstick()}")
    people = world_ensure()
    if args.saved_query_only:
        ledger_fill(args.large)
        saved_query_speed(people, args.large * LINES_PER_INVOICE)
        return
    small_size = 2_000
    small = run(small_size, people)
    large = run(args.large, people)
    print(
        f"\n{'page':<32} {'role':<8} {small_size:>7,} invoices   {args.large:>9,} invoices"
        f"   {'time x':>6} {'queries':>8}"
    )
    for (role, page), big in large.items():
        little = small[(role, page)]
        print(
            f"{page:<32} {role:<8} {little['median']:7.0f} ms ({little['queries']:>2} q)"
            f"   {big['median']:7.0f} ms p95 {big['p95']:5.0f}"
            f"  {big['median'] / little['median']:5.1f}x"
            f"   {little['queries']:>3} -> {big['queries']:<3}"
        )
    print(f"After the pages: {machine_yardstick()}")
    saved_query_speed(people, args.large * LINES_PER_INVOICE)
    ledger_speed()
    ledger_fill(args.large)


if __name__ == "__main__":
    main()
