"""Writes of accounts that mean something to the business: the push of an account to its
Stripe customer (with its tax IDs), and when it happens."""

from typing import Any

from customers.models import Account, TaxId
from customers.tasks import account_push_to_stripe_task
from stripe_sync.client import StripeApi
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type
from stripe_sync.writes import (
    found_by_search,
    found_in_list,
    params_digest,
    push_after_commit,
    push_with_status,
    stripe_write,
    stripe_write_recorded,
    written_params,
)


def account_push_after_commit(account: Account) -> None:
    """Send the account to Stripe once this transaction commits (saved on its page, imported,
    "Send to Stripe now"); nothing while no Stripe account is connected."""
    push_after_commit(account_push_to_stripe_task, account.pk)


def customer_params(account: Account) -> dict[str, Any]:
    """What Stripe's customer holds of the account."""
    payment_types = account.accepted_payment_methods
    custom_fields = []
    if account.external_ref:
        custom_fields.append({"name": "Customer reference", "value": account.external_ref[:140]})
    return {
        "name": account.legal_name,
        "email": account.billing_email,
        "address": {
            "line1": account.address_line1,
            "line2": account.address_line2,
            "city": account.city,
            "postal_code": account.postal_code,
            "state": account.state,
            "country": str(account.billing_country),
        },
        "tax_exempt": account.tax_exemption,
        # Shown on every invoice, so the customer's AP team can match it.
        "invoice_settings": {"custom_fields": custom_fields or ""},
        "preferred_locales": [],
        "metadata": {
            "backoffice_account_id": str(account.pk),
            "external_ref": account.external_ref,
            # Stripe keeps payment method types on subscriptions and invoices, not customers
            # (payments/services.py sets them there); this says it to whoever reads the customer.
            "preferred_payment_method_types": ",".join(payment_types),
            # The evidence behind tax_exempt, for whoever reads the customer in Stripe.
            "tax_exemption_evidence": account.exemption_certificate,
            "tax_exemption_valid_until": (
                account.exemption_valid_until.isoformat() if account.exemption_valid_until else ""
            ),
        },
    }


def account_push_to_stripe(*, account: Account, api: StripeApi | None = None) -> str:
    """Create or update the account's Stripe customer and its tax IDs; the customer id."""
    api = api or StripeApi()
    return push_with_status(Account, account.pk, lambda: _account_push(account, api))


def _account_push(account: Account, api: StripeApi) -> str:
    account = Account.objects.get(pk=account.pk)
    mirror = Mirror(api)
    params = customer_params(account)
    state_key = f"account-{account.pk}-customer-state-{params_digest(params)}"
    if account.stripe_customer_id:  # type: ignore[attr-defined]
        customer_id = account.stripe_customer_id  # type: ignore[attr-defined]
        stripe_write(
            api,
            key=state_key,
            description=f"Update Stripe customer of {account.legal_name}",
            method="POST",
            path=f"/v1/customers/{customer_id}",
            params=params,
            record=account,
        )
    else:
        create_key = f"account-{account.pk}-customer-create"
        created = stripe_write(
            api,
            key=create_key,
            description=f"Create Stripe customer for {account.legal_name}",
            method="POST",
            path="/v1/customers",
            params=params,
            record=account,
            find=found_by_search(
                api, "/v1/customers/search", "backoffice_account_id", str(account.pk)
            ),
        )
        customer_id = created["id"]
        # What the creation sent (a creation retried after a timeout sends what it first
        # sent): that state is in Stripe, and pushing it again is not a change.
        sent = written_params(create_key) or params
        stripe_write_recorded(
            key=f"account-{account.pk}-customer-state-{params_digest(sent)}",
            description=f"Stripe customer of {account.legal_name} (sent on creation)",
            path="/v1/customers",
            params=sent,
            stripe_id=customer_id,
            record=account,
        )
        if params_digest(sent) != params_digest(params):
            # The account changed while its creation was in doubt: send what is true now.
            stripe_write(
                api,
                key=state_key,
                description=f"Update Stripe customer of {account.legal_name}",
                method="POST",
                path=f"/v1/customers/{customer_id}",
                params=params,
                record=account,
            )
    _tax_ids_push(account, customer_id, api)
    # The mirror, and the link to it, from what Stripe now holds.
    mirror.refresh(object_type("customers"), customer_id, missing_ok=False)
    Account.objects.filter(pk=account.pk).update(stripe_customer_id=customer_id)
    return str(customer_id)


def _tax_ids_push(account: Account, customer_id: str, api: StripeApi) -> None:
    ours = list(TaxId.objects.filter(account=account))
    for tax_id in ours:
        if tax_id.stripe_id:
            continue
        # Tax IDs carry no metadata: the customer's own of the same type and value.
        same = (tax_id.type, tax_id.value)
        created = stripe_write(
            api,
            key=f"taxid-{tax_id.pk}-create",
            description=f"Add tax ID {tax_id.value} to {account.legal_name}",
            method="POST",
            path=f"/v1/customers/{customer_id}/tax_ids",
            params={"type": tax_id.type, "value": tax_id.value},
            record=account,
            find=found_in_list(
                api,
                f"/v1/customers/{customer_id}/tax_ids",
                lambda held: (held.get("type"), held.get("value")) == same,  # noqa: B023 (called in this iteration)
            ),
        )
        TaxId.objects.filter(pk=tax_id.pk).update(stripe_id=created["id"])
    kept = set(TaxId.objects.filter(account=account).values_list("stripe_id", flat=True))
    listed = api.get(f"/v1/customers/{customer_id}", expand=["tax_ids"]).get("tax_ids") or {}
    in_stripe = [t["id"] for t in listed.get("data") or []]
    if listed.get("has_more"):
        in_stripe += [
            t["id"]
            for page in api.list_pages(
                f"/v1/customers/{customer_id}/tax_ids", starting_after=in_stripe[-1]
            )
            for t in page["data"]
        ]
    for stripe_id in in_stripe:
        if stripe_id not in kept:
            stripe_write(
                api,
                key=f"taxid-{stripe_id}-delete",
                description=f"Remove tax ID {stripe_id} from {account.legal_name}",
                method="DELETE",
                path=f"/v1/customers/{customer_id}/tax_ids/{stripe_id}",
                record=account,
            )
