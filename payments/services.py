"""Payments' writes: an account's accepted payment methods made Stripe's payment_method_types
on its subscriptions (whose invoices take them) and on its draft invoices held for review.

Each write carries an idempotency key made of the subscription and what it sends, runs in a
task after commit (the outbox), and is recorded on the account (its "sent to Stripe" table).
The drafts are invoice review's: it sets them when it checks a draft and before finalizing it
(billing/invoices/services.py); here, a change of methods has every open draft checked again.
"""

from typing import Any

from djstripe.models import Subscription

from billing.invoices.services import account_drafts_review
from customers.models import Account
from payments.tasks import account_payment_methods_enforce_task
from stripe_sync.client import StripeApi
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type
from stripe_sync.writes import params_digest, push_after_commit, stripe_write

# A subscription that still makes invoices (Stripe's statuses).
BILLING_SUBSCRIPTION_STATUSES = ("active", "trialing", "past_due", "unpaid", "incomplete")


def subscription_payment_method_params(account: Account) -> dict[str, Any]:
    # An empty list would be refused: "" lets Stripe choose (the invoice template's methods).
    return {
        "payment_settings": {"payment_method_types": list(account.accepted_payment_methods) or ""}
    }


def _types_held(stripe_data: dict[str, Any]) -> list[str]:
    return list((stripe_data.get("payment_settings") or {}).get("payment_method_types") or [])


def account_payment_methods_changed_after_commit(account: Account) -> None:
    """The account's methods changed (its page, the accounts import): once that commits, its
    subscriptions and open drafts take them. Subscribed to customers'
    account_payment_methods_changed in PaymentsConfig.ready."""
    push_after_commit(account_payment_methods_enforce_task, account.pk)


def subscriptions_mirrored_check(subscriptions: list[dict[str, Any]]) -> None:
    """A subscription Stripe made (a schedule starting) or changed: if it does not take its
    account's methods, it is set to after commit. Subscribed to stripe_sync's
    subscriptions_mirrored."""
    customers = {s.get("customer") for s in subscriptions if _still_billing(s)}
    if not customers:
        return
    accounts = {
        a.stripe_customer_id: a  # type: ignore[attr-defined]
        for a in Account.objects.filter(stripe_customer_id__in=customers)
    }
    for subscription in subscriptions:
        account = accounts.get(subscription.get("customer"))
        if account is None or not _still_billing(subscription):
            continue
        if _types_held(subscription) != list(account.accepted_payment_methods):
            push_after_commit(account_payment_methods_enforce_task, account.pk)
            accounts.pop(subscription.get("customer"))  # once per account


def _still_billing(subscription: dict[str, Any]) -> bool:
    return subscription.get("status") in BILLING_SUBSCRIPTION_STATUSES


def account_payment_methods_enforce(*, account: Account, api: StripeApi | None = None) -> list[str]:
    """Set the account's methods on each of its subscriptions still billing, then have its
    draft invoices checked again (a draft that differs is set by invoice review). The ids of
    the subscriptions written to."""
    account = Account.objects.get(pk=account.pk)
    customer_id = account.stripe_customer_id  # type: ignore[attr-defined]
    if not customer_id:
        return []
    api = api or StripeApi()
    params = subscription_payment_method_params(account)
    wanted = list(account.accepted_payment_methods)
    said = ", ".join(wanted) or "Stripe's choice"
    # The account's last change is in the key too: methods changed back (A, B, A) are sent
    # again, and a retry of this write sends it under the same key.
    changed = int(account.updated_at.timestamp() * 1_000_000)  # microseconds
    written = []
    for subscription in Subscription.objects.filter(customer_id=customer_id).order_by("id"):
        data = subscription.stripe_data
        if not _still_billing(data) or _types_held(data) == wanted:
            continue
        stripe_write(
            api,
            key=f"subscription-{subscription.id}-payment-methods-{params_digest(params)}-{changed}",
            description=f"Payment methods of {account.legal_name}'s subscription "
            f"{subscription.id}: {said}",
            method="POST",
            path=f"/v1/subscriptions/{subscription.id}",
            params=params,
            record=account,
        )
        Mirror(api).refresh(object_type("subscriptions"), subscription.id)
        written.append(subscription.id)
    account_drafts_review(account.pk)
    return written
