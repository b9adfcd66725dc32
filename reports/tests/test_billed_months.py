"""The monthly, quarterly and yearly sums the reports add up (reports.models.BilledMonth,
BilledQuarter, BilledYear): kept with the ledger's lines through every write, the same as
adding up the lines again, and a range that cuts a year, a quarter or a month reads those
quarters and months from their sums and those days from the lines."""

import importlib
import io
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection, connections
from django.db.models import Count, Max, Sum
from django.db.models.functions import TruncMonth
from django.test.utils import CaptureQueriesContext

from billing.catalog.models import ListPrice
from billing.pricing import add_months
from reports.billed_fairly import billed_fairly
from reports.ledger import billed_months_rebuild
from reports.models import BilledInvoice, BilledLine, BilledMonth, BilledQuarter, BilledYear
from reports.selectors import (
    ReportFilters,
    billed_invoices,
    billed_lines,
    billed_sums,
    billed_sums_statement,
    repeats_added_up,
    report_reading,
    revenue,
)
from reports.tests.world import (
    billed_half_year,
    build_world,
    finalized_invoice,
    mirror_invoices,
    ts,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(stripe_standin, finance, manager, django_capture_on_commit_callbacks):
    built = build_world(finance, manager)
    with django_capture_on_commit_callbacks(execute=True):
        mirror_invoices(billed_half_year())
    return built


def sums(model: Any) -> list[tuple]:
    """Every row of a table of sums, as text, in order."""
    return sorted(
        tuple(str(v) for v in row)
        for row in model.objects.values_list(
            *(f.attname for f in model._meta.fields if f.name != "id")
        )
    )


def months() -> list[tuple]:
    return sums(BilledMonth)


def quarters() -> list[tuple]:
    return sums(BilledQuarter)


def years() -> list[tuple]:
    return sums(BilledYear)


def year(account: Any, first_day: date) -> BilledYear | None:
    return BilledYear.objects.filter(account=account, year=first_day).first()


def quarter(account: Any, first_day: date) -> BilledQuarter | None:
    return BilledQuarter.objects.filter(account=account, quarter=first_day).first()


def test_the_months_follow_each_write_as_adding_up_the_lines_again(
    world, django_capture_on_commit_callbacks
):
    kept, kept_quarters, kept_years = months(), quarters(), years()
    assert len(kept) == 5  # Bergmann March and April, Dupont, Tanaka, Fourth; the void none
    # Bergmann's March and April are two quarters; Dupont's March, Tanaka's May, Fourth's
    # January one each.
    assert len(kept_quarters) == 5
    assert len(kept_years) == 4  # one a contract line: all in 2026
    assert year(world.accounts["bergmann"], date(2026, 1, 1)).amount == Decimal("4200.000")
    assert quarter(world.accounts["bergmann"], date(2026, 4, 1)).amount == Decimal("2200.000")
    march = BilledMonth.objects.get(account=world.accounts["bergmann"], month=date(2026, 3, 1))
    assert (march.amount, march.contract_amount, march.lines) == (
        Decimal("2000.000"),
        Decimal("2000.000"),
        1,
    )
    # March voided, a June invoice for Dupont, May's void one paid after all.
    changed = {i["id"]: i for i in billed_half_year()}
    changed["in_berg_03"]["status"] = "void"
    changed["in_berg_03"]["amount_paid"] = changed["in_berg_03"]["amount_remaining"] = 0
    changed["in_berg_05"]["status"] = "paid"
    june = finalized_invoice(
        "in_dup_06",
        "dupont",
        price="price_dupont_2026",
        quantity=40,
        unit=1800,
        month=6,
        status="paid",
    )
    with django_capture_on_commit_callbacks(execute=True):
        mirror_invoices(
            [changed["in_berg_03"], changed["in_berg_05"], june],
            at=datetime(2026, 6, 14, 12, tzinfo=UTC),
        )
    assert not BilledMonth.objects.filter(
        account=world.accounts["bergmann"], month=date(2026, 3, 1)
    ).exists()
    assert BilledMonth.objects.get(
        account=world.accounts["bergmann"], month=date(2026, 5, 1)
    ).amount == Decimal("500.000")
    incremental = months()
    assert incremental != kept
    # The quarters follow their months: Bergmann's first quarter went with March, May's 500.00
    # joined April in the second, Dupont's June opened its second.
    assert quarter(world.accounts["bergmann"], date(2026, 1, 1)) is None
    assert quarter(world.accounts["bergmann"], date(2026, 4, 1)).amount == Decimal("2700.000")
    assert quarter(world.accounts["dupont"], date(2026, 4, 1)).amount == Decimal("720.000")
    incremental_quarters = quarters()
    assert incremental_quarters != kept_quarters
    # The year follows its quarters: Bergmann's without March, with May's 500.00.
    assert year(world.accounts["bergmann"], date(2026, 1, 1)).amount == Decimal("2700.000")
    incremental_years = years()
    assert incremental_years != kept_years
    billed_months_rebuild()
    assert (months(), quarters(), years()) == (incremental, incremental_quarters, incremental_years)
    out = io.StringIO()
    call_command("reports_rebuild", stdout=out)
    assert (months(), quarters(), years()) == (incremental, incremental_quarters, incremental_years)
    assert "6 row(s) of monthly sums, 5 of quarterly sums and 4 of yearly sums" in out.getvalue()


def test_a_credit_note_on_an_old_month_reaches_its_quarter(
    world, django_capture_on_commit_callbacks
):
    """150.00 credited in June on Bergmann's March invoice: the first quarter's sums say so,
    as adding them up again would."""
    from stripe_sync.mirror import Mirror
    from stripe_sync.object_types import object_type

    first_quarter = date(2026, 1, 1)
    assert quarter(world.accounts["bergmann"], first_quarter).credited == Decimal(0)
    note = {
        "id": "cn_berg_03",
        "object": "credit_note",
        "invoice": "in_berg_03",
        "customer": "cus_bergmann",
        "currency": "eur",
        "amount": 15000,
        "subtotal": 15000,
        "total": 15000,
        "created": ts(date(2026, 6, 10)),
        "effective_at": ts(date(2026, 6, 10)),
        "livemode": False,
        "memo": "Outage",
        "metadata": {},
        "number": "CN-1",
        "reason": "product_unsatisfactory",
        "status": "issued",
        "type": "post_payment",
        "voided_at": None,
        "lines": {"object": "list", "has_more": False, "data": []},
    }
    with django_capture_on_commit_callbacks(execute=True):
        Mirror().write(
            object_type("credit_notes"), [note], observed_at=datetime(2026, 6, 14, tzinfo=UTC)
        )
    credited = quarter(world.accounts["bergmann"], first_quarter)
    assert (credited.amount, credited.credited) == (Decimal("2000.000"), Decimal("150.000"))
    assert year(world.accounts["bergmann"], first_quarter).credited == Decimal("150.000")
    kept = (quarters(), years())
    billed_months_rebuild()
    assert (quarters(), years()) == kept


@pytest.mark.parametrize(
    ("migration", "fill", "forget", "model"),
    [
        (
            "0009_billed_quarters_from_months",
            "quarters_from_months",
            "quarters_forgotten",
            BilledQuarter,
        ),
        ("0011_billed_years_from_quarters", "years_from_quarters", "years_forgotten", BilledYear),
    ],
)
def test_the_migration_fills_the_sums_as_the_ledger_writes_them(
    world, migration, fill, forget, model
):
    """reports 0009 and 0011, which fill the quarters and the years of a ledger kept before
    them (from its months, its quarters) with the models of their time, write what the ledger
    would."""
    kept = sums(model)
    assert kept
    module = importlib.import_module(f"reports.migrations.{migration}")
    getattr(module, forget)(apps, SimpleNamespace(connection=connection))
    assert not model.objects.exists()
    getattr(module, fill)(apps, SimpleNamespace(connection=connection))
    assert sums(model) == kept


def test_a_range_that_cuts_months_reads_their_days_from_the_lines(
    world, finance, django_capture_on_commit_callbacks
):
    """15 March to 10 June: April and May whole, from the months; the invoices finalized on 1
    June from the lines; those of 1 March not at all. Bergmann 2,200.00 (April), Tanaka 170.00
    (May), Dupont 720.00 (40 of its 50 seats on 1 June, 180.00 short)."""
    june = finalized_invoice(
        "in_dup_06",
        "dupont",
        price="price_dupont_2026",
        quantity=40,
        unit=1800,
        month=6,
        status="paid",
    )
    with django_capture_on_commit_callbacks(execute=True):
        mirror_invoices([june], at=datetime(2026, 6, 14, 12, tzinfo=UTC))
    cut = ReportFilters(date(2026, 3, 15), date(2026, 6, 10))
    assert {r["group"]: r["amount"] for r in revenue(finance, cut).rows} == {
        "Bergmann": Decimal("2200.000"),
        "Tanaka": Decimal("170.000"),
        "Dupont": Decimal("720.000"),
    }
    assert revenue(finance, cut).chart["datasets"][0]["data"] == [0, 2200, 170, 720]
    rows = {r["account"]: r for r in billed_fairly(finance, cut).rows}
    assert (rows["Dupont"]["deviation"], rows["Dupont"]["contract_quantity"]) == (
        Decimal("-180.000"),
        Decimal("50.000"),
    )
    assert rows["Bergmann"]["flag"] == "over-billed"  # April at 22.00 for 20.00
    # Whole months alone: the same figures from the months as from the lines.
    whole = ReportFilters(date(2026, 4, 1), date(2026, 5, 31))
    assert {r["group"]: r["amount"] for r in revenue(finance, whole).rows} == {
        "Bergmann": Decimal("2200.000"),
        "Tanaka": Decimal("170.000"),
    }


def invoice_on(
    invoice_id: str,
    account: str,
    day: date,
    *,
    quantity: int,
    unit: int,
    status: str = "paid",
    months: int = 1,
) -> dict[str, Any]:
    """A finalized invoice of one seats line on `day`, billing `months` from its month's
    first day (the 2027 price from 2027: before 2026 no contract is in force)."""
    invoice = finalized_invoice(
        invoice_id,
        account,
        price=f"price_{account}_{2027 if day.year >= 2027 else 2026}",
        quantity=quantity,
        unit=unit,
        month=1,
        status=status,
    )
    start = date(day.year, day.month, 1)
    period = {"start": ts(start), "end": ts(add_months(start, months))}
    invoice["lines"]["data"][0]["period"] = period
    invoice.update(
        created=ts(day),
        due_date=ts(day + timedelta(days=30)),
        period_start=period["start"],
        period_end=period["end"],
    )
    invoice["status_transitions"].update(
        finalized_at=ts(day) + 3600,
        paid_at=ts(day) + 7200 if status == "paid" else None,
        voided_at=ts(day) + 7200 if status == "void" else None,
    )
    return invoice


@pytest.fixture
def spread(world, django_capture_on_commit_callbacks):
    """Invoices from November 2025 to March 2027 on the first, middle and last days of
    months, besides the world's first half of 2026: some before any contract is in force (no
    contract price), a quarter billed at once beside a month in the same month, one voided;
    the list price 21.00 until June 2026, 23.50 for the second half, 19.00 in 2027 (the
    highest of a range is no part's last)."""
    invoices = [
        invoice_on("in_s_01", "bergmann", date(2025, 11, 20), quantity=100, unit=2000),
        invoice_on("in_s_02", "bergmann", date(2025, 12, 31), quantity=90, unit=2000),
        invoice_on("in_s_03", "dupont", date(2026, 1, 1), quantity=50, unit=1800, months=3),
        invoice_on("in_s_04", "dupont", date(2026, 1, 15), quantity=5, unit=1800),
        invoice_on("in_s_05", "tanaka", date(2026, 2, 28), quantity=10, unit=1900),
        invoice_on("in_s_06", "bergmann", date(2026, 3, 31), quantity=100, unit=2100),
        invoice_on("in_s_07", "fourth", date(2026, 4, 1), quantity=10, unit=2500),
        invoice_on("in_s_08", "fourth", date(2026, 5, 15), quantity=12, unit=2500, status="void"),
        invoice_on("in_s_09", "dupont", date(2026, 5, 15), quantity=50, unit=1750),
        invoice_on("in_s_10", "dupont", date(2026, 6, 30), quantity=50, unit=1800, months=3),
        invoice_on("in_s_11", "tanaka", date(2026, 7, 1), quantity=10, unit=1900),
        invoice_on("in_s_12", "tanaka", date(2026, 8, 20), quantity=11, unit=1900),
        invoice_on("in_s_13", "bergmann", date(2026, 9, 30), quantity=100, unit=2000),
        invoice_on("in_s_14", "dupont", date(2026, 10, 15), quantity=50, unit=1800),
        invoice_on("in_s_15", "fourth", date(2026, 11, 30), quantity=10, unit=2600),
        invoice_on("in_s_16", "bergmann", date(2026, 12, 1), quantity=100, unit=2000),
        invoice_on("in_s_17", "bergmann", date(2027, 1, 15), quantity=100, unit=2200),
        invoice_on("in_s_18", "dupont", date(2027, 2, 14), quantity=50, unit=2000),
        invoice_on("in_s_19", "tanaka", date(2027, 3, 31), quantity=10, unit=2100),
    ]
    for price, batch in (
        ("21.00", invoices[:10]),
        ("23.50", invoices[10:16]),
        ("19.00", invoices[16:]),
    ):
        ListPrice.objects.update_or_create(
            item=world.seats, currency="EUR", defaults={"unit_amount": Decimal(price)}
        )
        with django_capture_on_commit_callbacks(execute=True):
            mirror_invoices(batch)
    return world


# Each measure as the lines add it up, written apart from billed_sums' own.
FROM_THE_LINES = {
    "quantity": Sum("quantity"),
    "amount": Sum("amount"),
    "credited": Sum("credited"),
    "at_contract": Sum("contract_amount"),
    "committed": Sum("contract_quantity"),
    "priced": Count("contract_amount"),
    "lines_billed": Count("id"),
    "list_unit": Max("list_unit_amount"),
}


FAIRLY = {  # billed fairly's question of billed_sums
    "group": ["currency", "account_id", "contract_id", "contract_line_id", "item_id"],
    "measures": list(FROM_THE_LINES),
    "kind__in": [BilledLine.Kind.RECURRING, BilledLine.Kind.USAGE],
    "contract_line__isnull": False,
}
REVENUE = {"group": ["currency", "account_id"], "measures": ["amount", "credited", "lines_billed"]}
BY_PERIOD = {"group": ["currency", "period_start"], "measures": ["amount", "priced"]}
MONTHLY = {"group": ["currency"], "measures": ["amount"], "by_month": True, "currency": "EUR"}
RANGES = {
    "mid-quarter and mid-month at both ends": (date(2026, 2, 15), date(2026, 8, 20)),
    "exactly one quarter": (date(2026, 4, 1), date(2026, 6, 30)),
    "whole quarters across a year's end": (date(2025, 10, 1), date(2027, 3, 31)),
    "quarters across a year's end, months cut": (date(2025, 11, 10), date(2027, 2, 14)),
    "a quarter with a day either side": (date(2026, 3, 31), date(2026, 7, 1)),
    "whole months, no whole quarter": (date(2026, 2, 1), date(2026, 3, 31)),
    "a single day": (date(2026, 5, 15), date(2026, 5, 15)),
    "a month's first day": (date(2026, 4, 1), date(2026, 4, 1)),
    "billed fairly's default": (date(2026, 1, 1), date(2026, 12, 3)),
    "a whole year": (date(2026, 1, 1), date(2026, 12, 31)),
    "a year less its last day": (date(2026, 1, 1), date(2026, 12, 30)),
    "twelve months on past the ledger's last day": (date(2026, 4, 15), date(2027, 4, 14)),
    "from before the ledger's first day": (date(2020, 1, 1), date(2026, 8, 20)),
    "the whole ledger and more": (date(2000, 1, 1), date(2099, 12, 31)),
    "a year ending on the ledger's last day": (date(2026, 4, 1), date(2027, 3, 31)),
}


def added_up_from_the_lines(
    user: Any, filters: ReportFilters, group: list[str], measures: list[str], **where: Any
) -> dict[tuple, tuple]:
    by_month = where.pop("by_month", False)
    lines = billed_lines(user, filters).filter(**where)
    keys = group
    if by_month:
        lines, keys = lines.annotate(month=TruncMonth("finalized_on")), [*group, "month"]
    return {
        tuple(r[k] for k in keys): tuple(r[m] for m in measures)
        for r in lines.values(*keys).annotate(**{m: FROM_THE_LINES[m] for m in measures})
    }


def as_read(rows: list[dict[str, Any]], keys: list[str], measures: list[str]) -> dict:
    def plain(value: Any) -> Any:
        return value.date() if isinstance(value, datetime) else value

    return {tuple(plain(r[k]) for k in keys): tuple(r[m] for m in measures) for r in rows}


@pytest.mark.parametrize("span", RANGES)
@pytest.mark.parametrize("question", [FAIRLY, REVENUE, BY_PERIOD, MONTHLY], ids=repr)
def test_the_sums_of_any_range_are_the_lines_added_up(spread, finance, span, question):
    """Whole quarters from the quarters, other whole months from the months, the days that
    cut a month from the lines, or the months alone when the question asks for the period or
    the month: the same figures, whichever range."""
    filters = ReportFilters(*RANGES[span])
    where = dict(question)
    group, measures = where.pop("group"), where.pop("measures")
    keys = [*group, "month"] if where.get("by_month") else group
    expected = added_up_from_the_lines(finance, filters, group, measures, **where)
    assert expected
    assert as_read(billed_sums(finance, filters, group, measures, **where), keys, measures) == (
        expected
    )


# The ranges one year's or one quarter's sums alone answer, in the spread ledger.
ONE_PERIOD = {"exactly one quarter", "a whole year"}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statement")
@pytest.mark.parametrize("span", RANGES)
def test_billed_fairlys_statement_leaves_one_periods_sums_ungrouped_and_adds_up_the_same(
    spread, finance, span
):
    """Billed fairly's export: where one year's, quarter's or month's sums alone answer the
    range, its statement reads their rows as they are and Python adds up a key's repeats;
    over more than one period, or with lines, the database groups them. Either way, the
    lines added up."""
    filters = ReportFilters(*RANGES[span])
    group, measures = FAIRLY["group"], FAIRLY["measures"]
    where = {k: v for k, v in FAIRLY.items() if k not in ("group", "measures")}
    sql, params = billed_sums_statement(finance, filters, group, measures, repeats=True, **where)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = repeats_added_up(cursor.fetchall(), len(group), measures)
    read = [dict(zip([*group, *measures], row, strict=True)) for row in rows]
    assert len(read) == len({tuple(r[k] for k in group) for r in read})  # each key once
    assert as_read(read, group, measures) == added_up_from_the_lines(
        finance, filters, group, measures, **where
    )
    assert ("GROUP BY" not in sql) == (span in ONE_PERIOD)


def test_an_account_managers_sums_and_the_filters_keep_to_their_accounts(spread, manager):
    """As an account manager (Bergmann's), and filtered to an account of another manager's,
    over quarters and months: what the lines say."""
    group, measures = FAIRLY["group"], FAIRLY["measures"]
    where = {k: v for k, v in FAIRLY.items() if k not in ("group", "measures")}
    for filters in (
        ReportFilters(date(2025, 11, 10), date(2027, 2, 14)),
        ReportFilters(
            date(2025, 10, 1), date(2027, 3, 31), account_id=spread.accounts["dupont"].pk
        ),
    ):
        assert as_read(
            billed_sums(manager, filters, group, measures, **where), group, measures
        ) == (added_up_from_the_lines(manager, filters, group, measures, **where))
    assert billed_sums(
        manager, ReportFilters(date(2026, 4, 1), date(2026, 6, 30)), ["account_id"], ["amount"]
    ) == [{"account_id": spread.accounts["bergmann"].pk, "amount": Decimal("2200.000")}]


def tables_read(filters: ReportFilters, finance: Any, **question: Any) -> list[set[str]]:
    """The ledger's sums and lines each of billed_sums' queries reads, but for the one that
    asks the ledger's first and last day."""
    where = dict(question)
    group, measures = where.pop("group"), where.pop("measures")
    with CaptureQueriesContext(connection) as queries:
        billed_sums(finance, filters, group, measures, **where)
    read = [
        {
            table
            for table in ("billedyear", "billedquarter", "billedmonth", "billedline")
            if f"reports_{table}" in q["sql"]
        }
        for q in queries.captured_queries
        if "MIN(" not in q["sql"]
    ]
    return [tables for tables in read if tables]  # not the permission checks


def test_billed_fairly_reads_the_largest_sums_in_as_many_queries_whatever_the_range(
    spread, finance
):
    """A range of sixteen months reads in as many queries as one of six (one on PostgreSQL,
    a table each on SQLite): the whole year, else the quarters, the months either side of
    them, and the days that cut a month. One quarter reads the quarters alone; a year to the
    ledger's last day (1 January to 31 March 2027, or on past it) and a range from before its
    first day read the years alone; a question of the billing period or the month reads the
    months instead."""
    six = ReportFilters(date(2026, 2, 15), date(2026, 8, 20))
    sixteen = ReportFilters(date(2025, 11, 10), date(2027, 2, 14))
    read = tables_read(six, finance, **FAIRLY)
    assert set().union(*read) == {"billedquarter", "billedmonth", "billedline"}
    assert len(read) == (1 if connection.vendor == "postgresql" else 3)
    across = tables_read(sixteen, finance, **FAIRLY)
    assert set().union(*across) == {"billedyear", "billedmonth", "billedline"}
    assert len(across) == len(read)
    one_quarter = ReportFilters(date(2026, 4, 1), date(2026, 6, 30))
    assert tables_read(one_quarter, finance, **FAIRLY) == [{"billedquarter"}]
    for years_alone in (
        ReportFilters(date(2027, 1, 1), date(2027, 3, 31)),
        ReportFilters(date(2027, 1, 1), date(2027, 12, 3)),
        ReportFilters(date(2019, 6, 1), date(2026, 12, 31)),
    ):
        assert tables_read(years_alone, finance, **FAIRLY) == [{"billedyear"}]
    for question in (BY_PERIOD, MONTHLY):
        assert set().union(*tables_read(sixteen, finance, **question)) == {
            "billedmonth",
            "billedline",
        }


def test_counts_are_whole_numbers_whichever_part_they_come_from(spread, finance):
    """The lines billed and priced of quarters, months and days together: integers, as the
    pages and exports show a count."""
    filters = ReportFilters(date(2026, 2, 15), date(2026, 8, 20))
    rows = billed_sums(finance, filters, ["account_id"], ["priced", "lines_billed"])
    assert {type(r[m]) for r in rows for m in ("priced", "lines_billed")} == {int}


@pytest.mark.django_db(transaction=True)
def test_a_report_reads_one_snapshot_of_the_ledger(finance):
    """An invoice written while a report is being worked out (here between two of its
    statements, by another connection) counts in none of its figures: the ledger's last day,
    the sums that trust it and the rows agree. The next report counts it."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's demo has one writer at a time; PostgreSQL's reports a snapshot")
    filters = ReportFilters(date(2026, 1, 1), date(2026, 12, 31))

    def invoice(number: int) -> None:
        BilledInvoice.objects.create(
            stripe_invoice_id=f"in_snapshot_{number}",
            currency="eur",
            status=BilledInvoice.Status.PAID,
            finalized_on=date(2026, 6, 1),
            subtotal=Decimal(100),
            tax=Decimal(0),
            total=Decimal(100),
            amount_due=Decimal(100),
            amount_paid=Decimal(100),
            amount_remaining=Decimal(0),
        )

    def elsewhere() -> None:  # another connection, committed at once
        try:
            invoice(2)
        finally:
            connections.close_all()

    invoice(1)
    with report_reading():
        assert billed_invoices(finance, filters).count() == 1
        writer = threading.Thread(target=elsewhere)
        writer.start()
        writer.join()
        assert billed_invoices(finance, filters).count() == 1
    assert billed_invoices(finance, filters).count() == 2
