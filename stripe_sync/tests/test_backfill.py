"""Backfill from the local Stripe stand-in into dj-stripe's mirror."""

import pytest
import stripe
from django.conf import settings
from djstripe.models import APIKey, Customer, Invoice, LineItem, Product, TaxId

from stripe_standin.list_pages import StripePages, serve_in_thread
from stripe_sync.backfill import backfill
from stripe_sync.models import SyncStatus

pytestmark = pytest.mark.django_db


def key():
    return settings.STRIPE_SECRET_KEY


def test_customers_backfill_with_tax_ids(stripe_standin):
    # given 25 customers in Stripe, one with a tax ID
    made = [
        stripe.Customer.create(name=f"Customer {i}", email=f"c{i}@example.com", api_key=key())
        for i in range(25)
    ]
    stripe.Customer.create_tax_id(made[3].id, type="eu_vat", value="DE123456789", api_key=key())

    # when customers are backfilled
    result = backfill("customers")

    # then every customer is mirrored, with its tax ID as its own row
    assert result.finished
    assert set(Customer.objects.values_list("id", flat=True)) == {c.id for c in made}
    assert TaxId.objects.get().customer_id == made[3].id
    assert "tax_ids" not in Customer.objects.get(id=made[3].id).stripe_data
    # in one request per page of 100, plus the account
    assert result.requests == 2
    assert not APIKey.objects.exists()
    status = SyncStatus.objects.get(object_type="customers")
    assert status.backfill_finished_at is not None
    assert status.last_run_objects == 25


def test_an_interrupted_backfill_continues_where_it_stopped(stripe_standin):
    # given 250 customers, and a backfill that stopped after its first page
    made = {stripe.Customer.create(name=f"Resumable {i}", api_key=key()).id for i in range(250)}
    first = backfill("customers", max_pages=1)
    assert not first.finished
    assert Customer.objects.count() == 100
    assert SyncStatus.objects.get(object_type="customers").backfill_cursor

    # when it runs again
    second = backfill("customers")

    # then it reads only the pages it had not read, and the mirror holds every customer once
    assert second.finished
    assert second.requests == 2  # pages 2 and 3; the account is known already
    assert set(Customer.objects.values_list("id", flat=True)) == made
    assert SyncStatus.objects.get(object_type="customers").backfill_objects == 250


def test_invoices_backfill_with_all_their_lines(settings):
    # given invoices of 12 lines each (Stripe sends 10 inline; the rest must be fetched),
    # served as Stripe's list pages
    pages = StripePages(customers=20, invoices=150, seed=3, lines_per_invoice=(12, 12))
    server = serve_in_thread(pages)
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_SECRET_KEY = "sk_test_" + "pagesserver0123456789abcd"
    try:
        # when customers then invoices are backfilled
        backfill("customers")
        result = backfill("invoices")
    finally:
        server.stop()

    # then the mirror holds exactly the served customers, invoices and lines
    assert set(Customer.objects.values_list("id", flat=True)) == pages.customer_ids
    assert set(Invoice.objects.values_list("id", flat=True)) == pages.invoice_ids
    assert set(LineItem.objects.values_list("id", flat=True)) == pages.line_ids
    assert set(TaxId.objects.values_list("id", flat=True)) == pages.tax_id_ids
    one = pages.invoices[0]
    assert LineItem.objects.filter(stripe_data__invoice=one["id"]).count() == 12
    assert Invoice.objects.get(id=one["id"]).customer_id == one["customer"]
    # with one request per page and one per invoice for its last two lines
    assert result.requests == 2 + 150


def test_a_second_backfill_changes_nothing_and_duplicates_nothing(stripe_standin):
    customer = stripe.Customer.create(name="Twice AG", api_key=key())
    backfill("customers")
    before = Customer.objects.get(id=customer.id)

    backfill("customers", restart=True)

    assert Customer.objects.filter(id=customer.id).count() == 1
    assert Customer.objects.get(id=customer.id).stripe_data == before.stripe_data
    assert Product.objects.count() == 0


def test_a_full_backfill_fills_the_mirror_with_every_type(stripe_standin):
    from djstripe import models as m

    from stripe_standin.control import standin_config
    from stripe_sync.backfill import backfill_all

    # given one of everything in Stripe
    product = stripe.Product.create(name="Freight tracking", api_key=key())
    tiered = stripe.Price.create(
        product=product.id,
        currency="eur",
        recurring={"interval": "month"},
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[{"up_to": 100, "unit_amount": 900}, {"up_to": "inf", "unit_amount": 700}],
        api_key=key(),
    )
    coupon = stripe.Coupon.create(id="LAUNCH10", percent_off=10, duration="once", api_key=key())
    tax_rate = stripe.TaxRate.create(
        display_name="VAT", percentage=19, inclusive=False, api_key=key()
    )
    customer = stripe.Customer.create(name="Bergmann Logistik GmbH", api_key=key())
    stripe.Customer.create_tax_id(customer.id, type="eu_vat", value="DE123456789", api_key=key())
    plan = stripe.Plan.create(
        product=product.id, amount=4900, currency="eur", interval="month", api_key=key()
    )
    subscription = stripe.Subscription.create(
        customer=customer.id, items=[{"plan": plan.id}], trial_period_days=14, api_key=key()
    )
    stripe.InvoiceItem.create(
        customer=customer.id, amount=12000, currency="eur", description="Setup", api_key=key()
    )
    invoice = stripe.Invoice.create(customer=customer.id, api_key=key())
    # (localstripe lists only invoice items not yet on an invoice)
    pending = stripe.InvoiceItem.create(
        customer=customer.id, amount=3000, currency="eur", description="Training", api_key=key()
    )
    schedule = stripe.SubscriptionSchedule.create(
        customer=customer.id,
        start_date="now",
        phases=[{"items": [{"price": tiered.id, "quantity": 5}], "iterations": 12}],
        api_key=key(),
    )
    card = stripe.PaymentMethod.create(
        type="card",
        card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        api_key=key(),
    )
    stripe.PaymentMethod.attach(card.id, customer=customer.id, api_key=key())
    intent = stripe.PaymentIntent.create(
        amount=5000,
        currency="eur",
        customer=customer.id,
        payment_method=card.id,
        api_key=key(),
    )
    stripe.PaymentIntent.confirm(intent.id, api_key=key())
    latest = stripe.PaymentIntent.retrieve(intent.id, api_key=key()).latest_charge
    charge_id = latest if isinstance(latest, str) else latest.id
    refund = stripe.Refund.create(charge=charge_id, amount=1000, api_key=key())
    seeded = standin_config(
        stripe_standin,
        "POST",
        "/_config/objects",
        [
            {"object": "dispute", "charge": charge_id, "payment_intent": intent.id},
            {"object": "review", "charge": charge_id, "reason": "rule"},
            {"object": "radar.early_fraud_warning", "charge": charge_id},
        ],
    )["data"]

    # when every type is backfilled
    results = backfill_all()

    # then the mirror holds each, linked to what it belongs to
    assert all(r.finished for r in results)
    assert m.Product.objects.get(id=product.id)
    assert m.Price.objects.get(id=tiered.id).stripe_data["tiers"][1]["unit_amount"] == 700
    assert m.Price.objects.get(id=tiered.id).product_id == product.id
    assert m.Coupon.objects.filter(id=coupon.id).exists()
    assert m.TaxRate.objects.filter(id=tax_rate.id).exists()
    assert m.TaxId.objects.get(customer_id=customer.id).stripe_data["value"] == "DE123456789"
    assert m.Subscription.objects.get(id=subscription.id).customer_id == customer.id
    assert m.SubscriptionItem.objects.get(subscription_id=subscription.id)
    assert m.SubscriptionSchedule.objects.filter(id=schedule.id).exists()
    mirrored_invoice = m.Invoice.objects.get(id=invoice.id)
    assert mirrored_invoice.customer_id == customer.id
    assert m.LineItem.objects.filter(stripe_data__invoice=invoice.id).count() == 2
    assert m.InvoiceItem.objects.get(id=pending.id).customer_id == customer.id
    assert m.PaymentIntent.objects.get(id=intent.id).payment_method_id == card.id
    assert m.PaymentMethod.objects.get(id=card.id)
    assert m.Charge.objects.get(id=charge_id).payment_intent_id == intent.id
    assert m.Refund.objects.get(id=refund.id).charge_id == charge_id
    assert set(m.Dispute.objects.values_list("id", flat=True)) == {seeded[0]["id"]}
    assert m.Review.objects.filter(id=seeded[1]["id"]).exists()
    assert m.EarlyFraudWarning.objects.filter(id=seeded[2]["id"]).exists()
    assert not APIKey.objects.exists()


def test_a_charge_under_a_mandate_brings_the_mandate(stripe_standin):
    from djstripe import models as m

    from stripe_standin.control import standin_config
    from stripe_standin.store import stripe_fixture
    from stripe_sync.mirror import Mirror
    from stripe_sync.object_types import object_type

    # given a US bank account payment method and its mandate (Stripe has no list of mandates)
    customer = stripe.Customer.create(name="Acme ACH Inc", api_key=key())
    card = stripe.PaymentMethod.create(
        type="card",
        card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        api_key=key(),
    )
    standin_config(
        stripe_standin,
        "POST",
        "/_config/objects",
        {"object": "mandate", "id": "mandate_1Ach", "payment_method": card.id},
    )
    charge = stripe_fixture("charge")
    charge.update(id="ch_ach", customer=customer.id, payment_intent=None, invoice=None)
    charge["payment_method_details"] = {
        "type": "us_bank_account",
        "us_bank_account": {"mandate": "mandate_1Ach", "last4": "6789"},
    }

    # when the charge is mirrored
    from django.utils import timezone

    Mirror().write(object_type("charges"), [charge], observed_at=timezone.now())

    # then its mandate is fetched and mirrored too, with its payment method
    assert m.Mandate.objects.get(id="mandate_1Ach").payment_method_id == card.id


def test_the_secret_key_reaches_neither_logs_nor_database(stripe_standin, caplog):
    import json
    import logging

    from billing.contracts.push import account_push_to_stripe
    from customers.tests.factories import AccountFactory
    from stripe_sync.models import StripeWrite

    caplog.set_level(logging.DEBUG)
    stripe.Customer.create(name="Logged Ltd", api_key=key())

    # when the mirror is filled and an account pushed, with every logger at DEBUG
    backfill("customers")
    account_push_to_stripe(account=AccountFactory())

    # then the key is nowhere in what was logged or stored
    assert caplog.records
    assert key() not in caplog.text
    assert not APIKey.objects.exists()
    stored = json.dumps(
        [
            list(SyncStatus.objects.values()),
            list(StripeWrite.objects.values()),
            list(Customer.objects.values("stripe_data")),
        ],
        default=str,
    )
    assert key() not in stored


def test_a_line_removed_from_a_draft_leaves_the_mirror_with_a_newer_state_only():
    from datetime import UTC, datetime, timedelta

    from stripe_sync.mirror import Mirror
    from stripe_sync.object_types import object_type

    def draft(*line_ids: str) -> dict:
        return {
            "id": "in_pruned",
            "object": "invoice",
            "status": "draft",
            "customer": "cus_pruned",
            "lines": {
                "object": "list",
                "has_more": False,
                "url": "/v1/invoices/in_pruned/lines",
                "data": [{"id": i, "object": "line_item", "amount": 100} for i in line_ids],
            },
        }

    from djstripe.models import Account

    Account.objects.create(id="acct_pruned", stripe_data={"id": "acct_pruned"})
    mirror = Mirror()
    mirror._owner_account_id = "acct_pruned"  # no Stripe to ask who we are
    customer = {"id": "cus_pruned", "object": "customer", "metadata": {}}
    mirror.write(object_type("customers"), [customer], observed_at=datetime(2026, 1, 1, tzinfo=UTC))
    then = datetime(2026, 3, 1, tzinfo=UTC)
    mirror.write(object_type("invoices"), [draft("il_a", "il_b")], observed_at=then)
    # an older snapshot (a late webhook) changes nothing
    mirror.write(object_type("invoices"), [draft("il_a")], observed_at=then - timedelta(1))
    assert sorted(LineItem.objects.values_list("id", flat=True)) == ["il_a", "il_b"]
    # the newer state without il_b (its invoice item deleted): il_b leaves the mirror
    mirror.write(object_type("invoices"), [draft("il_a")], observed_at=then + timedelta(1))
    assert list(LineItem.objects.values_list("id", flat=True)) == ["il_a"]
