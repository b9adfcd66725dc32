"""Payments' Celery tasks: thin, they take ids and call a service (accepted methods, the Radar
queue's decisions, collections' retries and disputes' evidence)."""

from celery import shared_task

from stripe_sync.tasks import RETRY, refusal_recorded


@shared_task(**RETRY)
def account_payment_methods_enforce_task(account_id: int) -> None:
    from customers.models import Account
    from payments.services import account_payment_methods_enforce

    with refusal_recorded():  # Stripe's message shows in the account's "sent to Stripe"
        account_payment_methods_enforce(account=Account.objects.get(pk=account_id))


@shared_task(name="payments.radar_decision_send_task", **RETRY)
def radar_decision_send_task(decision_id: int) -> None:
    from payments.models import RadarDecision
    from payments.radar import radar_decision_send

    with refusal_recorded():  # Stripe's message is on the decision and its write
        radar_decision_send(decision=RadarDecision.objects.get(pk=decision_id))


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
