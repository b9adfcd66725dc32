"""Celery tasks of the Radar queue: thin, they take ids and call a service."""

from celery import shared_task

from payments.models import RadarDecision
from stripe_sync.tasks import RETRY, refusal_recorded


@shared_task(name="payments.radar_decision_send_task", **RETRY)
def radar_decision_send_task(decision_id: int) -> None:
    from payments.radar import radar_decision_send

    with refusal_recorded():  # Stripe's message is on the decision and its write
        radar_decision_send(decision=RadarDecision.objects.get(pk=decision_id))
