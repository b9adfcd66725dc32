"""Billed fairly's two ways to its rows give the same figures in the same order: Python's from
the sums (an export; everything on SQLite) and PostgreSQL's in one statement (a page). A
ledger written straight into the report tables, varied where the two could part: three
currencies of 0, 2 and 3 decimals, rates that end in a half at the seventh decimal, equal
rates, a quantity of nothing, lines without a contract price, credit notes, names that sort
differently by locale than by code point, two accounts of one name; ranges that cut months
and quarters."""

import csv
import io
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Count

from backoffice.roles import ACCOUNT_MANAGERS
from billing.catalog.models import CatalogItem
from billing.contracts.models import Contract
from billing.contracts.tests.factories import ContractFactory, ContractLineFactory
from customers.tests.factories import AccountFactory, UserFactory
from file_imports.cells import neutralised
from reports.billed_fairly import billed_fairly, rows_in_python, rows_in_sql
from reports.ledger import billed_months_rebuild
from reports.models import BilledInvoice, BilledLine, BilledYear
from reports.selectors import ReportFilters, report_reading
from reports.tests.world import paid_ledger_invoice

# Names that a locale's collation and code points order differently, markup and a formula.
NAMES = [
    "alpha",
    "Alpha",
    "Ärger",
    "Zeta",
    "beta",
    "Beta GmbH",
    "=SUM(A1)",
    "Same",
    "Same",
    "Østergaard",
    "de Vries",
    "Delta",
    "delta",
    "Account 1",
    "Account 10",
]
CURRENCIES = {"EUR": 2, "JPY": 0, "BHD": 3}
YEAR = date(2026, 1, 1)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(finance):
    """15 accounts of three managers, each with a contract of three lines of four items (the
    first three's third line of an item no one else buys), billed on random days of 2026: 45
    rows a year."""
    rng = random.Random(7)  # noqa: S311 - figures, not secrets
    managers = []
    for n in range(3):
        user = UserFactory(username=f"fair-am-{n}")
        user.groups.add(Group.objects.get(name=ACCOUNT_MANAGERS))
        managers.append(user)
    items = [
        CatalogItem.objects.create(code=f"item-{n}", name=f"Item {n}", unit_label="unit")
        for n in range(5)
    ]
    invoices, lines_billed = [], []
    for n, name in enumerate(NAMES):
        currency = list(CURRENCIES)[n % 3]
        places = CURRENCIES[currency]
        account = AccountFactory(
            legal_name=name, external_ref=f"CRM-F{n}", account_manager=managers[n % 3]
        )
        contract = ContractFactory(
            account=account,
            status=Contract.Status.ACTIVE,
            start_date=YEAR,
            end_date=date(2026, 12, 31),
            currency=currency,
        )
        lines = [
            ContractLineFactory(
                contract=contract,
                key=f"line-{k}",
                item=items[4] if n < 3 and k == 2 else items[(n + k) % 4],
            )
            for k in range(3)
        ]
        for month in range(1, 13):
            day = YEAR.replace(month=month) + timedelta(days=rng.randrange(28))
            invoice = paid_ledger_invoice(f"in_fair_{n}_{month}", account, currency, day)
            invoices.append(invoice)
            for k, line in enumerate(lines):
                quantity = Decimal(rng.choice([0, 1, 3, 7, 10, 128, 250]))
                unit = Decimal(rng.choice(["1", "9.99", "10", "10.5", "12.345"]))
                amount = (quantity * unit).quantize(Decimal(1).scaleb(-places))
                if quantity == 128 and k == 0:
                    amount = Decimal(1)  # 1/128 = 0.0078125: a half at the seventh decimal
                priced = rng.random() > 0.1
                lines_billed.append(
                    BilledLine(
                        invoice=invoice,
                        stripe_line_id=f"il_fair_{n}_{month}_{k}",
                        account=account,
                        currency=currency,
                        finalized_on=day,
                        counted=rng.random() > 0.05,
                        contract=contract,
                        contract_line=line,
                        item=line.item,
                        kind=rng.choice([BilledLine.Kind.RECURRING, BilledLine.Kind.USAGE]),
                        quantity=quantity if rng.random() > 0.05 else None,
                        amount=amount,
                        credited=amount / 4 if rng.random() < 0.1 else Decimal(0),
                        contract_amount=(quantity * Decimal("10")).quantize(
                            Decimal(1).scaleb(-places)
                        )
                        if priced
                        else None,
                        contract_quantity=quantity if priced else None,
                        list_unit_amount=Decimal("11.5"),
                    )
                )
    BilledInvoice.objects.bulk_create(invoices)  # their ids set on them, on both databases
    BilledLine.objects.bulk_create(lines_billed)
    billed_months_rebuild()
    return managers, items


RANGES = {
    "the year": (date(2026, 1, 1), date(2026, 12, 31)),
    "cut months and quarters": (date(2026, 2, 14), date(2026, 11, 20)),
    "a month": (date(2026, 5, 1), date(2026, 5, 31)),
}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's way to the rows")
@pytest.mark.parametrize("span", list(RANGES))
def test_the_database_and_python_give_the_same_rows(ledger, finance, span):
    managers, items = ledger
    start, end = RANGES[span]
    asked = [
        (finance, ReportFilters(start, end), Decimal("0.5")),
        (finance, ReportFilters(start, end), Decimal(0)),
        (finance, ReportFilters(start, end), Decimal(10)),
        (managers[1], ReportFilters(start, end), Decimal("0.5")),
        (finance, ReportFilters(start, end, currency="JPY"), Decimal("0.5")),
        (finance, ReportFilters(start, end, item_id=items[2].pk), Decimal("0.5")),
    ]
    seen = set()
    for user, filters, tolerance in asked:
        with report_reading():
            python = rows_in_python(user, filters, tolerance)
            sql, total = rows_in_sql(user, filters, tolerance, first=None)
            page, page_total = rows_in_sql(user, filters, tolerance, first=7)
        assert python, (span, filters)
        assert sql == python, (span, filters, tolerance)
        assert total == page_total == len(python)
        assert page == python[:7]
        seen |= {(r["flag"], r["median_rate"] is None) for r in python}
    # The ledger reaches every kind of row: each flag, with and without a median.
    if span == "the year":
        # The yearly sums alone answer the year, a contract line in two rows where it was
        # billed both as recurring and as usage: Python adds those up (repeats_added_up).
        repeated = (
            BilledYear.objects.values("contract_line").annotate(rows=Count("id")).filter(rows=2)
        )
        assert repeated.exists()
        assert {flag for flag, _ in seen} == {
            "over-billed",
            "under-billed",
            "",
            "no contract price",
        }
        assert {no_median for _, no_median in seen} == {True, False}


def test_a_half_at_the_seventh_decimal_rounds_away_from_zero(ledger, finance):
    """1.00 EUR for 128 units is 0.0078125 a unit: 0.007813, as on an invoice, not 0.007812."""
    line = BilledLine.objects.filter(quantity=128, amount=1, credited=0).first()
    assert line is not None
    day = line.finalized_on
    BilledLine.objects.filter(contract_line=line.contract_line).exclude(pk=line.pk).update(
        counted=False
    )
    billed_months_rebuild()
    that_day = ReportFilters(day, day)
    ways = [billed_fairly(finance, that_day).rows]
    if connection.vendor == "postgresql":
        with report_reading():
            ways.append(rows_in_sql(finance, that_day, Decimal("0.5"), first=None)[0])
    for rows in ways:
        (row,) = [r for r in rows if r["_drill"]["contract_line"] == line.contract_line_id]
        assert row["rate"] == Decimal("0.007813")


def test_billed_fairly_pages_hold_the_rows_the_export_holds_in_its_order(
    ledger, client, finance, monkeypatch
):
    """Ten rows a page (a hundred in use): page 3 shows rows 21 to 30 of the export's 45, in
    its order, with the count of them all; a page past the last shows the last."""
    monkeypatch.setattr("reports.pages.PAGE_ROWS", 10)
    monkeypatch.setattr("reports.admin.PAGE_ROWS", 10)
    client.force_login(finance)
    url = "/admin/reports/report/billed-fairly/?start=2026-01-01&end=2026-12-31"
    export = client.get(url + "&export=csv").content.decode("utf-8-sig")
    everyone = list(csv.reader(io.StringIO(export)))[1:]  # after the header
    third = client.get(url + "&page=3")
    text = third.content.decode()
    assert f"Rows 21 to 30 of {len(everyone)} (page 3 of 5)" in text
    shown = third.context["shown_page"].rows
    assert [(neutralised(r["account"]), r["line"]) for r in shown] == [
        (row[1], row[3]) for row in everyone[20:30]
    ]
    assert len(everyone) == 45
    for past in ("99", "9" * 30):
        last = client.get(url + "&page=" + past).content.decode()
        assert "Rows 41 to 45 of 45" in last
