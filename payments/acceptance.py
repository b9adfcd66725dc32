"""Acceptance rates: of the charges attempted, how many succeeded, by the paying account's
billing country and the payment method type (`payment_method_details.type`: card,
us_bank_account, sepa_debit, ...), over a date range.

Attempted means decided: succeeded or failed. A pending charge (an ACH or SEPA debit not yet
settled) is neither accepted nor refused yet, and is left out until it is. A charge counts on
the day Stripe created it (UTC). Charges of customers that are no account of ours count for
finance under no country; an account manager sees only their own accounts' charges.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, QuerySet
from django.db.models.fields.json import KT
from djstripe.models import Charge

from backoffice.models import User
from customers.selectors import VIEW_ALL_ACCOUNTS

DECIDED = ("succeeded", "failed")


@dataclass(frozen=True)
class AcceptanceRate:
    country: str  # ISO 3166 alpha-2 of the account's billing country; "" for no account
    method: str  # Stripe's payment method type
    attempted: int
    succeeded: int

    @property
    def failed(self) -> int:
        return self.attempted - self.succeeded

    @property
    def rate(self) -> Decimal | None:
        """Succeeded over attempted, in percent to one decimal (None: nothing attempted)."""
        if not self.attempted:
            return None
        return (Decimal(100) * self.succeeded / self.attempted).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def charges_attempted(
    user: User,
    *,
    start: date,
    end: date,
    country: str = "",
    manager_id: int | None = None,
) -> QuerySet[Charge]:
    """The decided charges created from `start` to `end` (both included) that `user` sees."""
    charges = Charge.objects.filter(
        status__in=DECIDED,
        created__gte=_day_start(start),
        created__lt=_day_start(end + timedelta(days=1)),
    )
    if not user.has_perm(VIEW_ALL_ACCOUNTS):
        charges = charges.filter(customer__backoffice_account__account_manager=user)
    if country:
        charges = charges.filter(customer__backoffice_account__billing_country=country)
    if manager_id:
        charges = charges.filter(customer__backoffice_account__account_manager_id=manager_id)
    return charges


def acceptance_rates(
    user: User,
    *,
    start: date,
    end: date,
    country: str = "",
    manager_id: int | None = None,
) -> list[AcceptanceRate]:
    """One row per country and payment method, by country then method (one query)."""
    grouped = (
        charges_attempted(user, start=start, end=end, country=country, manager_id=manager_id)
        .annotate(method=KT("stripe_data__payment_method_details__type"))
        .values("customer__backoffice_account__billing_country", "method")
        .annotate(
            attempted=Count("pk"),
            succeeded=Count("pk", filter=Q(status="succeeded")),
        )
    )
    rows = [
        AcceptanceRate(
            country=str(row["customer__backoffice_account__billing_country"] or ""),
            method=str(row["method"] or "unknown"),
            attempted=row["attempted"],
            succeeded=row["succeeded"],
        )
        for row in grouped
    ]
    rows.sort(key=lambda row: (row.country == "", row.country, row.method))
    return rows


def acceptance_totals(rows: list[AcceptanceRate]) -> dict[str, AcceptanceRate]:
    """Per payment method, over every country shown."""
    totals: dict[str, AcceptanceRate] = {}
    for row in rows:
        was = totals.get(row.method, AcceptanceRate("", row.method, 0, 0))
        totals[row.method] = AcceptanceRate(
            "", row.method, was.attempted + row.attempted, was.succeeded + row.succeeded
        )
    return dict(sorted(totals.items()))
