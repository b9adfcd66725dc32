"""What the reports take from the mirror and the contracts: the ledger follows both, after the
write commits (subscribed in ReportsConfig.ready)."""

from typing import Any

from billing.contracts.models import Contract
from reports.tasks import (
    account_billed_refresh_task,
    billed_invoices_refresh_task,
    contracted_months_refresh_task,
)
from stripe_sync.hooks import StripeObjects
from stripe_sync.outbox import enqueue


def invoices_mirrored_to_ledger(invoices: StripeObjects) -> None:
    """Every invoice written, whatever its status: a draft finalized enters the ledger, a
    finalized one voided or paid is written again."""
    ids = sorted({str(i["id"]) for i in invoices if i.get("id")})
    if ids:
        enqueue(billed_invoices_refresh_task, ids)


def credit_notes_to_ledger(credit_notes: StripeObjects) -> None:
    """A credit note issued or voided changes what its invoice is credited."""
    ids = sorted({_id(c.get("invoice")) for c in credit_notes if c.get("invoice")})
    if ids:
        enqueue(billed_invoices_refresh_task, ids)


def contract_changed_to_ledger(contract: Contract) -> None:
    """What the account's invoices should have billed may have changed with the contract."""
    enqueue(account_billed_refresh_task, contract.account_id)


def contract_changed_to_contracted_months(contract: Contract) -> None:
    """The account's contracted MRR again: an amendment approved ends the version it amends,
    a termination or expiry ends the term, a renewal extends it."""
    enqueue(contracted_months_refresh_task, contract.account_id)


def _id(value: Any) -> str:
    return str(value["id"] if isinstance(value, dict) else value)
