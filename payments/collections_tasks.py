"""Celery tasks of collections and disputes: thin, they take ids and call a service."""

from celery import shared_task

from stripe_sync.tasks import RETRY


@shared_task(name="payments.payment_retry_task", **RETRY)
def payment_retry_task(retry_id: int) -> None:
    from payments.collections import payment_retry_send
    from payments.models import PaymentRetry

    payment_retry_send(retry=PaymentRetry.objects.get(pk=retry_id))


@shared_task(name="payments.dispute_evidence_task", **RETRY)
def dispute_evidence_task(evidence_id: int) -> None:
    from payments.disputes import dispute_evidence_send
    from payments.models import DisputeEvidence

    dispute_evidence_send(evidence=DisputeEvidence.objects.get(pk=evidence_id))
