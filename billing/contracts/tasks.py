"""Celery tasks of contracts: thin, they take ids and call a service.

Task names are the ones these tasks had in billing.tasks: beat's schedules and queued messages
name a task by it.
"""

from celery import shared_task
from django.utils import timezone

from billing.contracts.models import Contract
from stripe_sync.tasks import RETRY, refusal_recorded


@shared_task(name="billing.tasks.contract_push_to_stripe_task", **RETRY)
def contract_push_to_stripe_task(contract_id: int) -> None:
    from billing.contracts.push import contract_push_to_stripe

    with refusal_recorded():  # shown on the contract with Stripe's message; a person fixes it
        contract_push_to_stripe(contract=Contract.objects.get(pk=contract_id))


@shared_task(name="billing.tasks.contracts_renew_or_expire_task")
def contracts_renew_or_expire_task() -> dict[str, int]:
    from billing.contracts.services import contracts_renew_or_expire

    return contracts_renew_or_expire(today=timezone.localdate())
