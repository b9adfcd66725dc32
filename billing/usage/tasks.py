"""Celery tasks of usage: thin, they take ids and call a service."""

from celery import shared_task

from stripe_sync.tasks import RETRY, refusal_recorded


@shared_task(name="billing.tasks.usage_send_to_stripe_task", **RETRY)
def usage_send_to_stripe_task(usage_ids: list[int]) -> dict[str, int]:
    """Send usage figures' meter events; a refusal is recorded on the figure, a transient
    failure retries the task (events are resent under their identifiers)."""
    from billing.usage.services import usage_send_to_stripe

    result = usage_send_to_stripe(usage_ids=usage_ids)
    return {"sent": result.sent, "refused": len(result.refused)}


@shared_task(name="billing.tasks.usage_late_invoice_item_task", **RETRY)
def usage_late_invoice_item_task(
    usage_id: int, units: int, amount: int, contract_id: int, start: str, end: str
) -> None:
    from datetime import date

    from billing.contracts.models import Contract
    from billing.usage.late_usage import usage_late_invoice_item_push
    from billing.usage.models import UsageQuantity

    with refusal_recorded():  # shown on the figure with Stripe's message
        usage_late_invoice_item_push(
            usage=UsageQuantity.objects.select_related("account").get(pk=usage_id),
            units=units,
            amount=amount,
            contract=Contract.objects.get(pk=contract_id),
            period=(date.fromisoformat(start), date.fromisoformat(end)),
        )
