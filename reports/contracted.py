"""Contracted MRR kept per contract version and month end (reports.models.ContractedMonth):
each version priced once when one of its account's contracts changes (approved, amended,
terminated, renewed, expired: billing.contracts.hooks.contract_changed, after the write
commits), not on every request of the report, and rebuilt whole by `manage.py reports_rebuild`
with the same result.

The figures are those the report priced itself: the versions in force (contracts_terms_in_force,
where an amendment's effective date ends the version it amends) at monthly_recurring.
"""

from datetime import date, timedelta

from django.db import models, transaction
from django.db.models import Q

from backoffice.database import one_writer_at_a_time
from billing.contracts.models import Contract
from billing.contracts.selectors import contracts_terms_in_force
from billing.pricing import add_months, monthly_recurring
from reports.models import ContractedMonth
from reports.selectors import IN_FORCE

BATCH = 500  # contract versions priced together (one contracts_terms_in_force each)


@transaction.atomic
def contracted_months_refresh(account_id: int) -> int:
    """Every version in force of the account's contracts again, together: approving an
    amendment ends the version it amends, so both change. Returns the rows written."""
    _lock()
    # Rows of a contract since moved to this account go too (written under the old account).
    ContractedMonth.objects.filter(
        Q(account_id=account_id) | Q(contract__account_id=account_id)
    ).delete()
    versions = list(
        Contract.objects.filter(account_id=account_id, status__in=IN_FORCE).order_by("pk")
    )
    return _write(versions, ContractedMonth)


@transaction.atomic
def contracted_months_rebuild(*, into: type[models.Model] = ContractedMonth) -> int:
    """Every account's versions again, a batch of versions at a time: the same rows as
    refreshing each account. `into`: the table's model as a migration knows it. Returns the
    rows written."""
    _lock()
    into._default_manager.all().delete()
    ids = list(
        Contract.objects.filter(status__in=IN_FORCE).order_by("pk").values_list("pk", flat=True)
    )
    written = 0
    for start in range(0, len(ids), BATCH):
        versions = list(Contract.objects.filter(pk__in=ids[start : start + BATCH]).order_by("pk"))
        written += _write(versions, into)
    return written


def _write(versions: list[Contract], into: type[models.Model]) -> int:
    """Each version's MRR at every month end of the days it is in force; none at zero."""
    terms = contracts_terms_in_force(versions)
    rows = []
    for contract in versions:
        term = terms[contract.pk]
        ends = _month_ends_within(term.start, term.end)
        for end, mrr in zip(ends, monthly_recurring(term, ends), strict=True):
            if mrr:
                rows.append(
                    into(
                        contract_id=contract.pk,
                        account_id=contract.account_id,
                        currency=contract.currency,
                        month_end=end,
                        mrr=mrr,
                    )
                )
    return len(into._default_manager.bulk_create(rows, batch_size=5000))


def _month_ends_within(start: date, end: date) -> list[date]:
    """The last days of months from `start` to `end`, both included."""
    ends: list[date] = []
    month = date(start.year, start.month, 1)
    while (last := add_months(month, 1) - timedelta(days=1)) <= end:
        ends.append(last)  # never before start: a month ends on or after any day of it
        month = add_months(month, 1)
    return ends


def _lock() -> None:
    # Two refreshes of an account at once would each delete what the other has not written
    # yet, and both write.
    one_writer_at_a_time("reports.contracted")
