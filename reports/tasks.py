"""Celery tasks of the reports: thin, they take ids and call the ledger."""

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
