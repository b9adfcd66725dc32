"""Celery tasks of usage: thin, they take ids and call a service."""

from celery import shared_task

from stripe_sync.tasks import RETRY


@shared_task(name="billing.tasks.usage_send_to_stripe_task", **RETRY)
def usage_send_to_stripe_task(usage_ids: list[int]) -> dict[str, int]:
    """Send usage figures' meter events; a refusal is recorded on the figure, a transient
    failure retries the task (events are resent under their identifiers)."""
    from billing.usage.services import usage_send_to_stripe

    result = usage_send_to_stripe(usage_ids=usage_ids)
    return {"sent": result.sent, "refused": len(result.refused)}
