import stripe
from celery import shared_task
from django.utils import timezone


@shared_task(
    autoretry_for=(stripe.RateLimitError, stripe.APIConnectionError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=8,
)
def customer_sync_from_stripe_task(stripe_id: str) -> None:
    from billing.sync.customers import customer_sync_from_stripe

    customer_sync_from_stripe(stripe_id=stripe_id)


@shared_task
def contracts_renew_or_expire_task() -> dict[str, int]:
    from billing.services.contracts import contracts_renew_or_expire

    return contracts_renew_or_expire(today=timezone.localdate())
