"""Accounts pushed to Stripe, against the local stand-in: what exactly is sent, and that it is
sent once."""

from datetime import date

import pytest
import stripe
from django.conf import settings
from djstripe.models import Customer as MirroredCustomer

from customers.models import Account, TaxId
from customers.services import account_push_to_stripe
from customers.tests.factories import AccountFactory
from stripe_sync.models import PushStatus, StripeWrite

pytestmark = pytest.mark.django_db


def key():
    return {"api_key": settings.STRIPE_SECRET_KEY}


def test_an_account_becomes_a_stripe_customer_with_its_tax_ids(stripe_standin, account):
    # when the account is pushed
    customer_id = account_push_to_stripe(account=account)

    # then Stripe holds the customer as the account describes it
    customer = stripe.Customer.retrieve(customer_id, expand=["tax_ids"], **key())
    assert customer.name == "Bergmann Logistik GmbH"
    assert customer.email == "ap@bergmann.example"
    assert customer.address.city == "Hamburg"
    assert customer.address.country == "DE"
    assert customer.tax_exempt == "reverse"
    assert customer.metadata["backoffice_account_id"] == str(account.pk)
    assert customer.metadata["preferred_payment_method_types"] == "card,sepa_debit"
    assert customer.invoice_settings.custom_fields[0].value == "CRM-00042"
    assert [(t.type, t.value) for t in customer.tax_ids.data] == [("eu_vat", "DE123456789")]
    # and our side knows it: the account linked to the mirrored customer, the outcome recorded
    account.refresh_from_db()
    assert account.stripe_customer_id == customer_id
    assert account.stripe_push_status == PushStatus.PUSHED
    assert MirroredCustomer.objects.get(id=customer_id).stripe_data["name"] == account.legal_name
    assert TaxId.objects.get(account=account).stripe_id.startswith("txi_")
    assert set(StripeWrite.objects.values_list("outcome", flat=True)) == {"done"}


def test_pushing_again_updates_the_same_customer_and_nothing_else(stripe_standin, account):
    customer_id = account_push_to_stripe(account=account)
    writes = StripeWrite.objects.count()

    # an unchanged account sends nothing new
    account_push_to_stripe(account=account)
    assert StripeWrite.objects.count() == writes

    # a changed one updates its customer; a tax ID removed here is removed in Stripe
    Account.objects.filter(pk=account.pk).update(legal_name="Bergmann Logistik SE")
    TaxId.objects.filter(account=account).delete()
    TaxId.objects.create(account=account, type="eu_vat", value="DE811907980")
    assert account_push_to_stripe(account=account) == customer_id

    customer = stripe.Customer.retrieve(customer_id, expand=["tax_ids"], **key())
    assert customer.name == "Bergmann Logistik SE"
    assert [t.value for t in customer.tax_ids.data] == ["DE811907980"]
    assert len(stripe.Customer.list(limit=100, **key()).data) == 1


def test_an_exempt_customer_carries_its_evidence_to_stripe(stripe_standin, manager):
    account = AccountFactory(
        billing_country="US",
        state="NY",
        tax_exemption=Account.TaxExemption.EXEMPT,
        exemption_certificate="NY ST-119.1 #4471",
        exemption_valid_until=date(2027, 12, 31),
        account_manager=manager,
    )

    customer = stripe.Customer.retrieve(account_push_to_stripe(account=account), **key())

    assert customer.tax_exempt == "exempt"
    assert customer.metadata["tax_exemption_evidence"] == "NY ST-119.1 #4471"
    assert customer.metadata["tax_exemption_valid_until"] == "2027-12-31"


def test_a_creation_in_doubt_is_resent_as_it_was_then_the_account_as_it_is(stripe_standin, account):
    """The first creation timed out (Stripe may have made the customer), and the account was
    renamed before the retry: the retry sends exactly what was first sent (Stripe answers the
    first result, never a second customer), then the new name as an update."""
    from customers.services import customer_params

    first = customer_params(account)
    StripeWrite.objects.create(
        idempotency_key=f"account-{account.pk}-customer-create",
        description="Create Stripe customer",
        method="POST",
        path="/v1/customers",
        params=first,
        outcome=StripeWrite.Outcome.RETRYING,
        attempts=1,
    )
    Account.objects.filter(pk=account.pk).update(legal_name="Bergmann Logistik SE")

    customer_id = account_push_to_stripe(account=account)

    assert stripe.Customer.retrieve(customer_id, **key()).name == "Bergmann Logistik SE"
    assert len(stripe.Customer.list(**key()).data) == 1
    sent = list(StripeWrite.objects.order_by("id").values_list("params__name", "outcome"))
    assert sent[0] == ("Bergmann Logistik GmbH", "done")  # the creation, as first sent
    assert ("Bergmann Logistik SE", "done") in sent[1:]  # then the account as it is
    # and nothing more to send
    writes = StripeWrite.objects.count()
    account_push_to_stripe(account=account)
    assert StripeWrite.objects.count() == writes


def test_a_creation_in_doubt_for_longer_than_stripe_keeps_a_key_finds_the_customer_made(
    stripe_standin, account
):
    """Stripe made the customer, the answer was lost, and the retry comes 25 hours later:
    Stripe has forgotten the key, so the customer is looked up by our metadata first; no
    second customer is made."""
    from datetime import timedelta

    from django.utils import timezone

    from customers.services import customer_params
    from stripe_standin.control import standin_config

    create_key = f"account-{account.pk}-customer-create"
    params = customer_params(account)
    made = stripe.Customer.create(idempotency_key=create_key, **params, **key())
    write = StripeWrite.objects.create(
        idempotency_key=create_key,
        description="Create Stripe customer",
        method="POST",
        path="/v1/customers",
        params=params,
        outcome=StripeWrite.Outcome.RETRYING,
        attempts=1,
    )
    StripeWrite.objects.filter(pk=write.pk).update(created_at=timezone.now() - timedelta(hours=25))
    standin_config(stripe_standin, "POST", "/_config/clock", {"advance": 25 * 3600})

    assert account_push_to_stripe(account=account) == made.id

    assert [c.id for c in stripe.Customer.list(**key()).data] == [made.id]
    write.refresh_from_db()
    assert (write.outcome, write.stripe_id) == (StripeWrite.Outcome.DONE, made.id)
    assert "Found in Stripe by our metadata" in write.error
