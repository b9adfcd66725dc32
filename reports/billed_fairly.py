"""Billed fairly: per account and contract line over the range, what was billed against the
contract's rate in force, the list price and the median rate other accounts paid, and the
deviation from the contract, flagged beyond a tolerance.

The rows are worked out in two places, to the same figures in the same order (a test compares
them on one ledger): in Python from the sums (rows_in_python: an export, and every use on
SQLite, whose sums are floats made Decimal again), and by PostgreSQL in the one statement
that adds up the sums, in exact `numeric` (rows_in_sql: a page, which shows a hundred rows of
ten thousand: the others are sorted there but never sent, named or worked out in full). Both
round half away from zero: PostgreSQL's round() on numeric, ROUND_HALF_UP in Python.
"""

import bisect
import re
from collections import defaultdict
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from operator import eq, itemgetter, sub
from typing import Any

from django.db import connection

from backoffice.models import User
from billing.catalog.models import CatalogItem
from billing.contracts.models import Contract, ContractLine
from billing.money import (
    THREE_DECIMAL_CURRENCIES,
    TWO_DECIMALS_IN_STRIPE,
    ZERO_DECIMAL_CURRENCIES,
    minor_unit,
)
from customers.models import Account
from customers.selectors import VIEW_ALL_ACCOUNTS
from reports.models import BilledLine
from reports.selectors import (
    ZERO,
    Column,
    ColumnRows,
    ReportFilters,
    Table,
    billed_sums,
    billed_sums_statement,
    column_values,
    of_ids,
    repeats_added_up,
)

DEFAULT_TOLERANCE = Decimal("0.5")  # percent of the contract's amount
# The median of other accounts' rates is shown only over this many accounts: fewer would let
# an account manager read another manager's customer's price.
MEDIAN_OF_AT_LEAST = 3
FLAGGED = ("over-billed", "under-billed")

RATE_PLACES = Decimal("0.000001")
PERCENT_PLACES = Decimal("0.01")

# What the report adds up: grouped by ids alone (no join over the lines), named after.
GROUP = ["currency", "account_id", "contract_id", "contract_line_id", "item_id"]
FIGURES = [
    "quantity",
    "amount",
    "credited",
    "at_contract",
    "committed",
    "priced",
    "lines_billed",
    "list_unit",
]
# The lines a contract prices: recurring and usage, tied to a contract line.
WHERE: dict[str, Any] = {
    "kind__in": [BilledLine.Kind.RECURRING, BilledLine.Kind.USAGE],
    "contract_line__isnull": False,
}


def billed_fairly(
    user: User,
    filters: ReportFilters,
    *,
    tolerance: Decimal = DEFAULT_TOLERANCE,
    first: int | None = None,
) -> Table:
    """Per account and contract line over the range: what was billed, the effective unit rate,
    the contract's rate in force and the list price, the median rate other accounts paid for
    the item in the currency, and the deviation from the contract; beyond the tolerance a
    row is flagged over- or under-billed. The flagged first, the largest deviation first;
    then the others by currency, account, contract and line. `first`: only so many rows
    are needed (a page's and those before it; the table says how many there are in all).

    On PostgreSQL a page's rows come from rows_in_sql: the rows after them are added up
    and sorted but never sent, named or worked out in full. All of them (an export) come
    quicker from rows_in_python: the database's work is the same, and Python's Decimal
    works out the figures faster than psycopg reads five more numeric columns."""
    total = None
    rows: Sequence[dict[str, Any]]
    if first is not None and connection.vendor == "postgresql":
        rows, total = rows_in_sql(user, filters, tolerance, first=first)
    else:
        rows = rows_in_python(user, filters, tolerance)
    table = Table(
        columns=[
            Column("currency", "Currency"),
            Column("account", "Account"),
            Column("contract", "Contract"),
            Column("line", "Line"),
            Column("item", "Item"),
            Column("quantity", "Quantity billed", "number"),
            Column("amount", "Billed", "money"),
            Column("credited", "Credit notes", "money"),
            Column("net", "Billed less credit notes", "money"),
            Column("rate", "Effective rate", "rate"),
            Column("contract_quantity", "Quantity the contract prices", "number"),
            Column("contract_rate", "Contract rate per unit priced", "rate"),
            Column("list_rate", "List price", "rate"),
            Column("median_rate", "Median rate, other accounts", "rate"),
            Column("deviation", "Billed less credit notes minus contract", "money"),
            Column("deviation_percent", "Deviation %", "percent"),
            Column("flag", "Flag"),
        ],
        rows=rows,
        total=total,
    )
    table.notes.append(
        f"Flagged beyond {tolerance}% of the contract's amount (and at least one minor unit). "
        "The contract's amount is what the version in force over each line's days asks: for "
        "a fixed line its committed units (seats billed short owe the commitment), for usage "
        "the quantity used. The quantity the contract prices is those units, and the contract "
        "rate its amount per unit. Credit notes count on the lines they credit: the effective "
        "rate and the deviation are of what was billed less them, so a line over-billed and "
        "then credited back is not flagged, and a credit beyond the contract is. The median "
        f"of other accounts' effective rates is shown over {MEDIAN_OF_AT_LEAST} or more."
    )
    # The rows flagged come first: the chart's are the first of them.
    flags = column_values(rows, "flag")
    flagged = [rows[index] for index in range(min(30, len(rows))) if flags[index] in FLAGGED]
    if flagged:
        table.chart = {
            "title": "Billed less credit notes minus contract, flagged lines",
            "type": "bar",
            "labels": [f"{r['account']} / {r['line']}" for r in flagged],
            "datasets": [
                {
                    "label": "Deviation %",
                    "data": [float(r["deviation_percent"] or 0) for r in flagged],
                }
            ],
        }
    return table


def _rate(amount: Decimal | None, quantity: Decimal | None) -> Decimal | None:
    if amount is None or not quantity:
        return None
    return (amount / quantity).quantize(RATE_PLACES, ROUND_HALF_UP)


def _everyone_rates_asked(user: User, filters: ReportFilters) -> bool:
    """Whether the medians need every account's rates read apart: the report's own rows hold
    only some accounts (an account manager's, or the filters')."""
    return not (user.has_perm(VIEW_ALL_ACCOUNTS) and _all_accounts(filters))


# The sums' columns as _named_sums gives them, in order.
SUMS = [*GROUP, *FIGURES, "account_name", "contract_name", "line_name", "item_name"]
# The rows' columns as rows_in_python gives them, in order; the last two only for "_drill".
ROWS_KEYS = [
    "currency",
    "account",
    "contract",
    "line",
    "item",
    "quantity",
    "amount",
    "credited",
    "net",
    "rate",
    "contract_quantity",
    "contract_rate",
    "list_rate",
    "median_rate",
    "deviation",
    "deviation_percent",
    "flag",
    "account_id",
    "contract_line_id",
]
DRILL = {"account": "account_id", "contract_line": "contract_line_id"}


def rows_in_python(user: User, filters: ReportFilters, tolerance: Decimal) -> ColumnRows:
    """The report's rows worked out in Python from the sums: all of them (an export), and every
    use on SQLite. Worked out column by column, as they are held: each figure of ten thousand
    rows one comprehension, then the rows put in order by permuting each column."""
    grouped = _named_sums(user, filters)
    if not grouped:
        return ColumnRows({key: [] for key in ROWS_KEYS}, DRILL)
    (
        currency,
        account_id,
        contract_id,
        contract_line_id,
        item_id,
        quantity,
        amount,
        credited,
        at_contract,
        committed,
        priced,
        lines_billed,
        list_unit,
        account_name,
        contract_name,
        line_name,
        item_name,
    ) = zip(*grouped, strict=True)
    net = list(map(sub, amount, credited))  # what the customer is asked to pay in the end
    rate = list(map(_rate, net, quantity))
    # The contract's amount and units only where every line had a contract price.
    whole = list(map(eq, priced, lines_billed))
    contract_amount = [a if w else None for a, w in zip(at_contract, whole, strict=True)]
    contract_quantity = [c if w else None for c, w in zip(committed, whole, strict=True)]
    deviation = [
        n - c if c is not None else None for n, c in zip(net, contract_amount, strict=True)
    ]
    share = tolerance / 100
    least = {code: minor_unit(code) for code in set(currency)}
    flag = [
        "no contract price"
        if d is None or c is None  # the one with the other
        else "over-billed"
        if d > (limit := max(abs(c) * share, least[code]))
        else "under-billed"
        if d < -limit
        else ""
        for d, c, code in zip(deviation, contract_amount, currency, strict=True)
    ]
    percent = [
        (d / c * 100).quantize(PERCENT_PLACES, ROUND_HALF_UP) if c else None
        for d, c in zip(deviation, contract_amount, strict=True)
    ]
    # Per unit the contract prices: seats billed short of the commitment leave the rate as
    # agreed, and the shortfall shows in the deviation.
    contract_rate = list(map(_rate, contract_amount, contract_quantity))
    keys = list(zip(item_id, currency, strict=True))
    rates = (
        _rates_by_account(filters, set(keys))
        if _everyone_rates_asked(user, filters)
        else _rates_of(keys, account_id, net, quantity, rate)  # the same lines: no second pass
    )
    medians = _medians_of_others(rates)
    nobody: dict[int | None, Decimal | None] = {None: None}
    median = [
        (of_others := medians.get(key, nobody)).get(account, of_others[None])
        for key, account in zip(keys, account_id, strict=True)
    ]
    # The flagged first, the largest deviation first (in hundredths, exact: integers sort
    # faster than decimals); then the others by account, then by ids as PostgreSQL does:
    # unique, so no two rows tie.
    order_of = list(
        zip(
            [f not in FLAGGED for f in flag],
            [-abs(int(p.scaleb(2))) if p is not None else 0 for p in percent],
            currency,
            account_name,
            contract_name,
            line_name,
            [a or 0 for a in account_id],
            [c or 0 for c in contract_id],
            contract_line_id,
            [i or 0 for i in item_id],
            strict=True,
        )
    )
    order = sorted(range(len(order_of)), key=order_of.__getitem__)
    columns: tuple[Sequence[Any], ...] = (
        currency,
        account_name,
        contract_name,
        line_name,
        item_name,
        quantity,
        amount,
        credited,
        net,
        rate,
        contract_quantity,
        contract_rate,
        list_unit,
        median,
        deviation,
        percent,
        flag,
        account_id,
        contract_line_id,
    )
    # Each column permuted by itemgetter, in C: a comprehension indexing ten thousand rows at
    # random, nineteen times over, took half as long again.
    permuted = itemgetter(*order) if len(order) > 1 else lambda values: values
    return ColumnRows(
        {key: list(permuted(values)) for key, values in zip(ROWS_KEYS, columns, strict=True)},
        DRILL,
    )


def _medians_of_others(
    rates: dict[Any, dict[int, Decimal]],
) -> dict[Any, dict[int | None, Decimal | None]]:
    """Per item and currency, each account's median of the other accounts' rates (under None:
    of every account's, for an account with no rate of its own), over MEDIAN_OF_AT_LEAST or
    more. Once per account, not per row: each from the sorted rates less the account's own,
    found by bisection and skipped by index (copying the list for each, or a pass over every
    account, would be quadratic)."""
    medians: dict[Any, dict[int | None, Decimal | None]] = {}
    for key, of_key in rates.items():
        values = sorted(of_key.values())
        of_others: dict[int | None, Decimal | None] = {None: _median_without(values, len(values))}
        for account, own in of_key.items():
            of_others[account] = _median_without(values, bisect.bisect_left(values, own))
        medians[key] = of_others
    return medians


def _median_without(values: list[Decimal], skip: int) -> Decimal | None:
    """The median of the sorted `values` less the one at `skip` (len(values): none less)."""
    count = len(values) - (skip < len(values))
    if count < MEDIAN_OF_AT_LEAST:
        return None

    def nth(index: int) -> Decimal:  # the index-th of the others
        return values[index if index < skip else index + 1]

    middle = count // 2
    return nth(middle) if count % 2 else (nth(middle - 1) + nth(middle)) / 2


def _all_accounts(filters: ReportFilters) -> bool:
    return not (filters.country or filters.manager_id or filters.account_id or filters.currency)


# The sums with their names, on PostgreSQL (an export's and a page's): hash joins there take
# a fifth of the time of reading the names apart (four queries of ten thousand ids).
NAMED = """
SELECT s.*, coalesce(a.legal_name, '') AS account_name, coalesce(c.number, '') AS contract_name,
       coalesce(l.key, '') AS line_name, coalesce(i.name, '') AS item_name
FROM ({sums}) AS s
LEFT JOIN {account} a ON a.id = s.account_id
LEFT JOIN {contract} c ON c.id = s.contract_id
LEFT JOIN {line} l ON l.id = s.contract_line_id
LEFT JOIN {item} i ON i.id = s.item_id
"""


def _named_sums(user: User, filters: ReportFilters) -> list[tuple[Any, ...]]:
    """The report's sums, each a tuple of the SUMS columns: its keys and figures, then its
    account's, contract's, line's and item's names ("" for none)."""
    if connection.vendor == "postgresql":
        sums, params = billed_sums_statement(user, filters, GROUP, FIGURES, repeats=True, **WHERE)
        with connection.cursor() as cursor:
            cursor.execute(NAMED.format(sums=sums, **_tables()), params)
            if [column.name for column in cursor.description] != SUMS:
                raise AssertionError("The sums' columns are not SUMS")
            return repeats_added_up(cursor.fetchall(), len(GROUP), FIGURES)
    grouped = billed_sums(user, filters, GROUP, FIGURES, **WHERE)
    names = _names(grouped)
    return [
        (
            *(r[key] for key in GROUP),
            *(r[key] for key in FIGURES),
            names["account"].get(r["account_id"], ""),
            names["contract"].get(r["contract_id"], ""),
            names["line"].get(r["contract_line_id"], ""),
            names["item"].get(r["item_id"], ""),
        )
        for r in grouped
    ]


def _tables() -> dict[str, str]:
    """The named rows' tables, as the statements here name them."""
    return {
        "account": Account._meta.db_table,
        "contract": Contract._meta.db_table,
        "line": ContractLine._meta.db_table,
        "item": CatalogItem._meta.db_table,
    }


def _names(grouped: list[dict[str, Any]]) -> dict[str, dict[int, str]]:
    """The names of the accounts, contracts, lines and items of grouped rows: a query each."""

    def ids(key: str) -> set[int]:
        return {r[key] for r in grouped if r.get(key)}

    return {
        "account": dict(
            of_ids(Account.objects.all(), ids("account_id")).values_list("pk", "legal_name")
        ),
        "contract": dict(
            of_ids(Contract.objects.all(), ids("contract_id")).values_list("pk", "number")
        ),
        "line": dict(  # not in the lines' order: that would join their contracts
            of_ids(ContractLine.objects.all(), ids("contract_line_id"))
            .order_by()
            .values_list("pk", "key")
        ),
        "item": dict(of_ids(CatalogItem.objects.all(), ids("item_id")).values_list("pk", "name")),
    }


def _rates_of(
    keys: Sequence[tuple[int | None, str]],
    accounts: Sequence[int | None],
    nets: Sequence[Decimal],
    quantities: Sequence[Decimal | None],
    row_rates: Sequence[Decimal | None],
) -> dict[tuple[int | None, str], dict[int, Decimal]]:
    """Each account's effective rate per item and currency, of the rows' columns: a row's own
    rate (`row_rates`) where it is the account's only row of the item in the currency (the
    common case: one contract line an item), else of its rows' amounts and quantities added
    up."""
    rates: dict[tuple[int | None, str], dict[int, Decimal]] = defaultdict(dict)
    whose = list(zip(keys, accounts, strict=True))
    if len(set(whose)) == len(whose):
        for (key, account), rate in zip(whose, row_rates, strict=True):
            if account and rate is not None:
                rates[key][account] = rate
        return rates
    totals: dict[tuple[tuple[int | None, str], int], list[Decimal]] = {}
    for (key, account), net, quantity in zip(whose, nets, quantities, strict=True):
        if account:
            sums = totals.setdefault((key, account), [ZERO, ZERO])
            sums[0] += net
            sums[1] += quantity or ZERO
    for (key, account), (net, quantity) in totals.items():
        if (rate := _rate(net, quantity)) is not None:
            rates[key][account] = rate
    return rates


def _rates_by_account(
    filters: ReportFilters, keys: set[tuple[int | None, str]]
) -> dict[tuple[int | None, str], dict[int, Decimal]]:
    """Every account's effective rate per item and currency over the range, whoever asks
    (only its median is shown, over enough accounts): of the same lines as the report's rows
    (tied to a contract line, less credit notes), as _rates_of reads them from the rows."""
    items = {item for item, _ in keys if item}
    if not items:
        return {}
    rates: dict[tuple[int | None, str], dict[int, Decimal]] = defaultdict(dict)
    for r in billed_sums(
        None,
        filters,
        ["item_id", "currency", "account_id"],
        ["quantity", "amount", "credited"],
        item_id__in=items,
        kind__in=[BilledLine.Kind.RECURRING, BilledLine.Kind.USAGE],
        contract_line__isnull=False,
    ):
        rate = _rate(r["amount"] - r["credited"], r["quantity"])
        if rate is not None and r["account_id"]:
            rates[(r["item_id"], r["currency"])][r["account_id"]] = rate
    return rates


# Each row's figures from the named sums (`s`), its contract's amount (`contract_amount`, only
# where every line had one) and its currency's minor unit (`unit`).
ROWS = """
WITH sums AS MATERIALIZED ({named_sums}),
rated AS ({rated}),
sorted AS (  -- each item's and currency's rates in order, and whose they are
    SELECT item, currency, count(*)::int AS n,
           array_agg(rate ORDER BY rate, account_id) AS rates,
           array_agg(account_id ORDER BY rate, account_id) AS accounts
    FROM rated GROUP BY item, currency
),
figured AS (
    SELECT s.*, s.amount - s.credited AS net,
           CASE WHEN s.priced = s.lines_billed THEN s.at_contract END AS contract_amount,
           CASE WHEN upper(s.currency) = ANY(%(zero)s) THEN 1
                WHEN upper(s.currency) = ANY(%(three)s) THEN 0.001
                ELSE 0.01 END AS unit
    FROM sums s
),
flagged AS (
    SELECT f.*, f.net - f.contract_amount AS deviation,
           CASE WHEN f.contract_amount IS NULL THEN 'no contract price'
                WHEN f.net - f.contract_amount
                     > greatest(abs(f.contract_amount) * %(share)s, f.unit) THEN 'over-billed'
                WHEN f.net - f.contract_amount
                     < -greatest(abs(f.contract_amount) * %(share)s, f.unit) THEN 'under-billed'
                ELSE '' END AS flag,
           CASE WHEN f.contract_amount <> 0
                THEN round((f.net - f.contract_amount) * 100 / f.contract_amount, 2) END
               AS percent
    FROM figured f
),
-- The rows up to the page asked, in the report's order.
shown AS (SELECT * FROM flagged n ORDER BY {order_shown} LIMIT %(first)s)
-- Their other figures and medians, worked out for them alone; how many rows there are in
-- all is how many sums (a row each), not a window over every row.
SELECT f.currency, f.account_name, f.contract_name, f.line_name, f.item_name,
       f.quantity, f.amount, f.credited, f.net,
       CASE WHEN f.quantity <> 0 THEN round(f.net / f.quantity, 6) END AS rate,
       CASE WHEN f.priced = f.lines_billed THEN f.committed END AS contract_quantity,
       CASE WHEN f.committed <> 0 THEN round(f.contract_amount / f.committed, 6) END
           AS contract_rate,
       f.list_unit,
       CASE WHEN p.own IS NULL THEN {every} ELSE {others} END AS median,
       f.deviation, f.percent, f.flag, f.account_id, f.contract_line_id,
       (SELECT count(*) FROM sums) AS total
FROM shown f
LEFT JOIN sorted m ON m.item = coalesce(f.item_id, 0) AND m.currency = f.currency
-- Where the account's own rate sits among the item's and currency's (from 0), if it has one.
CROSS JOIN LATERAL (SELECT array_position(m.accounts, f.account_id) - 1 AS own) AS p
ORDER BY {order}
"""


# The report's order, of a row `f` with its names.
ORDER = """
{f}.flag <> ALL(%(flagged)s), coalesce(abs({f}.percent), 0) DESC, {f}.currency COLLATE "C",
{f}.account_name COLLATE "C", {f}.contract_name COLLATE "C", {f}.line_name COLLATE "C",
coalesce({f}.account_id, 0), coalesce({f}.contract_id, 0), {f}.contract_line_id,
coalesce({f}.item_id, 0)
"""


def _median_sql(rates: str, count: str, below: str) -> str:
    """_median_without's median in SQL: of the sorted array `rates` less the one at `below`
    (from 0; its length: none less), `count` rates in all. The i-th of the others is
    rates[i + (i >= below) + 1]."""

    def nth(index: str) -> str:
        return f"{rates}[{index} + ({index} >= {below})::int + 1]"

    middle = f"{count} / 2"
    return (
        f"CASE WHEN {count} < %(least)s THEN NULL "
        f"WHEN {count} %% 2 = 1 THEN {nth(middle)} "
        f"ELSE trim_scale(({nth(f'{middle} - 1')} + {nth(middle)}) / 2) END"
    )


# Each account's effective rate per item and currency: of the report's own sums when they
# hold every account, else of everyone's (`{everyone}`).
RATED = """
SELECT coalesce(item_id, 0) AS item, currency, account_id,
       round(sum(amount - credited) / nullif(sum(coalesce(quantity, 0)), 0), 6) AS rate
FROM {source} AS source
WHERE account_id IS NOT NULL
GROUP BY 1, 2, 3
HAVING sum(coalesce(quantity, 0)) <> 0
"""


def rows_in_sql(
    user: User, filters: ReportFilters, tolerance: Decimal, *, first: int | None
) -> tuple[ColumnRows, int]:
    """The report's `first` rows (None: all of them), as rows_in_python gives them, and how
    many it has in all: from one PostgreSQL statement."""
    sums, params = billed_sums_statement(user, filters, GROUP, FIGURES, **WHERE)
    if _everyone_rates_asked(user, filters):
        item: dict[str, Any] = {"item_id": filters.item_id} if filters.item_id else {}
        everyone, everyone_params = billed_sums_statement(
            None,
            filters,
            ["item_id", "currency", "account_id"],
            ["quantity", "amount", "credited"],
            **WHERE,
            **item,
        )
        rated = RATED.format(source=f"({everyone})")
    else:
        rated, everyone_params = RATED.format(source="sums"), []
    # Django's statements carry %s placeholders: the named ones here are spliced in as
    # positional ones, in the order they appear.
    statement = ROWS.format(
        named_sums=NAMED.format(sums=sums, **_tables()),
        rated=rated,
        order_shown=ORDER.format(f="n"),
        order=ORDER.format(f="f"),
        every=_median_sql("m.rates", "m.n", "m.n"),
        others=_median_sql("m.rates", "(m.n - 1)", "p.own"),
    )
    named = {
        "least": MEDIAN_OF_AT_LEAST,
        "zero": sorted(ZERO_DECIMAL_CURRENCIES | TWO_DECIMALS_IN_STRIPE),
        "three": sorted(THREE_DECIMAL_CURRENCIES),
        "share": tolerance / 100,
        "flagged": list(FLAGGED),
        "first": first,
    }
    sql, values = _positional(statement, named, [*params, *everyone_params])
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        fetched = cursor.fetchall()
    # The statement's columns are ROWS_KEYS' in order, then how many rows there are in all.
    *columns, total = zip(*fetched, strict=True) if fetched else [()] * (len(ROWS_KEYS) + 1)
    rows = ColumnRows(
        {key: list(values) for key, values in zip(ROWS_KEYS, columns, strict=True)}, DRILL
    )
    return rows, total[0] if total else 0


def _positional(
    statement: str, named: dict[str, Any], positional: list[Any]
) -> tuple[str, list[Any]]:
    """`statement` with its %(name)s placeholders made %s, and the values of all its
    placeholders in order: the sums' own (`positional`, in the order their %s come) and the
    named ones where they stand."""
    values: list[Any] = []
    given = iter(positional)

    def each(match: re.Match[str]) -> str:
        placeholder = match.group(0)
        if placeholder == "%%":
            return placeholder
        if placeholder == "%s":
            values.append(next(given))
        else:
            value = named[match.group(1)]
            values.append(value)
        return "%s"

    sql = re.sub(r"%\((\w+)\)s|%s|%%", each, statement)
    if next(given, given) is not given:
        raise ValueError("more values than placeholders")
    return sql, values
