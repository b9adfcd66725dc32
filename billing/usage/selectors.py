"""Reads of usage quantities, and what makes a usage figure billable."""

from collections.abc import Iterable
from datetime import date

from billing.contracts.models import Contract, ContractLine
from billing.usage.models import UsageQuantity

# Versions that were approved: what Stripe bills (or billed) usage on.
APPROVED_STATUSES = (
    Contract.Status.ACTIVE,
    Contract.Status.SUPERSEDED,
    Contract.Status.EXPIRED,
    Contract.Status.TERMINATED,
)

# Per account and usage metric, the terms (first and last day) of the approved contract
# versions with a metered line on that metric.
MeteredTerms = dict[int, dict[str, list[tuple[date, date]]]]


def usage_figures(
    account_id: int, metrics: set[str], span: tuple[date, date]
) -> list[tuple[str, date, date, int]]:
    """The figures of the metrics recorded for days inside `span`: (metric, first day, last
    day, units), for invoice review to add up per billing period."""
    return list(
        UsageQuantity.objects.filter(
            account_id=account_id,
            metric__in=metrics,
            period_start__gte=span[0],
            period_end__lte=span[1],
        )
        .order_by("period_start", "metric")
        .values_list("metric", "period_start", "period_end", "quantity")
    )


def metered_terms(account_ids: Iterable[int]) -> MeteredTerms:
    """What the accounts' approved contracts meter, and when (one query)."""
    terms: MeteredTerms = {}
    for account_id, metric, start, end in (
        ContractLine.objects.filter(
            contract__account_id__in=list(account_ids), contract__status__in=APPROVED_STATUSES
        )
        .exclude(metric="")
        .values_list("contract__account_id", "metric", "contract__start_date", "contract__end_date")
    ):
        terms.setdefault(account_id, {}).setdefault(metric, []).append((start, end))
    return terms


def usage_refusal(
    terms: MeteredTerms, account_id: int, account_ref: str, metric: str, period: tuple[date, date]
) -> tuple[str, str] | None:
    """Why usage of `metric` over `period` cannot be billed to the account, as (field,
    sentence); None when a contract bills it. The same reasons for the form, the import and
    the sending to Stripe."""
    metrics = terms.get(account_id, {})
    if metric not in metrics:
        known = ", ".join(sorted(metrics)) or "none"
        return (
            "metric",
            f"no approved contract of {account_ref} bills usage of '{metric}' (the metrics "
            f"its contracts bill: {known}).",
        )
    if not any(start <= period[0] and period[1] <= end for start, end in metrics[metric]):
        spans = "; ".join(f"{s} to {e}" for s, e in sorted(set(metrics[metric])))
        return (
            "period_start",
            f"{period[0]} to {period[1]} is not within a contract of {account_ref} that bills "
            f"{metric} ({spans}).",
        )
    return None


def not_in_stripe(account_ref: str) -> tuple[str, str]:
    """Usage of an account Stripe does not know yet: the same words on the form, the import
    row and the figure."""
    return (
        "account",
        f"{account_ref} is not in Stripe yet, so its usage cannot reach Stripe's meter: send "
        "the account to Stripe first.",
    )


def as_sentence(reason: str) -> str:
    """A row error ("no approved contract ...") as a sentence of its own, for a form or a
    record."""
    return reason[:1].upper() + reason[1:]
