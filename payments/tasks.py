"""Payments' Celery tasks: thin, they take ids and call a service."""

from celery import shared_task

from stripe_sync.tasks import RETRY, refusal_recorded


@shared_task(**RETRY)
def account_payment_methods_enforce_task(account_id: int) -> None:
    from customers.models import Account
    from payments.services import account_payment_methods_enforce

    with refusal_recorded():  # Stripe's message shows in the account's "sent to Stripe"
        account_payment_methods_enforce(account=Account.objects.get(pk=account_id))
