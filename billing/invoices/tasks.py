"""Celery tasks of invoice review: thin, they take ids and call a service.

Task names are the ones these tasks had in billing.tasks: queued messages name a task by it.
"""

from typing import Any

from celery import shared_task

from billing.invoices.models import InvoiceReview
from stripe_sync.tasks import RETRY, refusal_recorded


@shared_task(name="billing.tasks.invoice_review_task", **RETRY)
def invoice_review_task(stripe_invoice_id: str) -> None:
    from billing.invoices.services import invoice_review_run

    invoice_review_run(stripe_invoice_id=stripe_invoice_id)


@shared_task(name="billing.tasks.account_drafts_review_task", **RETRY)
def account_drafts_review_task(account_id: int) -> None:
    from billing.invoices.services import account_drafts_review

    account_drafts_review(account_id)


@shared_task(name="billing.tasks.invoice_hold_in_stripe_task", **RETRY)
def invoice_hold_in_stripe_task(review_id: int) -> None:
    from billing.invoices.services import invoice_hold_in_stripe

    with refusal_recorded():  # the write shows Stripe's message (a draft deleted since, say)
        invoice_hold_in_stripe(review=InvoiceReview.objects.get(pk=review_id))


@shared_task(name="billing.tasks.invoice_stripe_action_task", **RETRY)
def invoice_stripe_action_task(review_id: int, action: str) -> None:
    from billing.invoices.services import invoice_stripe_action

    with refusal_recorded():  # the write shows Stripe's message
        invoice_stripe_action(review=InvoiceReview.objects.get(pk=review_id), action=action)


@shared_task(name="billing.tasks.invoice_payment_methods_task", **RETRY)
def invoice_payment_methods_task(review_id: int) -> None:
    from billing.invoices.services import invoice_payment_methods_push

    with refusal_recorded():  # the write shows Stripe's message (a draft finalized since, say)
        invoice_payment_methods_push(review=InvoiceReview.objects.get(pk=review_id))


@shared_task(name="billing.tasks.invoice_true_up_task", **RETRY)
def invoice_true_up_task(
    review_id: int, amount: int, start: str, end: str, contract_id: int | None = None
) -> None:
    from datetime import date

    from billing.invoices.services import invoice_true_up_push

    with refusal_recorded():  # the write shows Stripe's message (a draft finalized since, say)
        invoice_true_up_push(
            review=InvoiceReview.objects.get(pk=review_id),
            amount=amount,
            start=date.fromisoformat(start),
            end=date.fromisoformat(end),
            contract_id=contract_id,
        )


@shared_task(name="billing.tasks.invoice_correction_task", **RETRY)
def invoice_correction_task(review_id: int, item: dict[str, Any]) -> None:
    from billing.invoices.services import invoice_correction_push

    with refusal_recorded():  # the write shows Stripe's message (a draft finalized since, say)
        invoice_correction_push(review=InvoiceReview.objects.get(pk=review_id), item=item)


@shared_task(name="billing.tasks.invoice_custom_fields_task", **RETRY)
def invoice_custom_fields_task(review_id: int, fields: list[dict[str, str]]) -> None:
    from billing.invoices.services import invoice_custom_fields_push

    with refusal_recorded():
        invoice_custom_fields_push(review=InvoiceReview.objects.get(pk=review_id), fields=fields)


@shared_task(name="billing.tasks.credit_note_issue_task", **RETRY)
def credit_note_issue_task(credit_note_id: int) -> None:
    from billing.invoices.credit_notes import credit_note_issue
    from billing.invoices.models import CreditNote

    with refusal_recorded():  # Stripe's message is on the write, the note shows "Refused"
        credit_note_issue(note=CreditNote.objects.get(pk=credit_note_id))
