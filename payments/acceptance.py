"""Acceptance rates: of the charges attempted, how many succeeded, by the paying account's
billing country and the payment method type (`payment_method_details.type`: card,
us_bank_account, sepa_debit, ...), over a date range.

Attempted means decided: succeeded or failed. A pending charge (an ACH or SEPA debit not yet
settled) is neither accepted nor refused yet, and is left out until it is. A charge counts on
the day Stripe created it (UTC). Charges of customers that are no account of ours count for
finance under no country; an account manager sees only their own accounts' charges.

The report reads each charge's outcome from payments.models.ChargeOutcome, which follows the
mirror (`charges_mirrored_to_outcomes`, in the sync's transaction) and is rebuilt from it by
`charge_outcomes_rebuild` (`manage.py reports_rebuild`), with the same figures.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Count, Q, QuerySet, TextField, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce
from djstripe.models import Charge

from backoffice.database import insert_selected
from backoffice.models import User
from customers.selectors import VIEW_ALL_ACCOUNTS
from payments.models import ChargeOutcome
from stripe_sync.hooks import StripeObjects

DECIDED = ("succeeded", "failed")
BATCH = 500


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
) -> QuerySet[ChargeOutcome]:
    """The decided charges created from `start` to `end` (both included) that `user` sees."""
    charges = ChargeOutcome.objects.filter(
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
        .values("customer__backoffice_account__billing_country", "payment_method_type")
        .annotate(
            attempted=Count("pk"),
            succeeded=Count("pk", filter=Q(status="succeeded")),
        )
    )
    rows = [
        AcceptanceRate(
            country=str(row["customer__backoffice_account__billing_country"] or ""),
            method=str(row["payment_method_type"] or "unknown"),
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


# --- Keeping the charges' outcomes ------------------------------------------------------------


def charges_mirrored_to_outcomes(charges: StripeObjects) -> None:
    """The charges the sync has just written (in its transaction): their outcomes follow."""
    charge_outcomes_refresh(str(c["id"]) for c in charges if c.get("id"))


@transaction.atomic
def charge_outcomes_refresh(stripe_charge_ids: Iterable[str]) -> int:
    """These charges' outcomes again from the mirror as it is now. Returns the rows written."""
    ids = sorted(set(stripe_charge_ids))
    written = 0
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        ChargeOutcome.objects.filter(stripe_charge_id__in=batch).delete()
        written += _outcomes_write(Charge.objects.filter(id__in=batch))
    return written


@transaction.atomic
def charge_outcomes_rebuild() -> int:
    """Every charge's outcome again from the mirror: after a restore, or a doubt."""
    ChargeOutcome.objects.all().delete()
    return _outcomes_write(Charge.objects.all())


def _outcomes_write(charges: QuerySet[Charge]) -> int:
    """The outcomes of these mirrored charges, copied by the database in one statement
    (INSERT ... SELECT): 100,000 charges' payloads unpacked once, not read into Python."""
    rows = (
        charges.annotate(
            method=Coalesce(
                KT("stripe_data__payment_method_details__type"), Value(""), output_field=TextField()
            ),
            # The mirror links the customer once it holds it; the charge names it from the start.
            payer=Coalesce("customer_id", KT("stripe_data__customer"), output_field=TextField()),
        )
        .values("id", "created", "status", "method", "payer")
        .order_by()
    )
    return insert_selected(
        ChargeOutcome,
        rows,
        {
            "stripe_charge_id": "id",
            "created": "created",
            "status": "status",
            "payment_method_type": "method",
            "customer_id": "payer",
        },
    )
