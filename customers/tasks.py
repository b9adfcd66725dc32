"""Celery tasks of customers: thin, they take ids and call a service."""

from celery import shared_task

from customers.models import Account
from stripe_sync.tasks import RETRY, refusal_recorded


# The name it had in billing.tasks: queued messages name a task by it.
@shared_task(name="billing.tasks.account_push_to_stripe_task", **RETRY)
def account_push_to_stripe_task(account_id: int) -> None:
    from customers.services import account_push_to_stripe

    with refusal_recorded():  # shown on the account with Stripe's message; a person fixes it
        account_push_to_stripe(account=Account.objects.get(pk=account_id))
