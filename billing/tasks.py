"""Celery tasks: thin adapters that take ids and call a service or the sync engine."""

from celery import shared_task
from django.utils import timezone

from stripe_sync.tasks import RETRY, refusal_recorded


@shared_task(name="billing.tasks.contract_push_to_stripe_task", **RETRY)
def contract_push_to_stripe_task(contract_id: int) -> None:
    from billing.models import Contract
    from billing.services.stripe_push import contract_push_to_stripe

    with refusal_recorded():  # shown on the contract with Stripe's message; a person fixes it
        contract_push_to_stripe(contract=Contract.objects.get(pk=contract_id))


@shared_task(name="billing.tasks.tax_rate_push_to_stripe_task", **RETRY)
def tax_rate_push_to_stripe_task(tax_rate_id: int) -> None:
    from billing.models import TaxRate
    from billing.services.tax import tax_rate_push_to_stripe

    with refusal_recorded():  # shown on the rate with Stripe's message
        tax_rate_push_to_stripe(rate=TaxRate.objects.get(pk=tax_rate_id))


@shared_task(name="billing.tasks.invoice_review_task", **RETRY)
def invoice_review_task(stripe_invoice_id: str) -> None:
    from billing.services.invoice_review import invoice_review_run

    invoice_review_run(stripe_invoice_id=stripe_invoice_id)


@shared_task(name="billing.tasks.account_drafts_review_task", **RETRY)
def account_drafts_review_task(account_id: int) -> None:
    from billing.services.invoice_review import account_drafts_review

    account_drafts_review(account_id)


@shared_task(name="billing.tasks.invoice_hold_in_stripe_task", **RETRY)
def invoice_hold_in_stripe_task(review_id: int) -> None:
    from billing.models import InvoiceReview
    from billing.services.invoice_review import invoice_hold_in_stripe

    with refusal_recorded():  # the write shows Stripe's message (a draft deleted since, say)
        invoice_hold_in_stripe(review=InvoiceReview.objects.get(pk=review_id))


@shared_task(name="billing.tasks.invoice_stripe_action_task", **RETRY)
def invoice_stripe_action_task(review_id: int, action: str) -> None:
    from billing.models import InvoiceReview
    from billing.services.invoice_review import invoice_stripe_action

    with refusal_recorded():  # the write shows Stripe's message
        invoice_stripe_action(review=InvoiceReview.objects.get(pk=review_id), action=action)


@shared_task(name="billing.tasks.contracts_renew_or_expire_task")
def contracts_renew_or_expire_task() -> dict[str, int]:
    from billing.services.contracts import contracts_renew_or_expire

    return contracts_renew_or_expire(today=timezone.localdate())
