"""The finance reports, read from the ledger (reports.models): each a function of who asks and
the filters, returning a table (and a chart's series) that the page shows and the exports
write. An account manager's reports hold only their own accounts' invoices, whatever the
filters say: every report starts from `billed_invoices` or `billed_lines` below.

Amounts are never added across currencies: each figure is per currency.
"""

import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from operator import itemgetter
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DateField,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, TruncMonth

from backoffice.models import User
from billing.catalog.models import CatalogItem
from billing.contracts.models import Contract
from billing.money import quantize
from billing.pricing import add_months
from customers.models import Account
from customers.selectors import VIEW_ALL_ACCOUNTS
from reports.models import (
    BilledInvoice,
    BilledLine,
    BilledMonth,
    BilledQuarter,
    BilledYear,
    ContractedMonth,
)

ZERO = Decimal(0)


@dataclass(frozen=True)
class ReportFilters:
    start: date
    end: date  # included
    currency: str = ""
    country: str = ""
    manager_id: int | None = None
    item_id: int | None = None
    account_id: int | None = None


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    kind: str = "text"  # text, money, rate, number, percent, date


class ColumnRows(Sequence[dict[str, Any]]):
    """A report's rows held column by column (a list of values per key), each row's
    dictionary made only when it is asked for: a page shows a hundred of ten thousand, and
    the exports read the columns as they are (column_values). Ten thousand dictionaries of
    eighteen keys, made and then read back a key at a time, took a third of an export.
    `drill`: the keys of a row's "_drill" (the filters of the page behind it), each from
    the column named beside it, which a row does not show."""

    def __init__(self, columns: dict[str, list[Any]], drill: dict[str, str] | None = None):
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"Columns of different lengths: {sorted(lengths)}")
        self.columns = columns
        self.drill = drill or {}
        hidden = set(self.drill.values())
        self.shown = [key for key in columns if key not in hidden]
        self.length = lengths.pop() if lengths else 0

    def __len__(self) -> int:
        return self.length

    def row(self, index: int) -> dict[str, Any]:
        columns = self.columns
        row = {key: columns[key][index] for key in self.shown}
        if self.drill:
            row["_drill"] = {name: columns[key][index] for name, key in self.drill.items()}
        return row

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return ColumnRows(
                {key: values[index] for key, values in self.columns.items()}, self.drill
            )
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(index)
        return self.row(index)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self.row, range(self.length))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


def column_values(rows: Sequence[dict[str, Any]], key: str) -> list[Any]:
    """Each row's value of `key`, None where a row has none. Of rows held by column, the
    column itself, not a copy: read it, never change it."""
    if isinstance(rows, ColumnRows):
        return rows.columns.get(key) or [None] * len(rows)
    try:
        return list(map(itemgetter(key), rows))  # a seventh quicker than row.get(key)
    except KeyError:
        return [row.get(key) for row in rows]


@dataclass
class Table:
    columns: list[Column]
    # A row a dictionary; "currency" prices money cells.
    rows: Sequence[dict[str, Any]] = field(default_factory=list)
    # Chart series: {"labels": [...], "datasets": [{"label": ..., "data": [...]}], "title": ...}
    chart: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    # How many rows the report has, where `rows` holds only the first of them (a page's and
    # those before it); None: `rows` holds them all.
    total: int | None = None


@contextmanager
def report_reading() -> Iterator[None]:
    """A report's queries in one transaction that reads one snapshot of the ledger and lets
    PostgreSQL group a year's sums in memory. One snapshot (repeatable read, read only): an
    invoice written between two of a report's statements cannot count in one and not in the
    next (the ledger's last day and the sums that trust it, the rows and everyone's rates for
    the medians). 64 MB of work_mem for this transaction only: the default 4 MB spills the
    sort to disk (billed fairly's grouping of 120,000 monthly sums: 150 ms, 97 ms with 64 MB).
    Inside a transaction already begun (a test's) the snapshot is that transaction's."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                if outermost:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute("SET LOCAL work_mem = '64MB'")
        yield


def _scoped(queryset: QuerySet[Any], user: User, filters: ReportFilters) -> QuerySet[Any]:
    """Only what the person may see (an account manager: their own accounts), and what the
    filters keep: of anything with an account and a currency (invoices, lines, contracts)."""
    if not user.has_perm(VIEW_ALL_ACCOUNTS):
        queryset = queryset.filter(account__account_manager=user)
    if filters.currency:
        queryset = queryset.filter(currency=filters.currency)
    if filters.country:
        queryset = queryset.filter(account__billing_country=filters.country)
    if filters.manager_id:
        queryset = queryset.filter(account__account_manager_id=filters.manager_id)
    if filters.account_id:
        queryset = queryset.filter(account_id=filters.account_id)
    return queryset


def billed_invoices(user: User, filters: ReportFilters) -> QuerySet[BilledInvoice]:
    return _scoped(BilledInvoice.objects.all(), user, filters)


def billed_lines(user: User, filters: ReportFilters) -> QuerySet[BilledLine]:
    """The lines counted as billed (not on a void invoice) finalized in the range."""
    lines = _scoped(BilledLine.objects.filter(counted=True), user, filters).filter(
        finalized_on__gte=filters.start, finalized_on__lte=filters.end
    )
    if filters.item_id:
        lines = lines.filter(item_id=filters.item_id)
    return lines


def _whole_months(start: date, end: date) -> tuple[date, date] | None:
    """The first and last month wholly inside the days `start` to `end`, if any."""
    first = date(start.year, start.month, 1)
    if first < start:
        first = add_months(first, 1)
    after = add_months(date(end.year, end.month, 1), 1)  # after end's month
    last = add_months(after, -1 if end == after - timedelta(days=1) else -2)
    return (first, last) if first <= last else None


def _as_the_ledger_reads(filters: ReportFilters) -> tuple[date, date]:
    """The range's first and last day, each moved to its year's first or last as the ledger
    allows without a line more or less: a range that starts on or before the ledger's first
    day starts on 1 January, one that ends on or after its last day ends on 31 December. The
    last twelve months, or the year to date, then hold the current year whole (its sums: a
    row a contract line) instead of its quarters and months, which hold nothing after the
    ledger's last day."""
    start, end = filters.start, filters.end
    days = BilledLine.objects.aggregate(first=Min("finalized_on"), last=Max("finalized_on"))
    if days["first"] is not None and start <= days["first"]:
        start = BilledYear.year_of(start)
    if days["last"] is not None and end >= days["last"]:
        end = date(end.year, 12, 31)
    return start, end


Span = tuple[date, date]  # months: the first, and the one after the last


def _whole_periods(first: date, after: date) -> dict[str, list[Span]]:
    """The months from `first` to before `after` as whole years, then whole quarters of what
    is left either side, then the months left: each level's spans, the fewest rows to add
    up (a year a row where it had twelve months)."""
    periods: dict[str, list[Span]] = {"year": [], "quarter": [], "month": []}
    years = (BilledYear.year_of(add_months(first, 11)), BilledYear.year_of(after))
    left = [(first, after)]
    if years[0] < years[1]:
        periods["year"].append(years)
        left = [(first, years[0]), (years[1], after)]
    for begin, stop in left:
        quarters = (BilledQuarter.quarter_of(add_months(begin, 2)), BilledQuarter.quarter_of(stop))
        if quarters[0] < quarters[1]:
            periods["quarter"].append(quarters)
            periods["month"] += [(begin, quarters[0]), (quarters[1], stop)]
        else:
            periods["month"].append((begin, stop))
    periods["month"] = [(begin, stop) for begin, stop in periods["month"] if begin < stop]
    return periods


# What a report adds up, over the lines and over the monthly, quarterly and yearly sums
# (reports.models.BilledMonth, BilledQuarter, BilledYear): name: (a line's figure, the sums'
# column, how both add up).
MEASURES: dict[str, tuple[Any, str, type[Sum] | type[Max]]] = {
    "quantity": (F("quantity"), "quantity", Sum),
    "amount": (F("amount"), "amount", Sum),
    "credited": (F("credited"), "credited", Sum),
    "at_contract": (F("contract_amount"), "contract_amount", Sum),
    "committed": (F("contract_quantity"), "contract_quantity", Sum),
    "priced": (
        Case(When(contract_amount__isnull=False, then=Value(1)), default=Value(0)),
        "priced",
        Sum,
    ),
    "lines_billed": (Value(1), "lines", Sum),
    "list_unit": (F("list_unit_amount"), "list_unit_amount", Max),
}
# What the quarterly and yearly sums keep: a grouping or condition on anything else (the
# billing period, the month) is answered by the months.
QUARTER_FIELDS = frozenset(
    name
    for f in BilledQuarter._meta.concrete_fields
    if f.name not in ("id", "quarter")
    for name in (f.name, f.attname)
)
# Each level's period in months.
PERIOD_MONTHS = {"year": 12, "quarter": 3, "month": 1}
# Each level of sums by the name of its period field, the largest first.
SUMS_BY_PERIOD: dict[str, type[BilledYear | BilledQuarter | BilledMonth]] = {
    "year": BilledYear,
    "quarter": BilledQuarter,
    "month": BilledMonth,
}


def billed_sums(
    user: User | None,
    filters: ReportFilters,
    group: list[str],
    measures: list[str],
    *,
    by_month: bool = False,
    **where: Any,
) -> list[dict[str, Any]]:
    """The counted lines finalized in the range, grouped and added up: the range's whole
    years from the yearly sums, its other whole quarters from the quarterly sums, its other
    whole months from the monthly sums, the days that cut a month from the lines (a contract
    line billed monthly: one row a year, not twelve). A range reaching the ledger's first or
    last day holds that day's year whole (_as_the_ledger_reads). The years and quarters serve
    only when neither the grouping, `where` nor `by_month` asks for the billing period or the
    month; else the months do. The same figures as adding up the lines. `user` None: every
    account (a median's figures, never shown one by one); `where`: conditions on fields the
    lines and the sums share."""
    parts, keys, _ = _sum_parts(user, filters, group, by_month=by_month, **where)
    if connection.vendor == "postgresql":
        sql, params = sums_statement(parts, keys, measures)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            # Read straight from the cursor: psycopg already gives each column its type.
            return [dict(zip([*keys, *measures], row, strict=True)) for row in cursor.fetchall()]
    return _added_up_apart(parts, keys, measures)


def billed_sums_statement(
    user: User | None,
    filters: ReportFilters,
    group: list[str],
    measures: list[str],
    *,
    repeats: bool = False,
    **where: Any,
) -> tuple[str, list[Any]]:
    """billed_sums' one statement on PostgreSQL, for a report that reads on from it in SQL:
    its columns the keys of `group` then the measures, by their names.

    `repeats`, for a caller whose keys are nearly a table of sums' own (billed fairly's: a
    contract line's): where one year's, quarter's or month's sums alone answer the range (as
    the common ranges are), the statement gives their rows as they are, not grouped, and
    the caller adds up the few keys that come in more than one row, of two kinds or billing
    periods (repeats_added_up). PostgreSQL's numeric sums cost 30-40 ms for 10,000 keys of
    10,000 rows, 2 KB of state each, for nothing to add up. Over more periods than one the
    rows repeat every key, and the database adds them up."""
    parts, keys, one_period = _sum_parts(user, filters, group, by_month=False, **where)
    return sums_statement(parts, keys, measures, grouped=not (repeats and one_period))


def _sum_parts(
    user: User | None,
    filters: ReportFilters,
    group: list[str],
    *,
    by_month: bool,
    **where: Any,
) -> tuple[list[QuerySet[Any]], list[str], bool]:
    """billed_sums' parts (of the yearly, quarterly and monthly sums, the lines) and keys, and
    whether the parts are the sums of one year, quarter or month alone."""

    def seen(rows: QuerySet[Any]) -> QuerySet[Any]:
        if user is not None:
            rows = _scoped(rows, user, filters)
            if filters.item_id:
                rows = rows.filter(item_id=filters.item_id)
        return rows

    keys = [*group, "month"] if by_month else group
    start, end = _as_the_ledger_reads(filters)
    lines = seen(
        BilledLine.objects.filter(
            counted=True, finalized_on__gte=filters.start, finalized_on__lte=filters.end, **where
        )
    )
    if by_month:
        lines = lines.annotate(month=Cast(TruncMonth("finalized_on"), DateField()))
    whole = _whole_months(start, end)
    if whole is None:
        return [lines], keys, False
    first, last = whole
    after = add_months(last, 1)
    if by_month or not all(k.split("__")[0] in QUARTER_FIELDS for k in [*group, *where]):
        periods = {"month": [(first, after)]}
    else:
        periods = _whole_periods(first, after)
    parts: list[QuerySet[Any]] = []  # of the sums; the lines last
    for period, model in SUMS_BY_PERIOD.items():
        within = Q()  # each span a range of the model's index: one or two, often none
        for begin, stop in periods.get(period, []):
            within |= Q(**{f"{period}__gte": begin, f"{period}__lt": stop})
        if within:
            parts.append(seen(model.objects.filter(within, **where)))
    if start < first or end >= after:
        # The days before the first whole month and after the last, as two ranges of the
        # index (a range less the whole months would read the whole year's lines).
        parts.append(lines.filter(Q(finalized_on__lt=first) | Q(finalized_on__gte=after)))
    spans = [(period, span) for period, listed in periods.items() for span in listed]
    one_period = (
        len(parts) == 1
        and len(spans) == 1
        and add_months(spans[0][1][0], PERIOD_MONTHS[spans[0][0]]) == spans[0][1][1]
    )
    return parts, keys, one_period


def _figures(part: QuerySet[Any], measures: list[str]) -> dict[str, Any]:
    """Each measure's figure in a row of `part`: a line's, or a sum's column."""
    if part.model is BilledLine:
        return {m: MEASURES[m][0] for m in measures}
    return {m: F(MEASURES[m][1]) for m in measures}


def sums_statement(
    parts: list[QuerySet[Any]], keys: list[str], measures: list[str], *, grouped: bool = True
) -> tuple[str, list[Any]]:
    """The parts' rows added up by PostgreSQL in one statement, all of them together, grouped
    once: each part grouped apart and merged in Python fetched a row per group and part
    (billed fairly's default range: 20,000 rows for its 10,000, slower than the months
    alone), and grouping the parts' groups again cost the database what the quarters saved.
    Its columns are the keys, then the measures, by their names. Not `grouped`: its rows as
    they are, for one part of sums alone (billed_sums_statement's `repeats` decides)."""
    quote = connection.ops.quote_name
    wanted = ", ".join(quote(c) for c in [*keys, *(f"{m}_figure" for m in measures)])
    selects, params = [], []
    for n, part in enumerate(parts):
        query = (
            part.values(*keys)
            .annotate(**{f"{m}_figure": e for m, e in _figures(part, measures).items()})
            .order_by()
            .query
        )
        sql, part_params = query.sql_with_params()
        # Each part's columns named in the order its SELECT lists them (Django's `selected`),
        # then taken in the same order from every part.
        names = ", ".join(quote(c) for c in query.selected)
        selects.append(f"SELECT {wanted} FROM ({sql}) AS part{n} ({names})")  # noqa: S608
        params.extend(part_params)
    together = " UNION ALL ".join(selects)
    if not grouped:
        named = [
            *(quote(k) for k in keys),
            *(f"{quote(f'{m}_figure')} AS {quote(m)}" for m in measures),
        ]
        return f"SELECT {', '.join(named)} FROM ({together}) AS parts", params  # noqa: S608
    columns = [
        *(quote(k) for k in keys),
        *(f"{MEASURES[m][2].function}({quote(f'{m}_figure')}) AS {quote(m)}" for m in measures),
    ]
    # No keys: one row for the whole range, none when nothing was billed.
    by = f"GROUP BY {', '.join(quote(k) for k in keys)}" if keys else "HAVING COUNT(*) > 0"
    return f"SELECT {', '.join(columns)} FROM ({together}) AS parts {by}", params  # noqa: S608


def _added_up_apart(
    parts: list[QuerySet[Any]], keys: list[str], measures: list[str]
) -> list[dict[str, Any]]:
    """Each part grouped by the database, the groups added up in Python: SQLite's sums come
    back as floats, Django's converters make them Decimal again."""
    results = []
    for part in parts:
        rows = list(
            part.values(*keys)
            .annotate(**{m: MEASURES[m][2](e) for m, e in _figures(part, measures).items()})
            .order_by()
        )
        if rows:
            results.append(rows)
    if len(results) < 2:  # one part alone (often: no days cut a month)
        return results[0] if results else []
    merged = {tuple(row[k] for k in keys): row for row in results[0]}
    for rows in results[1:]:
        for row in rows:
            key = tuple(row[k] for k in keys)
            into = merged.get(key)
            if into is None:
                merged[key] = row
                continue
            for m in measures:
                into[m] = _added(m, into[m], row[m])
    return list(merged.values())


def repeats_added_up(
    rows: list[tuple[Any, ...]], keys: int, measures: list[str]
) -> list[tuple[Any, ...]]:
    """Rows of a statement with `repeats` (billed_sums_statement), each a tuple of its
    `keys` keys, then the measures, then anything its key decides (a name): each key once,
    its rows added up as the database would have. Nearly always there is nothing to add up, which
    one set of the keys tells."""
    if len({row[:keys] for row in rows}) == len(rows):
        return rows
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        into = merged.get(row[:keys])
        if into is None:
            merged[row[:keys]] = list(row)
            continue
        for index, measure in enumerate(measures, keys):
            into[index] = _added(measure, into[index], row[index])
    return [tuple(row) for row in merged.values()]


def _added(measure: str, a: Any, b: Any) -> Any:
    """Two figures of a measure added up as SQL does: by its sum or its maximum, of those
    that are not NULL (None when neither is)."""
    if a is None or b is None:
        return b if a is None else a
    if MEASURES[measure][2] is Max:
        return max(a, b)
    return a + b


# Each currency of the ledger by one step down the currency index (a loose index scan), not
# by reading every invoice: five currencies of 100,000 invoices in under a millisecond.
EVERY_CURRENCY = """
WITH RECURSIVE found AS (
    SELECT min(currency) AS currency FROM reports_billedinvoice
    UNION ALL
    SELECT (SELECT min(currency) FROM reports_billedinvoice WHERE currency > found.currency)
    FROM found WHERE found.currency IS NOT NULL
)
SELECT currency FROM found WHERE currency IS NOT NULL
"""


def ledger_currencies(user: User) -> list[str]:
    """The currencies of the invoices the person sees: the filters' choice of currency."""
    if connection.vendor == "postgresql" and user.has_perm(VIEW_ALL_ACCOUNTS):
        with connection.cursor() as cursor:
            cursor.execute(EVERY_CURRENCY)
            return [currency for (currency,) in cursor.fetchall()]
    return sorted(
        set(
            _scoped(BilledInvoice.objects.all(), user, ReportFilters(date.min, date.max))
            .values_list("currency", flat=True)
            .distinct()
        )
    )


def chart_currency(counts: dict[str, int], filters: ReportFilters, what: str) -> tuple[str, str]:
    """The one currency a chart draws (amounts of two currencies on one axis would let a yen
    figure flatten every other), and a sentence saying which: the currency filtered on, else
    the one with most `what` (a count, comparable across currencies where amounts are not)."""
    if filters.currency or len(counts) == 1:
        currency = filters.currency or next(iter(counts))
        return currency, f"The chart shows {currency}."
    currency = min(counts, key=lambda c: (-counts[c], c))
    return currency, (
        f"The chart shows {currency}, the currency with the most {what}; choose a currency "
        "to chart another."
    )


# --- Accounts receivable aging -------------------------------------------------------------

AGING_BUCKETS = (
    ("current", "Current", None, 0),  # not yet due
    ("1-30", "1-30 days", 1, 30),
    ("31-60", "31-60 days", 31, 60),
    ("61-90", "61-90 days", 61, 90),
    ("over-90", "Over 90 days", 91, None),
)
OWED = (BilledInvoice.Status.OPEN, BilledInvoice.Status.UNCOLLECTIBLE)


def _owed(user: User, filters: ReportFilters) -> QuerySet[BilledInvoice]:
    """What customers still owe: open and uncollectible invoices with an amount remaining
    (after partial payments and the credit notes issued before payment), finalized by the
    range's end. Due as billing.pricing.invoice_due_day says (the ledger's due_on); the
    coalesce keeps rows written before due_on held that rule right."""
    return (
        billed_invoices(user, filters)
        .filter(status__in=OWED, amount_remaining__gt=0, finalized_on__lte=filters.end)
        .annotate(due=Coalesce("due_on", "finalized_on"))
    )


def _bucket_q(key: str, today: date) -> Q:
    for bucket, _, low, high in AGING_BUCKETS:
        if bucket != key:
            continue
        q = Q()
        if low is None:
            return Q(due__gte=today)
        q &= Q(due__lte=today - timedelta(days=low))
        if high is not None:
            q &= Q(due__gte=today - timedelta(days=high))
        return q
    raise ValueError(f"no aging bucket {key!r}")


def ar_aging(user: User, filters: ReportFilters, *, today: date) -> Table:
    """Per currency, what is owed by days past due on `today`."""
    sums = {
        key: Coalesce(Sum("amount_remaining", filter=_bucket_q(key, today)), Value(ZERO))
        for key, *_ in AGING_BUCKETS
    }
    rows = (
        _owed(user, filters)
        .values("currency")
        .annotate(
            **sums,
            total=Sum("amount_remaining"),
            uncollectible=Coalesce(
                Sum("amount_remaining", filter=Q(status=BilledInvoice.Status.UNCOLLECTIBLE)),
                Value(ZERO),
            ),
            invoices=Count("id"),
        )
        .order_by("currency")
    )
    table = Table(
        columns=[
            Column("currency", "Currency"),
            *(Column(key, title, "money") for key, title, *_ in AGING_BUCKETS),
            Column("total", "Total owed (the buckets' sum)", "money"),
            # Already in its days bucket: a second figure of the total, never to add to it.
            Column("uncollectible", "Uncollectible, included in the buckets", "money"),
            Column("invoices", "Invoices", "number"),
        ],
        rows=[dict(row) for row in rows],
    )
    table.notes.append(
        f"Owed on {today.isoformat()}: open and uncollectible invoices, after partial payments "
        "and credit notes. Days past due count from the due date (from finalization for "
        "invoices charged automatically). An uncollectible invoice is in its days bucket like "
        "any other; the uncollectible column says how much of the total that is, and is not "
        "added to it."
    )
    if table.rows:
        currency, which = chart_currency(
            {r["currency"]: r["invoices"] for r in table.rows}, filters, "invoices owed"
        )
        (row,) = (r for r in table.rows if r["currency"] == currency)
        table.chart = {
            "title": f"Owed by days past due, {currency}",
            "type": "bar",
            "labels": [title for _, title, *_ in AGING_BUCKETS],
            "datasets": [{"label": currency, "data": [float(row[k]) for k, *_ in AGING_BUCKETS]}],
            **_chart_choice(currency, table.rows, which),
        }
    return table


def _chart_choice(currency: str, rows: Sequence[dict[str, Any]], which: str) -> dict[str, Any]:
    """What the page needs to say which currency a chart shows and offer the others."""
    return {
        "currency": currency,
        "currencies": sorted({r["currency"] for r in rows}),
        "which": which,
    }


def ar_invoices(
    user: User, filters: ReportFilters, *, today: date, bucket: str = ""
) -> QuerySet[BilledInvoice]:
    """The invoices behind an aging figure, oldest due first."""
    owed = _owed(user, filters)
    if bucket:
        owed = owed.filter(_bucket_q(bucket, today))
    return owed.select_related("account").order_by(  # type: ignore[misc]  # annotated
        "due", "stripe_invoice_id"
    )


# --- Revenue -------------------------------------------------------------------------------

REVENUE_BY = {
    "customer": "Customer",
    "product": "Product",
    "country": "Country",
    "cohort": "Signing cohort",
}


def _first_signed(account_ids: set[int]) -> dict[int, date | None]:
    return dict(
        Contract.objects.filter(account_id__in=account_ids)
        .values("account_id")
        .annotate(first=Min(Coalesce("signed_date", "start_date")))
        .values_list("account_id", "first")
    )


def _cohort(day: date | None) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}" if day else "No contract"


def revenue(user: User, filters: ReportFilters, *, by: str = "customer") -> Table:
    """Billed before tax (after discounts), per currency and per customer, product, country or
    the quarter the customer first signed, over the invoices finalized in the range."""
    # Grouped by ids alone (no join over the sums), the names read once for the rows.
    group = ["item_id"] if by == "product" else ["account_id"]
    sums = sorted(
        billed_sums(user, filters, ["currency", *group], ["amount", "credited", "lines_billed"]),
        key=lambda r: tuple((r[k] is None, r[k] or 0) for k in ["currency", *group]),
    )
    ids = {r[group[0]] for r in sums if r[group[0]]}
    names: dict[int, str] = {}
    accounts: dict[int, tuple[str, Any]] = {}
    if by == "product":
        names = dict(of_ids(CatalogItem.objects.all(), ids).values_list("pk", "name"))
    else:
        accounts = {
            pk: (name, country)
            for pk, name, country in of_ids(Account.objects.all(), ids).values_list(
                "pk", "legal_name", "billing_country"
            )
        }
    signed = _first_signed(ids) if by == "cohort" else {}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in sums:
        if by == "customer":
            name = accounts[r["account_id"]][0] if r["account_id"] in accounts else ""
            key, name, link = (
                str(r["account_id"]),
                name or "No account",
                {"account": r["account_id"] or ""},
            )
        elif by == "product":
            key, name, link = (
                str(r["item_id"]),
                names.get(r["item_id"]) or "Not in the catalog",
                {"item": r["item_id"] or ""},
            )
        elif by == "country":
            code = str(accounts[r["account_id"]][1] or "") if r["account_id"] in accounts else ""
            key, name, link = code, code or "No account", {"country": code}
        else:
            key = name = _cohort(signed.get(r["account_id"]))
            link = {}
        row = rows.setdefault(
            (r["currency"], key),
            {
                "currency": r["currency"],
                "group": name,
                "amount": ZERO,
                "credited": ZERO,
                "net": ZERO,
                "lines": 0,
                "_drill": link,
            },
        )
        row["amount"] += r["amount"]
        row["credited"] += r["credited"]
        row["net"] += r["amount"] - r["credited"]
        row["lines"] += r["lines_billed"]
    table = Table(
        columns=[
            Column("currency", "Currency"),
            Column("group", REVENUE_BY[by]),
            Column("amount", "Billed before tax", "money"),
            Column("credited", "Credit notes before tax", "money"),
            Column("net", "Billed less credit notes", "money"),
            Column("lines", "Invoice lines", "number"),
        ],
        rows=sorted(rows.values(), key=lambda r: (r["currency"], -r["amount"])),
    )
    table.notes.append(
        "Credit notes count on the invoice line they credit (Stripe's credit note lines name "
        "it), in the month of the invoice they credit; what a credit note credits beyond the "
        "lines it names is shared over the invoice's lines in proportion to their amounts. "
        "Only issued credit notes count, before tax."
    )
    if table.rows:
        counts: dict[str, int] = defaultdict(int)
        for row in table.rows:
            counts[row["currency"]] += row["lines"]
        currency, which = chart_currency(counts, filters, "invoice lines billed")
        table.chart = _monthly_chart(
            user, filters, currency, f"Billed before tax by month, {currency}"
        )
        if table.chart:
            table.chart.update(_chart_choice(currency, table.rows, which))
    return table


def _monthly_chart(user: User, filters: ReportFilters, currency: str, title: str) -> Any:
    """The month's billed amount in one currency (never a sum across currencies)."""
    months: list[date] = []
    day = date(filters.start.year, filters.start.month, 1)
    while day <= filters.end and len(months) < 60:
        months.append(day)
        day = add_months(day, 1)
    if not months:
        return None
    series: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for r in billed_sums(user, filters, ["currency"], ["amount"], by_month=True, currency=currency):
        series[r["currency"]][r["month"]] = r["amount"]
    if not series:
        return None
    return {
        "title": title,
        "type": "line",
        "labels": [m.strftime("%Y-%m") for m in months],
        "datasets": [
            {"label": currency, "data": [float(values.get(m, ZERO)) for m in months]}
            for currency, values in sorted(series.items())
        ],
    }


def of_ids(queryset: QuerySet[Any], ids: set[int]) -> QuerySet[Any]:
    """The rows of these primary keys; on PostgreSQL as one array parameter, written as the
    array's text: ten thousand ids sent as ten thousand parameters take three times as long
    to send and plan, and psycopg's own array dumper a third longer than the text."""
    if connection.vendor == "postgresql":
        array = "{" + ",".join(str(int(pk)) for pk in ids) + "}"
        return queryset.filter(pk__in=RawSQL("SELECT unnest(%s::bigint[])", [array]))
    return queryset.filter(pk__in=ids)


def usage_vs_commit(user: User, filters: ReportFilters, *, today: date) -> Table:
    """Per contract year overlapping the range, of contracts with a minimum commit: the
    commitment, usage spend to date at the contract's prices, usage billed, true-ups billed,
    the year's end projected at the spend rate so far, and the projected shortfall; a year
    that ended short with its true-up never billed is flagged."""
    contracts = Contract.objects.filter(
        minimum_commit__gt=0,
        status__in=IN_FORCE,
        start_date__lte=filters.end,
        end_date__gte=filters.start,
    ).select_related("account")
    contracts = _scoped(contracts, user, filters)
    # One row per contract number: the latest version names the commitment.
    latest: dict[str, Contract] = {}
    for contract in contracts.order_by("number", "version"):
        latest[contract.number] = contract
    spent: dict[tuple[str, int, str], Decimal] = defaultdict(lambda: ZERO)
    for r in (
        BilledMonth.objects.filter(  # every counted line, by contract, kind and period
            contract__number__in=list(latest),
            kind__in=[BilledLine.Kind.USAGE, BilledLine.Kind.TRUE_UP],
        )
        .values("contract__number", "kind", "period_start")
        .annotate(amount=Sum("amount"), at_contract=Sum("contract_amount"))
    ):
        contract = latest[r["contract__number"]]
        year = _contract_year(contract, r["period_start"])
        if year is not None:
            spent[(contract.number, year, r["kind"])] += r["amount"]
            if r["kind"] == BilledLine.Kind.USAGE:
                spent[(contract.number, year, "at_contract")] += r["at_contract"] or r["amount"]
    rows = []
    for contract in latest.values():
        year = 0
        while (start := add_months(contract.start_date, 12 * year)) <= contract.end_date:
            end = min(
                add_months(contract.start_date, 12 * (year + 1)) - timedelta(days=1),
                contract.end_date,
            )
            if end >= filters.start and start <= filters.end:
                rows.append(_commit_year(contract, year, start, end, spent, today))
            year += 1
    table = Table(
        columns=[
            Column("currency", "Currency"),
            Column("account", "Account"),
            Column("contract", "Contract"),
            Column("year", "Contract year"),
            Column("commitment", "Commitment", "money"),
            Column("at_contract", "Usage at contract prices", "money"),
            Column("usage", "Usage billed", "money"),
            Column("true_ups", "True-ups billed", "money"),
            Column("projected", "Projected year end", "money"),
            Column("shortfall", "Projected shortfall", "money"),
            Column("flag", "Flag"),
        ],
        rows=rows,
    )
    table.notes.append(
        "Usage to date is what finalized invoices billed for the contract year's usage. The "
        "year's end is projected at the spend rate so far (spend to date divided by the days "
        "elapsed, times the year's days); the shortfall is the commitment less that."
    )
    return table


def _commit_year(
    contract: Contract,
    year: int,
    start: date,
    end: date,
    spent: dict[tuple[str, int, str], Decimal],
    today: date,
) -> dict[str, Any]:
    number, commitment = contract.number, contract.minimum_commit or ZERO
    usage = spent[(number, year, BilledLine.Kind.USAGE)]
    at_contract = spent[(number, year, "at_contract")]
    true_ups = spent[(number, year, BilledLine.Kind.TRUE_UP)]
    days = (end - start).days + 1
    elapsed = min(days, max(0, (today - start).days + 1))
    ended = end < today
    # Spend so far, at the same rate until the year's end.
    projected = quantize(
        at_contract if ended or not elapsed else at_contract * days / elapsed, contract.currency
    )
    shortfall = max(ZERO, commitment - projected)
    if ended and commitment - at_contract > true_ups:
        flag = "true-up never billed"
    elif not ended and elapsed and shortfall:
        flag = "projected short"
    else:
        flag = ""
    return {
        "currency": contract.currency,
        "account": contract.account.legal_name,
        "contract": number,
        "year": f"{start.isoformat()} to {end.isoformat()}",
        "commitment": commitment,
        "at_contract": at_contract,
        "usage": usage,
        "true_ups": true_ups,
        "projected": projected,
        "shortfall": shortfall,
        "flag": flag,
        "_drill": {"account": contract.account_id},
    }


def _contract_year(contract: Contract, day: date | None) -> int | None:
    if day is None or day < contract.start_date:
        return None
    year = 0
    while add_months(contract.start_date, 12 * (year + 1)) <= day:
        year += 1
    return year


# --- Recurring revenue ----------------------------------------------------------------------

MRR_BASES = {"contracted": "Contracted", "billed": "Billed"}
MOVEMENTS = ("new", "expansion", "contraction", "churn")
IN_FORCE = [
    Contract.Status.ACTIVE,
    Contract.Status.SUPERSEDED,
    Contract.Status.EXPIRED,
    Contract.Status.TERMINATED,
]


def _month_ends(filters: ReportFilters) -> list[date]:
    """The last day of each month from the one before the range (the first month's movements
    are against it) to the range's last, at most five years."""
    first = add_months(date(filters.start.year, filters.start.month, 1), -1)
    ends: list[date] = []
    month = first
    while month <= filters.end and len(ends) < 61:
        ends.append(add_months(month, 1) - timedelta(days=1))
        month = add_months(month, 1)
    return ends


def _contracted_by_month(
    user: User, filters: ReportFilters, ends: list[date]
) -> dict[tuple[str, date], dict[int, Decimal]]:
    """Per currency and month end, each account's MRR from the contract versions (and ramp
    phases) in force that day: their MRR kept per month (reports/contracted.py), added up by
    the database."""
    months = _scoped(ContractedMonth.objects.filter(month_end__in=ends), user, filters)
    mrr: dict[tuple[str, date], dict[int, Decimal]] = defaultdict(dict)
    for currency, end, account, amount in (
        months.values_list("currency", "month_end", "account_id")
        .annotate(amount=Sum("mrr"))
        .order_by()
    ):
        mrr[(currency, end)][account] = amount
    return mrr


def _billed_by_month(
    user: User, filters: ReportFilters, ends: list[date]
) -> dict[tuple[str, date], dict[int, Decimal]]:
    """Per currency and month end, each account's recurring lines billed for that month: a
    line billing a quarter counts a third of its amount in each of its months."""
    lines = _scoped(
        BilledMonth.objects.filter(  # every counted line, by account and period
            kind=BilledLine.Kind.RECURRING,
            period_start__lte=ends[-1],
            period_end__gte=date(ends[0].year, ends[0].month, 1),
        ),
        user,
        filters,
    )
    mrr: dict[tuple[str, date], dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    # Months counted from year 0 (12 * year + month - 1): a period's months are a range of
    # integers, not a date stepped a month at a time (26,000 periods of a year's ledger).
    month_of = {12 * end.year + end.month - 1: end for end in ends}
    # The month ends in the report each period counts in, and its number of months, worked
    # out once a period: 26,000 rows of a year's ledger bill a few dozen periods.
    periods: dict[tuple[date, date], tuple[list[date], int]] = {}
    # Summed per account and period in the database: a row per account and month billed.
    rows = (
        lines.values_list("account_id", "currency", "period_start", "period_end")
        .annotate(amount=Sum("amount"))
        .order_by()
    )
    for account, currency, start, end, amount in _fetched(rows):
        if (start, end) not in periods:
            first = 12 * start.year + start.month - 1
            last = max(first, 12 * end.year + end.month - 1)  # ending before it starts: one
            in_range = [month_of[month] for month in range(first, last + 1) if month in month_of]
            periods[(start, end)] = (in_range, last - first + 1)
        month_ends, months = periods[(start, end)]
        share = amount / months if months > 1 else amount  # a month's period: all of it
        for month_end in month_ends:
            mrr[(currency, month_end)][account or 0] += share
    return mrr


def _fetched(rows: QuerySet[Any]) -> list[tuple[Any, ...]]:
    """A values_list queryset's rows: on PostgreSQL read straight from the cursor, psycopg
    already giving each column its type (Django's converters, a call a value, took 14 ms of
    billed MRR's 26,000 rows); on SQLite through them, which make its dates and decimals."""
    if connection.vendor != "postgresql":
        return list(rows)
    with connection.cursor() as cursor:
        cursor.execute(*rows.query.sql_with_params())
        return cursor.fetchall()


def recurring_revenue(user: User, filters: ReportFilters, *, basis: str = "contracted") -> Table:
    """MRR and ARR per currency at each month's end, with the month's movements: new (an
    account with none the month before), expansion, contraction, churn (an account with none
    now). Contracted: the contract versions and ramp phases in force; billed: the recurring
    lines of finalized invoices. Never a sum across currencies."""
    ends = _month_ends(filters)
    by_month = (
        _billed_by_month(user, filters, ends)
        if basis == "billed"
        else _contracted_by_month(user, filters, ends)
    )
    currencies = sorted({currency for currency, _ in by_month})
    rows: list[dict[str, Any]] = []
    for currency in currencies:
        for previous, end in itertools.pairwise(ends):
            before, now = by_month.get((currency, previous), {}), by_month.get((currency, end), {})
            moves = dict.fromkeys(MOVEMENTS, ZERO)
            for account in set(before) | set(now):
                was, is_ = before.get(account, ZERO), now.get(account, ZERO)
                if not was and is_:
                    moves["new"] += is_
                elif was and not is_:
                    moves["churn"] -= was
                elif is_ > was:
                    moves["expansion"] += is_ - was
                elif is_ < was:
                    moves["contraction"] -= was - is_
            total = quantize(sum(now.values(), ZERO), currency)
            rows.append(
                {
                    "currency": currency,
                    "month": end.strftime("%Y-%m"),
                    "mrr": total,
                    "arr": total * 12,
                    **{k: quantize(v, currency) for k, v in moves.items()},
                    "accounts": sum(1 for v in now.values() if v),
                }
            )
    table = Table(
        columns=[
            Column("currency", "Currency"),
            Column("month", "Month"),
            Column("mrr", "MRR", "money"),
            Column("arr", "ARR", "money"),
            Column("new", "New", "money"),
            Column("expansion", "Expansion", "money"),
            Column("contraction", "Contraction", "money"),
            Column("churn", "Churn", "money"),
            Column("accounts", "Accounts", "number"),
        ],
        rows=rows,
    )
    table.notes.append(
        "At each month's end. "
        + (
            "Billed: recurring lines of finalized invoices, spread over the months they bill."
            if basis == "billed"
            else "Contracted: the fixed lines of the contract versions and ramp phases in force "
            "(usage is not recurring), per month."
        )
        + " ARR is twelve times MRR."
    )
    if rows:
        last = {r["currency"]: r["accounts"] for r in rows}  # the range's last month
        currency, which = chart_currency(last, filters, "accounts at the range's end")
        shown = [r for r in rows if r["currency"] == currency]
        table.chart = {
            "title": f"MRR, {MRR_BASES.get(basis, basis).lower()}, {currency}",
            "type": "line",
            "labels": [r["month"] for r in shown],
            "datasets": [{"label": currency, "data": [float(r["mrr"]) for r in shown]}],
            **_chart_choice(currency, rows, which),
        }
    return table


# --- Drill-down ----------------------------------------------------------------------------


def lines_behind(
    user: User, filters: ReportFilters, *, contract_line_id: int | None = None
) -> QuerySet[BilledLine]:
    """The invoice lines behind a figure, newest first."""
    lines = billed_lines(user, filters)
    if contract_line_id:
        lines = lines.filter(contract_line_id=contract_line_id)
    return lines.select_related("invoice", "account", "item", "contract_line").order_by(
        "-finalized_on", "invoice__stripe_invoice_id", "stripe_line_id"
    )
