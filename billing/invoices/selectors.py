"""Reads of invoice review: the mirrored invoice, the contract in force for it and what that
contract expects of it, other invoices billing the same period, the queue's currencies."""

from datetime import date, timedelta
from typing import Any

from django.db import connection
from djstripe.models import Invoice, LineItem

from billing.contracts.models import Contract, PricePhase
from billing.contracts.selectors import contract_terms, contract_validity
from billing.invoices.checks import ContractExpectation, DraftInvoice
from billing.invoices.models import InvoiceApprovalLimit, InvoiceReview
from billing.pricing import day_timestamp
from billing.tax.decide import TaxTreatment, account_tax_decision, rules_in_force
from billing.usage.selectors import usage_for_period
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


def contract_in_force(account: Account, day: date) -> Contract | None:
    """The contract version of `account` in force on `day` (active, or superseded later)."""
    candidates = Contract.objects.filter(
        account=account,
        status__in=[Contract.Status.ACTIVE, Contract.Status.SUPERSEDED],
        start_date__lte=day,
        end_date__gte=day,
    ).order_by("-version")
    for contract in candidates:
        start, end = contract_validity(contract)
        if start <= day <= end:
            return contract
    return None


def contract_expectation(contract: Contract, period: tuple[date, date]) -> ContractExpectation:
    """What the contract says an invoice for `period` holds, with the usage recorded for it."""
    account = contract.account
    on = period[0]
    terms = contract_terms(contract)
    price_lines = dict(
        PricePhase.objects.filter(line__contract__number=contract.number)
        .exclude(stripe_price_id="")
        .values_list("stripe_price_id", "line__key")
    )
    on_stripe_tax = contract.tax_mode == Contract.TaxMode.STRIPE_TAX
    decision = account_tax_decision(account, stripe_tax=on_stripe_tax, rules=rules_in_force(on))
    tax_rate_ids: tuple[str, ...] = ()
    note = TAX_NOTES.get(decision.treatment, "")
    if decision.rule is not None:  # TaxTreatment.RULE: the rate of our rule
        rule = decision.rule
        stripe_rate = rule.rate.stripe_tax_rate_id  # type: ignore[attr-defined]
        tax_rate_ids = (stripe_rate or f"{rule.rate} (not in Stripe)",)
        place = f"{rule.country}-{rule.state}" if rule.state else str(rule.country)
        note = f"{rule.rate} by the rule for {place}"
    return ContractExpectation(
        contract=f"{contract.number} v{contract.version}",
        terms=terms,
        price_lines=price_lines,
        collection_method=contract.collection_method,
        payment_terms_days=contract.payment_terms_days,
        tax_rate_ids=tax_rate_ids,
        tax_note=note,
        stripe_tax=on_stripe_tax,
        usage=usage_for_period(
            account.pk, {line.metric for line in terms.lines if line.is_usage}, period
        ),
    )


def invoices_billing_the_same_period(
    invoice_id: str, expected: ContractExpectation, draft: DraftInvoice
) -> list[str]:
    """Other invoices in the mirror (not void) that bill this contract's prices for days of
    the same period."""
    period = draft.period
    if period is None or not expected.price_lines:
        return []
    start, end = day_timestamp(period[0]), day_timestamp(period[1] + timedelta(days=1))
    others = set(
        LineItem.objects.filter(
            stripe_data__pricing__price_details__price__in=list(expected.price_lines),
            stripe_data__period__start__lt=end,
            stripe_data__period__end__gt=start,
        )
        .exclude(stripe_data__invoice=invoice_id)
        .values_list("stripe_data__invoice", flat=True)
    )
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
