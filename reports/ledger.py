"""The reports' ledger: each finalized invoice in the Stripe mirror, and its lines, as rows of
figures (reports.models), written again whenever the mirror writes the invoice or a credit note
on it, and rebuilt whole from the mirror by `manage.py reports_rebuild` with the same result.

What each line bills is tied to the contract line it comes from (by the Stripe price of the
contract's phase, or the contract and line a one-off item's metadata names), and priced again
at the contract version in force over the line's days and at the catalog's list price, so that
"billed fairly" compares what Stripe billed with what was agreed without pricing at read time.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import Count, DateField, Max, Q, QuerySet, Sum
from django.db.models.functions import Cast, TruncMonth, TruncQuarter, TruncYear
from djstripe.models import Invoice, LineItem

from backoffice.database import insert_selected, one_writer_at_a_time
from billing.catalog.models import ListPrice
from billing.contracts.models import Contract, ContractLine, PricePhase
from billing.contracts.selectors import contracts_terms_in_force
from billing.invoices.checks import DraftLine, draft_from_stripe
from billing.invoices.models import CreditNote
from billing.invoices.selectors import WAS_IN_FORCE
from billing.money import from_stripe_amount, quantize
from billing.pricing import (
    MINIMUM_COMMIT_KEY,
    add_months,
    invoice_due_day,
    line_amount,
    line_priced_quantity,
    stripe_day,
)
from customers.models import Account
from reports.models import (
    BilledInvoice,
    BilledLine,
    BilledMonth,
    BilledQuarter,
    BilledSums,
    BilledYear,
)

FINALIZED = tuple(BilledInvoice.Status.values)
BATCH = 500


def billed_invoices_refresh(stripe_invoice_ids: Iterable[str], *, months: bool = True) -> int:
    """Write the ledger's rows of these invoices again from the mirror as it is now (an
    invoice no longer finalized, or gone, leaves the ledger), and the months they add up to.
    Whatever order Stripe's events came in, the rows follow the mirror's latest state.
    Returns the invoices written."""
    ids = sorted(set(stripe_invoice_ids))
    written = 0
    for start in range(0, len(ids), BATCH):
        written += _refresh_batch(ids[start : start + BATCH], months=months)
    return written


class LedgerRebuilt(NamedTuple):
    invoices: int
    months: int  # rows of monthly sums
    quarters: int  # rows of quarterly sums
    years: int  # rows of yearly sums


def billed_ledger_rebuild() -> LedgerRebuilt:
    """The whole ledger again from the mirror: what the reports show after a restore, a change
    in how lines are priced, or a doubt."""
    with transaction.atomic(), connection.cursor() as cursor:
        # One statement a table: Django's delete of every invoice lists their lines' ids as
        # parameters, past PostgreSQL's 65,535 at 100,000 invoices.
        for model in (BilledYear, BilledQuarter, BilledMonth, BilledLine, BilledInvoice):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608
        ids = list(
            Invoice.objects.filter(_finalized_q()).order_by("id").values_list("id", flat=True)
        )
        written = billed_invoices_refresh(ids, months=False)
        sums = billed_months_rebuild()  # once, over every line: not batch by batch
        return LedgerRebuilt(written, sums.months, sums.quarters, sums.years)


class SumsWritten(NamedTuple):
    months: int
    quarters: int
    years: int


def billed_months_rebuild() -> SumsWritten:
    """The monthly sums again from the ledger's lines, all of them, the quarterly sums from
    them and the yearly sums from those."""
    BilledYear.objects.all().delete()
    BilledQuarter.objects.all().delete()
    BilledMonth.objects.all().delete()
    months = _months_write(BilledLine.objects.all())
    quarters = _quarters_write(BilledMonth.objects.all())
    return SumsWritten(months, quarters, _years_write(BilledQuarter.objects.all()))


def _months_refresh(keys: set[tuple[int | None, date]]) -> None:
    """The monthly sums of these accounts and months again from their lines: of the accounts
    and months named (a few per batch of invoices), each pair of them; then the quarterly sums
    of those accounts and the months' quarters from the monthly sums, the months untouched
    included, and the quarters' years from the quarterly sums likewise. In the caller's
    transaction, under its lock."""
    if not keys:
        return
    accounts = {account for account, _ in keys}
    months = sorted({month for _, month in keys})
    whose = Q(account_id__in=[a for a in accounts if a is not None])
    if None in accounts:
        whose |= Q(account__isnull=True)
    BilledMonth.objects.filter(whose, month__in=months).delete()
    within = Q()
    for month in months:
        within |= Q(finalized_on__gte=month, finalized_on__lt=add_months(month, 1))
    _months_write(BilledLine.objects.filter(whose).filter(within))
    quarters = sorted({BilledQuarter.quarter_of(month) for month in months})
    BilledQuarter.objects.filter(whose, quarter__in=quarters).delete()
    _quarters_write(
        BilledMonth.objects.filter(
            whose, month__in=[add_months(q, n) for q in quarters for n in range(3)]
        )
    )
    years = sorted({BilledYear.year_of(quarter) for quarter in quarters})
    BilledYear.objects.filter(whose, year__in=years).delete()
    _years_write(
        BilledQuarter.objects.filter(
            whose, quarter__in=[add_months(y, 3 * n) for y in years for n in range(4)]
        )
    )


MONTH_KEYS = (
    "account_id",
    "currency",
    "contract_id",
    "contract_line_id",
    "item_id",
    "kind",
    "period_start",
    "period_end",
)


def _months_write(lines: QuerySet[BilledLine]) -> int:
    """The monthly sums of these lines, added up and written by the database in one
    statement (INSERT ... SELECT): a million lines take seconds, not the minutes of reading
    them into Python and back."""
    # A date on every database (PostgreSQL's date_trunc answers a timestamp).
    by_month = lines.filter(counted=True).annotate(
        month=Cast(TruncMonth("finalized_on"), DateField())
    )
    return _sums_write(
        BilledMonth, by_month, ("month", *MONTH_KEYS), Count("contract_amount"), Count("id")
    )


# A quarter adds up its months' billing periods together.
QUARTER_KEYS = tuple(key for key in MONTH_KEYS if key not in ("period_start", "period_end"))


def _quarters_write(months: QuerySet[BilledMonth]) -> int:
    """The quarterly sums of these monthly sums, the billing periods added together, written
    by the database in one statement as the months are."""
    by_quarter = months.annotate(quarter=Cast(TruncQuarter("month"), DateField()))
    return _sums_write(
        BilledQuarter, by_quarter, ("quarter", *QUARTER_KEYS), Sum("priced"), Sum("lines")
    )


def _years_write(quarters: QuerySet[BilledQuarter]) -> int:
    """The yearly sums of these quarterly sums, written by the database in one statement as
    the quarters are."""
    by_year = quarters.annotate(year=Cast(TruncYear("quarter"), DateField()))
    return _sums_write(BilledYear, by_year, ("year", *QUARTER_KEYS), Sum("priced"), Sum("lines"))


def _sums_write(
    model: type[BilledSums], rows: QuerySet[Any], keys: tuple[str, ...], priced: Any, lines: Any
) -> int:
    """`rows` added up per `keys` into `model`'s figures and written by the database in one
    statement. Lines are counted; months' counts are added up, hence `priced` and `lines`."""
    grouped = (
        rows.values(*keys)
        .annotate(
            sum_quantity=Sum("quantity"),
            sum_amount=Sum("amount"),
            sum_credited=Sum("credited"),
            sum_contract_amount=Sum("contract_amount"),
            sum_contract_quantity=Sum("contract_quantity"),
            sum_priced=priced,
            sum_lines=lines,
            max_list_unit=Max("list_unit_amount"),
        )
        .order_by()
    )
    return insert_selected(
        model,
        grouped,
        {  # the table's column: the grouped query's (keys are attnames, the same in both)
            **{key: key for key in keys},
            "quantity": "sum_quantity",
            "amount": "sum_amount",
            "credited": "sum_credited",
            "contract_amount": "sum_contract_amount",
            "contract_quantity": "sum_contract_quantity",
            "priced": "sum_priced",
            "lines": "sum_lines",
            "list_unit_amount": "max_list_unit",
        },
    )


def account_billed_refresh(account_id: int) -> int:
    """An account's invoices again: its contracts changed (approved, amended), and with them
    what each line should have billed."""
    ids = list(
        BilledInvoice.objects.filter(account_id=account_id).values_list(
            "stripe_invoice_id", flat=True
        )
    )
    return billed_invoices_refresh(ids)


def _finalized_q() -> Q:
    return Q(stripe_data__status__in=list(FINALIZED))


def _month_keys(lines: QuerySet[BilledLine]) -> set[tuple[int | None, date]]:
    return {
        (account, date(day.year, day.month, 1))
        for account, day in lines.values_list("account_id", "finalized_on").distinct()
    }


@transaction.atomic
def _refresh_batch(ids: list[str], *, months: bool = True) -> int:
    # Two tasks refreshing an invoice, or a month, at once would each write the rows the other
    # cannot see yet.
    one_writer_at_a_time("reports.ledger")
    invoices = {
        i: data
        for i, data in Invoice.objects.filter(id__in=ids).values_list("id", "stripe_data")
        if (data or {}).get("status") in FINALIZED
    }
    touched = (
        _month_keys(BilledLine.objects.filter(invoice__stripe_invoice_id__in=ids))
        if months
        else set()
    )
    BilledInvoice.objects.filter(stripe_invoice_id__in=ids).delete()  # lines cascade
    if not invoices:
        _months_refresh(touched)
        return 0
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for data in LineItem.objects.filter(stripe_data__invoice__in=list(invoices)).values_list(
        "stripe_data", flat=True
    ):
        lines[str(data.get("invoice"))].append(data)
    parsed = {i: draft_from_stripe(data, lines[i]) for i, data in invoices.items()}
    pricing = _Pricing(parsed.values())
    credited, notes = _credited(list(invoices))
    rows, line_rows = [], []
    for invoice_id, data in invoices.items():
        row = _invoice_row(data, pricing.accounts.get(str(data.get("customer") or "")))
        row.credited = credited.get(invoice_id, Decimal(0))
        rows.append(row)
        its_lines = [pricing.line_row(row, line) for line in parsed[invoice_id].lines]
        _lines_credited(its_lines, notes.get(invoice_id, []), row.currency)
        line_rows.append(its_lines)
    BilledInvoice.objects.bulk_create(rows, batch_size=BATCH)
    for row, its_lines in zip(rows, line_rows, strict=True):
        for line in its_lines:
            line.invoice = row
    written = BilledLine.objects.bulk_create(
        [line for its_lines in line_rows for line in its_lines], batch_size=2000
    )
    if months:
        _months_refresh(
            touched
            | {
                (line.account_id, date(line.finalized_on.year, line.finalized_on.month, 1))
                for line in written
            }
        )
    return len(rows)


def _invoice_row(data: dict[str, Any], account: Account | None) -> BilledInvoice:
    currency = str(data["currency"]).upper()
    transitions = data.get("status_transitions") or {}

    def money(key: str) -> Decimal:
        return from_stripe_amount(int(data.get(key) or 0), currency)

    total = money("total")
    subtotal = money("subtotal")
    finalized = stripe_day(transitions.get("finalized_at")) or stripe_day(data.get("created"))
    return BilledInvoice(
        stripe_invoice_id=str(data["id"]),
        number=str(data.get("number") or ""),
        account=account,
        stripe_customer_id=str(data.get("customer") or ""),
        currency=currency,
        status=str(data["status"]),
        finalized_on=finalized or date(1970, 1, 1),  # Stripe's invoices always have `created`
        due_on=invoice_due_day(data),
        paid_on=stripe_day(transitions.get("paid_at")),
        period_start=stripe_day(data.get("period_start")),
        period_end=stripe_day(data.get("period_end")),
        subtotal=subtotal,
        tax=total - money("total_excluding_tax") if "total_excluding_tax" in data else _tax(data),
        total=total,
        amount_due=money("amount_due"),
        amount_paid=money("amount_paid"),
        amount_remaining=money("amount_remaining"),
    )


def _tax(data: dict[str, Any]) -> Decimal:
    currency = str(data["currency"]).upper()
    amounts = data.get("total_taxes") or data.get("total_tax_amounts") or []
    return from_stripe_amount(sum(int(t.get("amount") or 0) for t in amounts), currency)


def _credited(
    invoice_ids: list[str],
) -> tuple[dict[str, Decimal], dict[str, list[tuple[Decimal, list[dict[str, Any]]]]]]:
    """Per invoice, its issued credit notes' total (tax included), and each note's amount
    before tax with its lines."""
    credited: dict[str, Decimal] = defaultdict(Decimal)
    notes: dict[str, list[tuple[Decimal, list[dict[str, Any]]]]] = defaultdict(list)
    for invoice_id, total, amount, lines in (
        CreditNote.objects.filter(
            stripe_invoice_id__in=invoice_ids, status=CreditNote.Status.ISSUED
        )
        .order_by("pk")
        .values_list("stripe_invoice_id", "total", "amount", "lines")
    ):
        credited[invoice_id] += total if total is not None else amount
        notes[invoice_id].append((amount, lines or []))
    return credited, notes


def _lines_credited(
    lines: list[BilledLine], notes: list[tuple[Decimal, list[dict[str, Any]]]], currency: str
) -> None:
    """What each invoice line was credited before tax. A credit note's line names the invoice
    line it credits (Stripe's `invoice_line_item`): that line takes it. What a note credits
    beyond its named lines (a custom line, or no lines) is shared over the invoice's lines in
    proportion to their amounts, rounded to the currency's minor unit, the last line taking the
    rounding, so the lines' credits add up to the notes' amounts before tax."""
    by_id = {line.stripe_line_id: line for line in lines}
    for line in lines:
        line.credited = Decimal(0)
    for amount, note_lines in notes:
        named = Decimal(0)
        for note_line in note_lines:
            target = by_id.get(str(note_line.get("invoice_line_item") or ""))
            if target is not None:
                part = from_stripe_amount(int(note_line.get("amount") or 0), currency)
                target.credited += part
                named += part
        rest = amount - named
        billed = sum((line.amount for line in lines if line.amount > 0), Decimal(0))
        if not rest or not billed:
            continue
        shares = [line for line in lines if line.amount > 0]
        left = rest
        for line in shares[:-1]:
            part = quantize(rest * line.amount / billed, currency)
            line.credited += part
            left -= part
        shares[-1].credited += left


class _Pricing:
    """What a batch of invoices needs to place and price its lines, read once for the batch:
    the accounts, the contract phases their prices are, the contract versions in force, and
    the list prices."""

    def __init__(self, invoices: Iterable[Any]) -> None:
        invoices = list(invoices)
        customers = {i.customer_id for i in invoices if i.customer_id}
        self.accounts = {
            str(a.stripe_customer_id): a  # type: ignore[attr-defined]  # dj-stripe is untyped
            for a in Account.objects.filter(stripe_customer_id__in=customers)
        }
        prices = {line.price_id for i in invoices for line in i.lines if line.price_id}
        self.phases = {
            p.stripe_price_id: p
            for p in PricePhase.objects.filter(stripe_price_id__in=prices).select_related(
                "line__contract"
            )
        }
        versions = list(
            Contract.objects.filter(
                account__in=self.accounts.values(), status__in=WAS_IN_FORCE
            ).order_by("number", "-version")
        )
        self.versions: dict[int, list[Contract]] = defaultdict(list)
        for contract in versions:
            self.versions[contract.account_id].append(contract)
        # Each version over the days it is in force, priced once for the batch.
        self.terms = contracts_terms_in_force(versions)
        self.lines = {
            (line.contract_id, line.key): line
            for line in ContractLine.objects.filter(contract__in=versions)
        }
        self.list_prices: dict[tuple[int | None, str], Decimal] = {
            (item_id, currency): unit
            for item_id, currency, unit in ListPrice.objects.values_list(
                "item_id", "currency", "unit_amount"
            )
        }

    def in_force(self, account: Account | None, number: str, day: date) -> Contract | None:
        """The version of contract `number` (any of the account's, when blank) in force on
        `day`, as invoice review's contract_in_force finds it."""
        if account is None:
            return None
        for contract in self.versions.get(account.pk, []):
            terms = self.terms[contract.pk]
            if (not number or contract.number == number) and terms.start <= day <= terms.end:
                return contract
        return None

    def line_row(self, invoice: BilledInvoice, line: DraftLine) -> BilledLine:
        phase = self.phases.get(line.price_id or "")
        key = phase.line.key if phase else line.contract_line
        number = phase.line.contract.number if phase else line.contract_number
        contract = self.in_force(invoice.account, number, line.period_start) if key else None
        contract_line = None
        contract_amount: Decimal | None = None
        contract_quantity: Decimal | None = None
        if contract is not None:
            contract_line = self.lines.get((contract.pk, key))
            if contract_line is not None:
                terms = self.terms[contract.pk]
                contract_amount = line_amount(
                    terms, key, line.period_start, line.period_end, line.quantity
                )
                priced = line_priced_quantity(terms, key, line.period_start, line.quantity)
                if contract_amount is not None and priced is not None:
                    contract_quantity = Decimal(priced)
        if contract_line is None and phase is not None:
            contract_line = phase.line  # billed at a price of a version no longer in force
        item_id = contract_line.item_id if contract_line else None
        if key == MINIMUM_COMMIT_KEY:
            kind = BilledLine.Kind.TRUE_UP
        elif contract_line is None:
            kind = BilledLine.Kind.OTHER
        elif contract_line.is_metered:
            kind = BilledLine.Kind.USAGE
        else:
            kind = BilledLine.Kind.RECURRING
        return BilledLine(
            stripe_line_id=line.id,
            account=invoice.account,
            currency=invoice.currency,
            finalized_on=invoice.finalized_on,
            counted=invoice.status != BilledInvoice.Status.VOID,
            contract=contract or (phase.line.contract if phase else None),
            contract_line=contract_line,
            item_id=item_id,
            kind=kind,
            description=line.description[:500],
            period_start=line.period_start,
            period_end=line.period_end,
            quantity=Decimal(line.quantity),
            amount=from_stripe_amount(line.amount - line.discount_amount, invoice.currency),
            contract_amount=contract_amount,
            contract_quantity=contract_quantity,
            list_unit_amount=self.list_prices.get((item_id, invoice.currency)),
        )
