"""The speed of the contract imports, against a plain COPY and django-import-export's default.

Imports, as finance would (preview, then confirm), 1,000 accounts, their 2,000 contracts and
the contracts' 10,000 lines (a three-year seat ramp, tiered API usage and a flat support fee
each, in USD, EUR, GBP, JPY and BHD), with every check and the audit history, and prints rows
per second for each step. In the same run, the same 10,000 line rows go:

- through PostgreSQL's COPY into a scratch table of text columns: the floor, no checks at all;
- through django-import-export's default row-by-row import (`ModelResource.import_data`,
  preview then confirm) into a scratch table of typed columns: no contract rules, no history.

Then the same lines file again (every row unchanged), and the peak memory of a 100,000-line
file (`--large`, 0 to skip), previewed and confirmed.

Runs in a throwaway database of its own (created once, then kept: `--create-db` rebuilds it),
named after DATABASE_URL's (`<name>_contract_import`), on PostgreSQL when DATABASE_URL is set:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/backoffice make bench-import
    DATABASE_URL=... .venv/bin/python bench/contract_import.py [--create-db] [--large 100000]

About a minute for 10,000 lines, three more for 100,000.
"""

import argparse
import csv
import io
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

import django

django.setup()

from django.db import connection, models

from bench.database import bench_database

LINE_ROWS_PER_CONTRACT = 5
# currency, country, seat price a year, tiers of API usage, support fee a billing period
CURRENCIES = (
    ("USD", "US", "30.00", "1-1000000: 0.002 + 100 flat; 1000001-: 0.001", "1500"),
    ("EUR", "DE", "28.00", "1-1000000: 0.002 + 90 flat; 1000001-: 0.001", "1400"),
    ("GBP", "GB", "24.00", "1-1000000: 0.0016 + 80 flat; 1000001-: 0.0008", "1200"),
    ("JPY", "JP", "4000", "1-1000000: 0.3 + 15000 flat; 1000001-: 0.15", "220000"),
    ("BHD", "BH", "11.310", "1-1000000: 0.0008 + 37.700 flat; 1000001-: 0.0004", "565.500"),
)
FREQUENCIES = ("Monthly", "Quarterly", "Annual")


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


def files(contracts: int) -> dict[str, bytes]:
    """Accounts (one per two contracts), contracts, and five line rows per contract."""
    accounts = [["external_ref", "legal_name", "billing_country", "default_currency"]]
    terms = [
        [
            "number",
            "account",
            "currency",
            "start_date",
            "end_date",
            "auto_renew",
            "renewal_term_months",
            "billing_frequency",
            "payment_terms_days",
            "po_number",
        ]
    ]
    lines = [
        [
            "contract",
            "line",
            "item",
            "description",
            "pricing_model",
            "metric",
            "phase_start",
            "phase_end",
            "quantity",
            "unit_amount",
            "flat_amount",
            "included_units",
            "tiers",
        ]
    ]
    for n in range(contracts):
        currency, country, seat, tiers, support = CURRENCIES[(n // 2) % len(CURRENCIES)]
        ref, number = f"BENCH-{n // 2:06d}", f"B-2026-{n:06d}"
        if n % 2 == 0:
            accounts.append([ref, f"Bench Customer {n // 2} Ltd", country, currency])
        terms.append(
            [
                number,
                ref,
                currency,
                "2026-01-01",
                "2028-12-31",
                "yes",
                "12",
                FREQUENCIES[n % 3],
                "Net 30",
                f"PO-{n}",
            ]
        )
        for year, quantity in ((2026, 50 + n % 50), (2027, 80 + n % 50), (2028, 120 + n % 50)):
            lines.append(
                [
                    number,
                    "seats",
                    "seats" if year == 2026 else "",
                    "Seats" if year == 2026 else "",
                    "per_unit" if year == 2026 else "",
                    "",
                    f"{year}-01-01",
                    f"{year}-12-31",
                    str(quantity),
                    seat,
                    "0",
                    "0",
                    "",
                ]
            )
        lines.append(
            [number, *f"api,api-calls,API,graduated,api_calls,,,0,0,0,0,{tiers}".split(",")]
        )
        lines.append([number, *f"support,support,Support,flat,,,,0,0,{support},0,".split(",")])
    return {
        "accounts": csv_bytes(accounts),
        "contracts": csv_bytes(terms),
        "lines": csv_bytes(lines),
    }


def wipe() -> None:
    """Every table the imports write, emptied, so that each run starts from the same place."""
    from billing.contracts.models import Contract, ContractLine, PricePhase, PriceTier
    from customers.models import Account, Contact, TaxId

    tables = []
    for model in (PriceTier, PricePhase, ContractLine, Contract, Contact, TaxId, Account):
        tables += [model._meta.db_table, model.history.model._meta.db_table]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - our own table names


def peak_mb() -> float:
    # ru_maxrss is in kilobytes on Linux: the process's peak resident memory so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, rows: int, action: Any) -> float:
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    print(
        f"  {label:<44} {rows:>7,} rows {seconds:7.2f} s {rows / seconds:9,.0f} rows/s", flush=True
    )
    return seconds


def our_import(name: str, data: bytes, user: Any, *, dry_run: bool) -> None:
    """The file through django-import-export's format and our Resource's import_data, as the
    admin's import page runs it (file_imports.engine.run_import)."""
    from file_imports.engine import run_import
    from file_imports.registry import resources

    report = run_import(
        resources()[name], data, user=user, filename=f"bench-{name}.csv", dry_run=dry_run
    )
    if not report.ok:
        raise SystemExit("\n".join(list(report.lines())[:20]))


def copy_floor(data: bytes) -> None:
    """The rows into a table of text columns with COPY: what the database alone costs."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy_lines")
        header = data.split(b"\r\n", 1)[0].decode().split(",")
        cursor.execute(f"CREATE TABLE bench_copy_lines ({', '.join(f'{c} text' for c in header)})")
        with cursor.cursor.copy("COPY bench_copy_lines FROM STDIN (FORMAT csv, HEADER)") as copy:
            copy.write(data)


class ScratchLine(models.Model):
    """The line rows as plain typed columns, for django-import-export's default import."""

    contract = models.CharField(max_length=32)
    line = models.CharField(max_length=40)
    item = models.CharField(max_length=64)
    description = models.CharField(max_length=200, blank=True)
    pricing_model = models.CharField(max_length=16)
    metric = models.CharField(max_length=64, blank=True)
    phase_start = models.DateField(null=True, blank=True)
    phase_end = models.DateField(null=True, blank=True)
    quantity = models.PositiveIntegerField(default=0)
    unit_amount = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    flat_amount = models.DecimalField(max_digits=20, decimal_places=3, default=0)
    included_units = models.PositiveBigIntegerField(default=0)
    tiers = models.TextField(blank=True)

    class Meta:
        app_label = "billing"
        db_table = "bench_scratch_line"
        managed = False
        # Its key indexed, as ours are: without it each row's lookup reads the whole table.
        indexes = [models.Index(fields=["contract", "line", "phase_start"], name="bench_key")]

    def __str__(self) -> str:
        return f"{self.contract} {self.line} {self.phase_start}"


def library_import(data: bytes, *, dry_run: bool) -> None:
    """django-import-export as its admin runs it: row by row, keyed like ours."""
    import tablib
    from import_export import resources

    class ScratchLineResource(resources.ModelResource):
        class Meta:
            model = ScratchLine
            import_id_fields = ("contract", "line", "phase_start")
            exclude = ("id",)

    dataset = tablib.Dataset().load(data.decode(), format="csv")
    result = ScratchLineResource().import_data(dataset, dry_run=dry_run, raise_errors=True)
    if result.has_errors() or result.has_validation_errors():
        raise SystemExit("django-import-export refused the rows")


def scratch_table_reset() -> None:
    with connection.schema_editor() as editor:
        if "bench_scratch_line" in connection.introspection.table_names():
            editor.delete_model(ScratchLine)
        editor.create_model(ScratchLine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--create-db", action="store_true", help="rebuild the bench database")
    parser.add_argument("--contracts", type=int, default=2_000, help="contracts (5 lines each)")
    parser.add_argument(
        "--large", type=int, default=100_000, help="lines of the memory run (0: skip it)"
    )
    args = parser.parse_args()

    from demo.contracts import demo_catalog_ensure
    from demo.users import demo_users_ensure

    bench_db = bench_database("contract_import", rebuild=args.create_db)
    print(f"database: {connection.vendor} ({bench_db})")
    try:
        finance = next(u for u in demo_users_ensure(password="bench") if u.username == "finance")
        demo_catalog_ensure()
        wipe()
        data = files(args.contracts)
        lines = args.contracts * LINE_ROWS_PER_CONTRACT
        accounts, contracts = args.contracts // 2, args.contracts
        print(
            f"files: {accounts:,} accounts, {contracts:,} contracts, {lines:,} contract lines "
            f"({len(data['lines']) / 1e6:.1f} MB); memory so far {peak_mb():.0f} MB"
        )
        print("our import (every check, the audit history):")
        for resource_name, rows in (("accounts", accounts), ("contracts", contracts)):
            for step, dry in (("preview", True), ("confirm", False)):
                timed(
                    f"{resource_name} {step}",
                    rows,
                    lambda n=resource_name, d=dry: our_import(n, data[n], finance, dry_run=d),
                )
        preview = timed(
            "contract lines preview",
            lines,
            lambda: our_import("contract_lines", data["lines"], finance, dry_run=True),
        )
        confirm = timed(
            "contract lines confirm",
            lines,
            lambda: our_import("contract_lines", data["lines"], finance, dry_run=False),
        )
        ours = preview + confirm
        print(
            f"  {'contract lines preview + confirm':<44} {lines:>7,} rows {ours:7.2f} s "
            f"{lines / ours:9,.0f} rows/s  (target: under 8 s)"
        )
        timed(
            "contract lines again, all unchanged",
            lines,
            lambda: our_import("contract_lines", data["lines"], finance, dry_run=False),
        )
        print("the same line rows elsewhere:")
        floor = (
            timed("COPY into a scratch table (the floor)", lines, lambda: copy_floor(data["lines"]))
            if connection.vendor == "postgresql"
            else None
        )
        scratch_table_reset()
        library = timed(
            "django-import-export preview",
            lines,
            lambda: library_import(data["lines"], dry_run=True),
        ) + timed(
            "django-import-export confirm",
            lines,
            lambda: library_import(data["lines"], dry_run=False),
        )
        print(
            f"  {'django-import-export preview + confirm':<44} {lines:>7,} rows {library:7.2f} s "
            f"{lines / library:9,.0f} rows/s"
        )
        print(
            f"ours is {library / ours:.1f}x faster than django-import-export's default"
            + (f", and {ours / floor:.0f}x the COPY floor" if floor else "")
            + "."
        )
        if args.large:
            large_contracts = args.large // LINE_ROWS_PER_CONTRACT
            wipe()
            data = files(large_contracts)
            for resource_name in ("accounts", "contracts"):
                our_import(resource_name, data[resource_name], finance, dry_run=False)
            before = peak_mb()
            print(
                f"memory run: {args.large:,} lines ({len(data['lines']) / 1e6:.1f} MB), "
                f"{large_contracts:,} contracts; peak so far {before:.0f} MB"
            )
            timed(
                "contract lines preview",
                args.large,
                lambda: our_import("contract_lines", data["lines"], finance, dry_run=True),
            )
            timed(
                "contract lines confirm",
                args.large,
                lambda: our_import("contract_lines", data["lines"], finance, dry_run=False),
            )
            print(f"  peak memory {peak_mb():.0f} MB (it was {before:.0f} MB before the lines)")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_copy_lines")
            cursor.execute("DROP TABLE IF EXISTS bench_scratch_line")
        connection.close()


if __name__ == "__main__":
    main()
