"""Celery tasks of tax settings (the name is the one the task had in billing.tasks)."""

from celery import shared_task

from billing.tax.models import TaxRate
from stripe_sync.tasks import RETRY, refusal_recorded


@shared_task(name="billing.tasks.tax_rate_push_to_stripe_task", **RETRY)
def tax_rate_push_to_stripe_task(tax_rate_id: int) -> None:
    from billing.tax.services import tax_rate_push_to_stripe

    with refusal_recorded():  # shown on the rate with Stripe's message
        tax_rate_push_to_stripe(rate=TaxRate.objects.get(pk=tax_rate_id))
