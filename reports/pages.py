"""The Reports section's pages: which reports there are, their filters, and how a table is
shown and exported. The figures come from reports.selectors; this is presentation only."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.db.models import QuerySet
from django.forms.utils import flatatt
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django_countries import countries

from backoffice.models import User
from billing.catalog.models import CatalogItem
from billing.money import (
    decimal_places,
    format_amount,
    format_unit_price,
    minor_unit,
    plain_amount,
)
from customers.payment_methods import payment_method_name
from customers.selectors import VIEW_ALL_ACCOUNTS
from file_imports.cells import FORMULA_STARTS, as_text, decimal_text, neutralised
from file_imports.files import CSV_CONTENT_TYPE, csv_file_by_columns
from payments.acceptance import acceptance_rates, acceptance_totals
from reports import selectors
from reports.billed_fairly import DEFAULT_TOLERANCE, billed_fairly
from reports.models import BilledInvoice, BilledLine
from reports.selectors import Column, ReportFilters, Table, column_values
from reports.spreadsheet import CONTENT_TYPE, SheetColumn, xlsx_file


def this_year(today: date) -> tuple[date, date]:
    """The twelve months up to today: from the first of the month eleven months back."""
    month = today.month - 11
    year = today.year + (month - 1) // 12
    return date(year, (month - 1) % 12 + 1, 1), today


# The dates a report covers: Stripe's timestamps start in 1970, and a range reaching year 1 or
# 9999 would only overflow the month arithmetic (a 500 where the person typed a wrong year).
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2199, 12, 31)


class ListedSelect(forms.Select):
    """A select whose options are written here rather than through a template each: the
    country filter's 250 options took a quarter of an empty report page that way."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        chosen = set(self.format_value(value))
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (choice, " selected" if str(choice) in chosen else "", label)
                for choice, label in self.choices
            ),
        )
        return format_html(
            "<select{}>{}</select>",
            flatatt({"name": name, **self.build_attrs(self.attrs, attrs)}),
            options,
        )


class ReportFilterForm(forms.Form):
    """The filters every report takes; a report ignores those that do not apply to it."""

    # ISO, as a date input takes its value.
    start = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), required=False
    )
    end = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), required=False
    )
    currency = forms.ChoiceField(required=False, widget=ListedSelect)
    country = forms.ChoiceField(required=False, widget=ListedSelect)
    manager = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, label="Account manager", widget=ListedSelect
    )
    item = forms.ModelChoiceField(
        queryset=CatalogItem.objects.all(),
        required=False,
        label="Catalog item",
        widget=ListedSelect,
    )
    by = forms.ChoiceField(
        choices=list(selectors.REVENUE_BY.items()),
        required=False,
        label="Revenue by",
        widget=ListedSelect,
    )
    tolerance = forms.DecimalField(
        required=False,
        min_value=Decimal(0),
        max_value=Decimal(100),
        decimal_places=2,
        label="Tolerance %",
    )
    basis = forms.ChoiceField(
        choices=list(selectors.MRR_BASES.items()),
        required=False,
        label="Basis",
        widget=ListedSelect,
    )
    bucket = forms.ChoiceField(
        choices=[("", "All")] + [(k, t) for k, t, *_ in selectors.AGING_BUCKETS],
        required=False,
        label="Days past due",
        widget=ListedSelect,
    )
    account = forms.IntegerField(required=False, widget=forms.HiddenInput)
    contract_line = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: User, shown: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: dict[str, Any] = self.fields
        fields["currency"].choices = [("", "All currencies")] + [
            (c, c) for c in selectors.ledger_currencies(user)
        ]
        fields["country"].choices = [("", "All countries"), *countries]
        if user.has_perm(VIEW_ALL_ACCOUNTS):
            fields["manager"].queryset = User.objects.filter(
                pk__in=BilledInvoice.objects.values("account__account_manager")
            ).order_by("username")
        else:
            shown = tuple(name for name in shown if name != "manager")
        for name in list(self.fields):
            if name not in shown and name not in ("account", "contract_line"):
                del self.fields[name]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("start", "end"):
            day = data.get(name)
            if day and not FIRST_DAY <= day <= LAST_DAY:
                self.add_error(
                    name,
                    f"Choose a date from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}.",
                )
        start, end = data.get("start"), data.get("end")
        if start and end and start > end and not self.errors:
            self.add_error("end", "The end date is before the start date.")
        return data

    def filters(self, today: date) -> ReportFilters:
        data = self.cleaned_data if self.is_valid() else {}
        default_start, default_end = this_year(today)
        manager = data.get("manager")
        item = data.get("item")
        return ReportFilters(
            start=data.get("start") or default_start,
            end=data.get("end") or default_end,
            currency=data.get("currency") or "",
            country=data.get("country") or "",
            manager_id=manager.pk if manager else None,
            item_id=item.pk if item else None,
            account_id=data.get("account"),
        )


@dataclass(frozen=True)
class ReportPage:
    slug: str
    title: str
    summary: str
    filters: tuple[str, ...]
    # (who, filters, the form's other choices, today, the rows a page shows from the first:
    # None for all of them, as an export) -> the table; a report may then hold only those
    # rows, and how many it has in all (Table.total).
    build: Callable[[User, ReportFilters, dict[str, Any], date, int | None], Table]
    drill: str = "lines"  # the drill-down page a row links to


def _ar_aging(
    user: User, f: ReportFilters, data: dict[str, Any], today: date, first: int | None
) -> Table:
    return selectors.ar_aging(user, f, today=today)


def _revenue(
    user: User, f: ReportFilters, data: dict[str, Any], today: date, first: int | None
) -> Table:
    return selectors.revenue(user, f, by=data.get("by") or "customer")


def _recurring(
    user: User, f: ReportFilters, data: dict[str, Any], today: date, first: int | None
) -> Table:
    return selectors.recurring_revenue(user, f, basis=data.get("basis") or "contracted")


def _billed_fairly(
    user: User, f: ReportFilters, data: dict[str, Any], today: date, first: int | None
) -> Table:
    tolerance = data.get("tolerance")
    return billed_fairly(
        user, f, tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance, first=first
    )


def _usage_vs_commit(
    user: User, f: ReportFilters, data: dict[str, Any], today: date, first: int | None
) -> Table:
    return selectors.usage_vs_commit(user, f, today=today)


def _invoices(
    user: User, f: ReportFilters, data: dict[str, Any], today: date, first: int | None
) -> Table:
    invoices = selectors.ar_invoices(user, f, today=today, bucket=data.get("bucket") or "")
    return invoice_table(invoices, today)


def _lines(
    user: User, f: ReportFilters, data: dict[str, Any], today: date, first: int | None
) -> Table:
    lines = selectors.lines_behind(user, f, contract_line_id=data.get("contract_line"))
    return line_table(lines)


def _acceptance_rates(
    user: User, f: ReportFilters, data: dict[str, Any], today: date, first: int | None
) -> Table:
    """Charges, not invoices: succeeded over attempted per country and payment method."""
    rates = acceptance_rates(
        user, start=f.start, end=f.end, country=f.country, manager_id=f.manager_id
    )
    names = dict(countries)
    rows = [
        {
            "country": names.get(r.country, r.country) if r.country else "No account of ours",
            "method": payment_method_name(r.method),
            "attempted": r.attempted,
            "succeeded": r.succeeded,
            "failed": r.failed,
            "rate": r.rate,
        }
        for r in rates
    ]
    totals = acceptance_totals(rates)
    rows += [
        {
            "country": "All countries shown",
            "method": payment_method_name(t.method),
            "attempted": t.attempted,
            "succeeded": t.succeeded,
            "failed": t.failed,
            "rate": t.rate,
        }
        for t in totals.values()
    ]
    table = Table(
        columns=[
            Column("country", "Billing country"),
            Column("method", "Payment method"),
            Column("attempted", "Attempted", "number"),
            Column("succeeded", "Succeeded", "number"),
            Column("failed", "Failed", "number"),
            Column("rate", "Accepted %", "share"),
        ],
        rows=rows,
        notes=[
            "Charges created from the start to the end date (UTC), succeeded or failed; "
            "pending debits are counted once they settle or fail."
        ],
    )
    if rates:
        labels = sorted({r.country or "-" for r in rates})
        by_method: dict[str, dict[str, Any]] = {}
        for r in rates:
            by_method.setdefault(r.method, {})[r.country or "-"] = (
                float(r.rate) if r.rate is not None else None  # a chart's point, not money
            )
        table.chart = {
            "type": "bar",
            "title": "Accepted % by billing country and payment method",
            "labels": labels,
            "datasets": [
                {
                    "label": payment_method_name(method),
                    "data": [points.get(label) for label in labels],
                }
                for method, points in sorted(by_method.items())
            ],
        }
    return table


COMMON = ("start", "end", "currency", "country", "manager")
REPORTS = {
    page.slug: page
    for page in (
        ReportPage(
            "billed-fairly",
            "Billed fairly",
            "Per account and contract line: what was billed against the contract's rate in "
            "force, the list price and what other accounts pay; deviations flagged.",
            (*COMMON, "item", "tolerance"),
            _billed_fairly,
        ),
        ReportPage(
            "usage-vs-commit",
            "Usage vs commit",
            "Minimum commits per contract year: usage to date at contract prices and billed, "
            "true-ups billed, the projected year end and shortfall, and true-ups never billed.",
            COMMON,
            _usage_vs_commit,
        ),
        ReportPage(
            "revenue",
            "Revenue",
            "Billed before tax per currency, by customer, product, country or signing "
            "cohort, month by month.",
            (*COMMON, "item", "by"),
            _revenue,
        ),
        ReportPage(
            "recurring-revenue",
            "MRR and ARR",
            "Recurring revenue per currency at each month's end, contracted or billed, with "
            "the month's new, expansion, contraction and churn.",
            (*COMMON, "basis"),
            _recurring,
        ),
        ReportPage(
            "acceptance-rates",
            "Acceptance rates",
            "Charges succeeded over charges attempted, by the account's billing country and "
            "the payment method, over a date range.",
            ("start", "end", "country", "manager"),
            _acceptance_rates,
        ),
        ReportPage(
            "ar-aging",
            "Accounts receivable aging",
            "What customers owe today per currency, by days past due.",
            ("currency", "country", "manager"),
            _ar_aging,
            drill="invoices",
        ),
    )
}
# The pages behind a figure: listed from a report's rows, not on the Reports page.
DRILL_DOWNS = {
    "invoices": ReportPage(
        "invoices",
        "Invoices owed",
        "The invoices behind an aging figure, oldest due first.",
        ("currency", "country", "manager", "bucket"),
        _invoices,
    ),
    "lines": ReportPage(
        "lines",
        "Invoice lines",
        "The invoice lines behind a figure, newest first.",
        (*COMMON, "item"),
        _lines,
    ),
}
# Rows a saved query's page shows; the export holds them all. Ten thousand rows would take
# seconds to draw and nobody reads them on a screen.
ROW_LIMIT = 500
# Rows a report shows a page (a report's flagged rows come first), as the admin's lists do;
# the pages after it a link away, the export holds them all.
PAGE_ROWS = 100


@dataclass(frozen=True)
class RowsPage:
    rows: Sequence[dict[str, Any]]
    number: int  # from 1
    pages: int
    first: int  # the first row's position, from 1 (0: no rows)
    last: int
    total: int


# Past any report's last page (a hundred million rows): a page asked beyond it is the last.
LAST_PAGE = 1_000_000


def asked_page(asked: str | None) -> int:
    """The page number asked for (`?page=`): the first if none or a wrong one, never past
    LAST_PAGE (a number of thirty digits would overflow the database's row limit)."""
    try:
        return min(max(1, int(asked or 1)), LAST_PAGE)
    except ValueError:
        return 1


def report_page(table: Table, asked: str | None) -> RowsPage:
    """The page of a report's rows asked for (`?page=`), the first if none or a wrong one, the
    last if past it. The table holds at least the rows up to the page asked."""
    rows = table.rows
    total = len(rows) if table.total is None else table.total
    pages = max(1, -(-total // PAGE_ROWS))
    number = min(asked_page(asked), pages)
    start = (number - 1) * PAGE_ROWS
    chosen = rows[start : start + PAGE_ROWS]
    return RowsPage(
        rows=chosen,
        number=number,
        pages=pages,
        first=start + 1 if chosen else 0,
        last=start + len(chosen),
        total=total,
    )


def invoice_table(invoices: QuerySet[BilledInvoice], today: date) -> Table:
    rows = [
        {
            "currency": i.currency,
            "invoice": i.number or i.stripe_invoice_id,
            "account": i.account.legal_name if i.account else i.stripe_customer_id,
            "status": i.get_status_display(),
            "finalized": i.finalized_on,
            "due": i.due_on,
            "days_past_due": max(0, (today - (i.due_on or i.finalized_on)).days),
            "total": i.total,
            "paid": i.amount_paid,
            "credited": i.credited,
            "remaining": i.amount_remaining,
            "_invoice": i.stripe_invoice_id,
        }
        for i in invoices
    ]
    return Table(
        columns=[
            Column("currency", "Currency"),
            Column("invoice", "Invoice"),
            Column("account", "Account"),
            Column("status", "Status"),
            Column("finalized", "Finalized", "date"),
            Column("due", "Due", "date"),
            Column("days_past_due", "Days past due", "number"),
            Column("total", "Total", "money"),
            Column("paid", "Paid", "money"),
            Column("credited", "Credited", "money"),
            Column("remaining", "Owed", "money"),
        ],
        rows=rows,
    )


def line_table(lines: QuerySet[BilledLine]) -> Table:
    rows = [
        {
            "currency": line.currency,
            "invoice": line.invoice.number or line.invoice.stripe_invoice_id,
            "finalized": line.finalized_on,
            "account": line.account.legal_name if line.account else "",
            "line": line.contract_line.key if line.contract_line else "",
            "item": line.item.name if line.item else "",
            "description": line.description,
            "period": f"{line.period_start} to {line.period_end}" if line.period_start else "",
            "quantity": line.quantity,
            "amount": line.amount,
            "contract_amount": line.contract_amount,
            "_invoice": line.invoice.stripe_invoice_id,
        }
        for line in lines
    ]
    return Table(
        columns=[
            Column("currency", "Currency"),
            Column("invoice", "Invoice"),
            Column("finalized", "Finalized", "date"),
            Column("account", "Account"),
            Column("line", "Contract line"),
            Column("item", "Item"),
            Column("description", "Description"),
            Column("period", "Period"),
            Column("quantity", "Quantity", "number"),
            Column("amount", "Billed", "money"),
            Column("contract_amount", "At contract prices", "money"),
        ],
        rows=rows,
    )


def shown(value: Any, column: Column, currency: str) -> str:
    """A cell for people: money in its currency's precision, rates as unit prices."""
    if value is None or value == "":
        return "-" if column.kind != "text" else ""
    if column.kind == "money":
        return format_amount(value, currency)
    if column.kind == "rate":
        return format_unit_price(value, currency)
    if column.kind == "percent":
        return f"{value:+}%"
    if column.kind == "share":  # a percentage with its own decimals: 75.0, 66.7
        return f"{value:,f}"
    if column.kind == "number":
        try:
            return f"{Decimal(value).normalize():,f}"
        except (InvalidOperation, TypeError):
            return str(value)
    return as_text(value)


def export_file(table: Table, extension: str) -> tuple[bytes, str]:
    rows = len(table.rows)
    if extension == "xlsx":
        return xlsx_file(sheet_columns(table), rows, text=sheet_text), CONTENT_TYPE
    headers = [c.title for c in table.columns]
    return csv_file_by_columns(headers, csv_columns(table), rows), CSV_CONTENT_TYPE


# Billed fairly exports 170,000 cells. Both exports work column by column: a column's kind is
# looked at once, and its commonest cells are written in a list comprehension with the
# others' rule called only for the rest (a call for each cell costs more than writing it).


def csv_columns(table: Table) -> list[list[str]]:
    """The table's cells as the CSV export writes them, column by column: money as plain
    numbers in the currency's precision (a currency column beside them), text made safe for
    spreadsheets, the rest as the imports read it back (as_text)."""
    rows = table.rows
    units = _by_currency(rows, minor_unit) if any(c.kind == "money" for c in table.columns) else []
    return [_csv_column(rows, column, units) for column in table.columns]


def _csv_column(rows: Sequence[dict[str, Any]], column: Column, units: list[Any]) -> list[str]:
    values = column_values(rows, column.key)
    if column.kind == "money":
        # plain_amount (billing/money.py) written out, with each currency's minor unit
        # looked up once: quantized to 0, 2 or 3 decimals str() is format(rounded, "f").
        return [
            (
                str(rounded)
                if (rounded := value.quantize(unit)) == value
                else f"{value.normalize():f}"
            )
            if type(value) is Decimal and unit is not None
            else _csv_cell(value, currency, money=True)
            for value, unit, currency in zip(
                values, units, column_values(rows, "currency"), strict=True
            )
        ]
    if column.kind == "text":
        return [
            ("'" + value if value.startswith(FORMULA_STARTS) else value)  # neutralised
            if type(value) is str
            else _csv_cell(value)
            for value in values
        ]
    return [decimal_text(value) if type(value) is Decimal else _csv_cell(value) for value in values]


def _csv_cell(value: Any, currency: str | None = None, *, money: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralised(value)
    if money:
        return plain_amount(value, currency)  # type: ignore[arg-type]  # none: an error
    return as_text(value)


def sheet_columns(table: Table) -> list[SheetColumn]:
    """The table's columns as the XLSX export holds them: text made safe as in the CSV (by
    sheet_text), money as its exact amount shown with its currency's decimals, numbers and
    dates as such."""
    rows = table.rows
    money = any(c.kind == "money" for c in table.columns)
    places = _by_currency(rows, decimal_places) if money else []
    return [
        SheetColumn(
            column.title,
            column_values(rows, column.key),
            column.kind if column.kind in ("text", "date") else "number",
            places if column.kind == "money" else None,
        )
        for column in table.columns
    ]


def sheet_text(value: Any) -> str:
    """What a text cell of the XLSX export shows: made safe as in the CSV; a value of no
    cell type (a saved query's list or UUID) as its text."""
    return neutralised(value if isinstance(value, str) else as_text(value))


def _by_currency(rows: Sequence[dict[str, Any]], of: Callable[[str], Any]) -> list[Any]:
    """`of` each row's currency, worked out once for each currency; None for a row without
    a currency (its amounts are then plain numbers in the XLSX, an error in the CSV)."""
    currencies = column_values(rows, "currency")
    known = {c: of(c) if isinstance(c, str) else None for c in set(currencies)}
    return [known[c] for c in currencies]


def drill_url(page: ReportPage, query: dict[str, Any], row: dict[str, Any]) -> str:
    """The page listing the invoices or lines behind a row, with the report's filters."""
    params = {k: v for k, v in query.items() if v not in (None, "") and k != "export"}
    params.update({k: v for k, v in row.get("_drill", {}).items() if v not in (None, "")})
    if row.get("currency"):
        params["currency"] = row["currency"]
    return reverse(f"admin:reports_{page.drill}") + "?" + urlencode(params)


def mirror_invoice_url(stripe_invoice_id: str) -> str:
    return reverse("admin:djstripe_invoice_changelist") + "?" + urlencode({"q": stripe_invoice_id})


def today() -> date:
    return timezone.localdate()
