"""Celery tasks of the reports: thin, they take ids and call the ledger or the contracted MRR."""

from celery import shared_task

from stripe_sync.tasks import RETRY


@shared_task(name="reports.tasks.billed_invoices_refresh_task", **RETRY)
def billed_invoices_refresh_task(stripe_invoice_ids: list[str]) -> None:
    from reports.ledger import billed_invoices_refresh

    billed_invoices_refresh(stripe_invoice_ids)


@shared_task(name="reports.tasks.account_billed_refresh_task", **RETRY)
def account_billed_refresh_task(account_id: int) -> None:
    from reports.ledger import account_billed_refresh

    account_billed_refresh(account_id)


@shared_task(name="reports.tasks.contracted_months_refresh_task", **RETRY)
def contracted_months_refresh_task(account_id: int) -> None:
    from reports.contracted import contracted_months_refresh

    contracted_months_refresh(account_id)
