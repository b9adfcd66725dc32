"""Reads of invoice review: the mirrored invoice, the contract in force for it and what that
contract expects of it, other invoices billing the same period, the queue's currencies."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, QuerySet, Sum
from djstripe.models import Invoice, LineItem
from djstripe.models import TaxRate as StripeTaxRate

from billing.contracts.models import Contract, PricePhase
from billing.contracts.selectors import contract_terms, contract_validity
from billing.invoices.checks import ContractExpectation, DraftInvoice, RecordedUsage
from billing.invoices.models import InvoiceApprovalLimit, InvoiceReview
from billing.pricing import add_months, day_timestamp
from billing.tax.decide import TaxTreatment, account_tax_decision, rules_in_force
from billing.usage.selectors import usage_figures
from customers.models import Account

# Why an invoice carries no rate of ours, as the invoice page says it.
TAX_NOTES = {
    TaxTreatment.EXEMPT: "customer exempt",
    TaxTreatment.REVERSE_CHARGE: "reverse charge",
    TaxTreatment.STRIPE_TAX: "Stripe Tax",
    TaxTreatment.NO_RULE: "no tax rule for the customer's place",
}


def mirrored_invoice(
    stripe_invoice_id: str, *, missing_ok: bool = True
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The invoice as Stripe sent it, and all its lines (the mirror holds them as rows of their
    own); an invoice not mirrored is only its id, unless `missing_ok` is False."""
    invoice = Invoice.objects.filter(id=stripe_invoice_id).first()
    if invoice is None and not missing_ok:
        raise Invoice.DoesNotExist(f"Invoice {stripe_invoice_id} is not in the mirror.")
    data = invoice.stripe_data if invoice else {"id": stripe_invoice_id}
    lines = [
        line.stripe_data for line in LineItem.objects.filter(stripe_data__invoice=stripe_invoice_id)
    ]
    return data, lines


def approval_limit(currency: str) -> InvoiceApprovalLimit | None:
    return InvoiceApprovalLimit.objects.filter(currency=currency).first()


# The statuses of a version that was in force on some days: a draft may bill any of them,
# whatever the contract's status is today.
WAS_IN_FORCE = [
    Contract.Status.ACTIVE,
    Contract.Status.SUPERSEDED,
    Contract.Status.TERMINATED,
    Contract.Status.EXPIRED,
]
ENDED = {
    Contract.Status.TERMINATED: "terminated",
    Contract.Status.EXPIRED: "expired",
    Contract.Status.SUPERSEDED: "superseded by an amendment",
}


def contract_in_force(account: Account, day: date) -> Contract | None:
    """The contract version of `account` in force on `day`, whatever became of it since."""
    candidates = Contract.objects.filter(
        account=account, status__in=WAS_IN_FORCE, start_date__lte=day, end_date__gte=day
    ).order_by("number", "-version")
    for contract in candidates:
        start, end = contract_validity(contract)
        if start <= day <= end:
            return contract
    return None


def invoice_contracts(account: Account, draft: DraftInvoice) -> list[Contract]:
    """The contract versions a draft may bill: every version of each contract whose prices
    (or number, in a one-off item's metadata) its lines carry, since a line is checked against
    the version in force on its days; else the version in force on the draft's first day."""
    prices = {line.price_id for line in draft.lines if line.price_id}
    numbers = {line.contract_number for line in draft.lines if line.contract_number}
    numbers |= set(
        PricePhase.objects.filter(line__contract__account=account, stripe_price_id__in=prices)
        .values_list("line__contract__number", flat=True)
        .distinct()
    )
    versions = list(
        Contract.objects.filter(account=account, number__in=numbers, status__in=WAS_IN_FORCE)
        .select_related("account")
        .order_by("number", "version")
    )
    if not versions and draft.period:
        in_force = contract_in_force(account, draft.period[0])
        versions = [in_force] if in_force else []
    return versions


def contract_expectation(contract: Contract, span: tuple[date, date]) -> ContractExpectation:
    """What one contract version says its invoices hold, with the usage recorded for it
    around `span` (the days of the draft's lines)."""
    account = contract.account
    terms = contract_terms(contract)
    price_lines = dict(
        PricePhase.objects.filter(line__contract=contract)
        .exclude(stripe_price_id="")
        .values_list("stripe_price_id", "line__key")
    )
    on_stripe_tax = contract.tax_mode == Contract.TaxMode.STRIPE_TAX
    on = max(span[0], terms.start)
    decision = account_tax_decision(account, stripe_tax=on_stripe_tax, rules=rules_in_force(on))
    tax_rate_ids: tuple[str, ...] = ()
    note = TAX_NOTES.get(decision.treatment, "")
    if decision.rule is not None:  # TaxTreatment.RULE: the rate of our rule
        rule = decision.rule
        stripe_rate = rule.rate.stripe_tax_rate_id  # type: ignore[attr-defined]
        tax_rate_ids = (stripe_rate or f"{rule.rate} (not in Stripe)",)
        place = f"{rule.country}-{rule.state}" if rule.state else str(rule.country)
        note = f"{rule.rate} by the rule for {place}"
    metrics = {line.metric for line in terms.lines if line.is_usage}
    # Usage is billed in arrears: the figures of the period before the first line count too.
    since = add_months(span[0], -contract.billing_frequency)
    return ContractExpectation(
        number=contract.number,
        version=contract.version,
        terms=terms,
        price_lines=price_lines,
        collection_method=contract.collection_method,
        payment_terms_days=contract.payment_terms_days,
        tax_rate_ids=tax_rate_ids,
        tax_note=note,
        stripe_tax=on_stripe_tax,
        usage=tuple(
            RecordedUsage(*figure)
            for figure in usage_figures(account.pk, metrics, (since, span[1]))
        ),
        contract_id=contract.pk,
        ended=ENDED.get(contract.status, ""),  # type: ignore[call-overload]
        tax_treatment=str(decision.treatment),
        exemption_evidence=account.exemption_certificate,
        exemption_valid=(account.exemption_valid_from, account.exemption_valid_until),
    )


def tax_rate_percentages(draft: DraftInvoice) -> dict[str, Decimal]:
    """The percentage of each Stripe tax rate on the draft's lines, as the mirror holds it."""
    ids = {tax.rate_id for line in draft.lines for tax in line.taxes if tax.rate_id}
    if not ids:
        return {}
    return {
        rate_id: Decimal(str(percentage))
        for rate_id, percentage in StripeTaxRate.objects.filter(id__in=ids).values_list(
            "id", "stripe_data__percentage"
        )
        if percentage is not None
    }


def invoice_expectations(account: Account | None, draft: DraftInvoice) -> list[ContractExpectation]:
    """What each contract version the draft may bill expects of it."""
    if account is None or draft.period is None:
        return []
    return [
        contract_expectation(contract, draft.period)
        for contract in invoice_contracts(account, draft)
    ]


def invoices_billing_the_same_period(invoice_id: str, draft: DraftInvoice) -> list[str]:
    """Other invoices in the mirror (not void) that bill one of the draft's prices for some
    of the same days: a draft with this period's fees and last period's usage shares no day
    of a price with its neighbours."""
    priced = [line for line in draft.lines if line.price_id]
    if not priced:
        return []
    first = min(line.period_start for line in priced)
    last = max(line.period_end for line in priced)
    start, end = day_timestamp(first), day_timestamp(last + timedelta(days=1))
    days_of: dict[str, list[tuple[int, int]]] = {}
    for line in priced:
        days_of.setdefault(str(line.price_id), []).append(
            (day_timestamp(line.period_start), day_timestamp(line.period_end + timedelta(days=1)))
        )
    others = set()
    for other, price, period in (
        LineItem.objects.filter(
            stripe_data__pricing__price_details__price__in=list(days_of),
            stripe_data__period__start__lt=end,
            stripe_data__period__end__gt=start,
        )
        .exclude(stripe_data__invoice=invoice_id)
        .values_list(
            "stripe_data__invoice",
            "stripe_data__pricing__price_details__price",
            "stripe_data__period",
        )
    ):
        if any(
            period["start"] < line_end and line_start < period["end"]
            for line_start, line_end in days_of.get(str(price), [])
        ):
            others.add(other)
    live = Invoice.objects.filter(id__in=others).exclude(stripe_data__status="void")
    return sorted(live.values_list("id", flat=True))


def invoice_review_currencies() -> list[str]:
    """The currencies of the invoices under review, for the queue's filter. On PostgreSQL one
    index step per currency (a loose index scan), not a read of every row as DISTINCT is."""
    if connection.vendor != "postgresql":
        found = InvoiceReview.objects.order_by().values_list("currency", flat=True).distinct()
        return sorted(c for c in found if c)
    table = InvoiceReview._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE c(currency) AS (
                (SELECT currency FROM {table} ORDER BY currency LIMIT 1)
                UNION ALL
                SELECT (SELECT r.currency FROM {table} r WHERE r.currency > c.currency
                        ORDER BY r.currency LIMIT 1)
                FROM c WHERE c.currency IS NOT NULL
            )
            SELECT currency FROM c WHERE currency IS NOT NULL AND currency <> ''
            """  # noqa: S608 - the table name is ours, not input
        )
        return [row[0] for row in cursor.fetchall()]


# Drafts no one has decided on yet: the review queue's work (held ones wait on their note).
AWAITING_DECISION = (
    InvoiceReview.Status.FLAGGED,
    InvoiceReview.Status.CLEAN,
    InvoiceReview.Status.AWAITING_SECOND,
)


def invoice_reviews_by_status(reviews: QuerySet[InvoiceReview]) -> dict[str, int]:
    """How many of `reviews` are in each status (one query; a status with none is absent)."""
    counted = reviews.order_by().values_list("status").annotate(n=Count("pk"))
    return {status: n for status, n in counted}


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    drafts: int
    amount: Decimal  # before tax, in `currency`: never added to another currency's


def invoice_reviews_awaiting_decision_by_currency(
    reviews: QuerySet[InvoiceReview],
) -> list[CurrencyTotal]:
    """Per currency, the drafts awaiting a decision and their amount before tax (one query)."""
    return invoice_review_totals(reviews.filter(status__in=AWAITING_DECISION))


def invoice_review_totals(reviews: QuerySet[InvoiceReview]) -> list[CurrencyTotal]:
    """Per currency, how many of `reviews` and their amount before tax (one query); amounts of
    different currencies are never added together."""
    totals = (
        reviews.exclude(currency="")
        .order_by("currency")
        .values_list("currency")
        .annotate(drafts=Count("pk"), amount=Sum("amount"))
    )
    return [CurrencyTotal(currency, drafts, amount) for currency, drafts, amount in totals]
