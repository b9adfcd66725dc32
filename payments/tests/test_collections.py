"""Collections end to end on the stand-in: a failed payment listed with its decline, retried
from the admin (declined again, then paid once after the customer's card is replaced), the
task running twice and the button clicked twice charging once; roles."""

from typing import Any

import pytest
import stripe
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from djstripe.models import Invoice

from backoffice.roles import ACCOUNT_MANAGERS
from customers.tests.factories import AccountFactory, UserFactory
from payments.collections import failed_payments, payment_retry_request, payment_retry_send
from payments.models import PaymentRetry
from stripe_standin.control import standin_config
from stripe_standin.tests.test_collections import open_invoice_paid_with
from stripe_sync.backfill import backfill
from stripe_sync.models import StripeWrite

pytestmark = pytest.mark.django_db(transaction=False)


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


@pytest.fixture
def failed_invoice(stripe_standin: str, manager: Any) -> Any:
    """An open invoice of 501.00 EUR whose automatic payment Stripe tried once and the card
    declined; its customer an account of the manager's, mirrored."""
    invoice = open_invoice_paid_with("pm_card_chargeCustomerFail")
    with pytest.raises(stripe.CardError):
        stripe.Invoice.pay(invoice.id, idempotency_key="stripe-automatic-attempt", **key())
    backfill("customers")
    AccountFactory(
        legal_name="Kaputt Karten GmbH",
        stripe_customer_id=invoice.customer,
        account_manager=manager,
    )
    backfill("invoices")
    backfill("payment_intents")
    return invoice


def pay_requests(stripe_standin: str, invoice_id: str) -> int:
    stats = standin_config(stripe_standin, "GET", "/_config/stats")
    return int(stats["by_path"].get(f"/v1/invoices/{invoice_id}/pay", 0))


def test_a_failed_payment_is_listed_with_its_decline(failed_invoice: Any, finance: Any) -> None:
    # when
    (row,) = failed_payments(finance)
    # then
    assert row.stripe_invoice_id == failed_invoice.id
    assert row.account is not None
    assert row.account.legal_name == "Kaputt Karten GmbH"
    assert str(row.amount_due) == "501.00"
    assert row.currency == "EUR"
    assert row.attempt_count >= 1
    assert row.next_payment_attempt is not None
    assert row.failure_code == "card_declined"
    assert "declined" in row.failure_message


def test_retried_it_is_declined_then_paid_once(
    failed_invoice: Any,
    finance: Any,
    stripe_standin: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given: the card still fails
    with django_capture_on_commit_callbacks(execute=True):
        declined = payment_retry_request(
            stripe_invoice_id=failed_invoice.id, by=finance, reason="customer says card is fine"
        )
    declined.refresh_from_db()
    assert declined.status == PaymentRetry.Status.DECLINED
    assert declined.decline_code == "generic_decline"
    assert failed_payments(finance)[0].failure_code == "generic_decline"
    # when: the customer replaced the card, and finance retries, twice over
    stripe.PaymentMethod.attach("pm_card_visa", customer=failed_invoice.customer, **key())
    stripe.Customer.modify(
        failed_invoice.customer,
        invoice_settings={"default_payment_method": "pm_card_visa"},
        **key(),
    )
    before = pay_requests(stripe_standin, failed_invoice.id)
    with django_capture_on_commit_callbacks(execute=True):
        paid = payment_retry_request(
            stripe_invoice_id=failed_invoice.id, by=finance, reason="new card on file"
        )
    payment_retry_send(retry=paid)  # the task running a second time
    # then: one request paid it; the mirror says paid; nothing is left to retry
    paid.refresh_from_db()
    assert paid.status == PaymentRetry.Status.PAID
    assert pay_requests(stripe_standin, failed_invoice.id) == before + 1
    assert stripe.Invoice.retrieve(failed_invoice.id, **key()).status == "paid"
    assert Invoice.objects.get(id=failed_invoice.id).stripe_data["status"] == "paid"
    assert failed_payments(finance) == []
    assert StripeWrite.objects.filter(idempotency_key=paid.idempotency_key).count() == 1
    with pytest.raises(ValidationError, match="not a failed payment"):
        payment_retry_request(stripe_invoice_id=failed_invoice.id, by=finance, reason="again")
    client = Client()
    client.force_login(finance)
    listed = client.get(reverse("admin:payments_paymentretry_changelist")).content.decode()
    assert "generic_decline" in listed
    assert "customer says card is fine" in listed
    assert "501.00" in listed
    record = client.get(reverse("admin:payments_paymentretry_change", args=[paid.pk]))
    assert "501.00" in record.content.decode()
    history = list(paid.history.order_by("history_id"))
    assert history[0].history_user == finance
    assert history[0].history_change_reason == "retry payment now: new card on file"
    assert history[-1].history_change_reason == "Stripe answered the retry: paid"


def test_two_clicks_make_one_retry(failed_invoice: Any, finance: Any) -> None:
    # given: a retry not answered yet (its task waits for the commit)
    first = payment_retry_request(stripe_invoice_id=failed_invoice.id, by=finance, reason="a")
    # when
    second = payment_retry_request(stripe_invoice_id=failed_invoice.id, by=finance, reason="b")
    # then
    assert second.pk == first.pk
    assert PaymentRetry.objects.count() == 1


def test_a_manager_sees_their_failed_payment_and_cannot_retry_it(
    failed_invoice: Any, manager: Any
) -> None:
    # given
    other = AccountFactory(legal_name="Someone Else AG")
    # then
    assert [row.stripe_invoice_id for row in failed_payments(manager)] == [failed_invoice.id]
    assert failed_payments(other.account_manager) == []
    with pytest.raises(PermissionDenied):
        payment_retry_request(stripe_invoice_id=failed_invoice.id, by=manager, reason="please")
    client = Client()
    client.force_login(manager)
    page = client.get(reverse("admin:payments_paymentretry_changelist"))
    assert page.status_code == 200
    assert "Kaputt Karten GmbH" in page.content.decode()
    assert "Retry payment now" not in page.content.decode()
    refused = client.post(
        reverse("admin:payments_paymentretry_retry"),
        {"invoice": failed_invoice.id, "reason": "x"},
    )
    assert refused.status_code == 403
    assert not PaymentRetry.objects.exists()


def test_another_managers_retry_cannot_be_read_by_its_address(
    failed_invoice: Any, finance: Any, manager: Any
) -> None:
    # given: a retry on the manager's account, and a second manager
    retry = payment_retry_request(
        stripe_invoice_id=failed_invoice.id, by=finance, reason="card replaced by the customer"
    )
    other = UserFactory(username="am-other")
    other.groups.add(Group.objects.get(name=ACCOUNT_MANAGERS))
    own, stranger = Client(), Client()
    own.force_login(manager)
    stranger.force_login(other)
    for page in ("change", "history"):
        url = reverse(f"admin:payments_paymentretry_{page}", args=[retry.pk])
        # then: its own manager reads it, the other one neither its page nor its history
        assert "card replaced by the customer" in own.get(url).content.decode()
        answer = stranger.get(url, follow=True)
        assert "card replaced by the customer" not in answer.content.decode()
        assert "Kaputt Karten GmbH" not in answer.content.decode()


def test_the_collections_page_retries_with_a_reason(
    failed_invoice: Any, finance: Any, django_assert_max_num_queries: Any
) -> None:
    client = Client()
    client.force_login(finance)
    url = reverse("admin:payments_paymentretry_changelist")
    with django_assert_max_num_queries(15):
        page = client.get(url)
    text = page.content.decode()
    assert "Kaputt Karten GmbH" in text
    assert "Retry payment now" in text
    assert "501.00" in text
    # without a reason, nothing is retried and the page says why
    refused = client.post(
        reverse("admin:payments_paymentretry_retry"),
        {"invoice": failed_invoice.id, "reason": " "},
        follow=True,
    )
    assert "Say why the payment is retried now" in refused.content.decode()
    assert not PaymentRetry.objects.exists()
