"""The Radar queue end to end on real parts: the stand-in's charges, reviews and early fraud
warnings, mirrored; decisions taken on the admin page; the writes sent by the task."""

from typing import Any

import pytest
import stripe
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from djstripe.models import Charge, EarlyFraudWarning, Review

from backoffice.roles import FINANCE
from customers.tests.factories import AccountFactory, UserFactory
from payments.models import RadarApprovalLimit, RadarDecision
from payments.radar import radar_decision_approve, radar_decision_request, radar_queue
from payments.tasks import radar_decision_send_task
from stripe_standin.control import standin_config
from stripe_sync.mirror import Mirror
from stripe_sync.models import StripeWrite
from stripe_sync.object_types import object_type

pytestmark = pytest.mark.django_db


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


def finance_user(name: str) -> Any:
    user = UserFactory(username=name)
    user.groups.add(Group.objects.get(name=FINANCE))
    return user


def paying_customer(name: str, manager: Any) -> tuple[str, Any]:
    """A customer in the stand-in with a card, and our account for it."""
    customer = stripe.Customer.create(name=name, **key())
    method = stripe.PaymentMethod.create(
        type="card",
        card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        **key(),
    )
    stripe.PaymentMethod.attach(method.id, customer=customer.id, **key())
    Mirror().refresh(object_type("customers"), customer.id)
    account = AccountFactory(legal_name=name, stripe_customer_id=customer.id)
    account.account_manager = manager
    account.save()
    return method.id, account


def charged(method_and_account: tuple[str, Any], amount: int, currency: str = "usd") -> str:
    method, account = method_and_account
    return str(
        stripe.Charge.create(
            amount=amount,
            currency=currency,
            customer=account.stripe_customer_id,
            source=method,
            **key(),
        ).id
    )


def seeded(base: str, object_name: str, charge_id: str, **fields: Any) -> str:
    """A review or early fraud warning Stripe made on the charge, mirrored with the charge."""
    obj = standin_config(
        base, "POST", "/_config/objects", {"object": object_name, "charge": charge_id, **fields}
    )
    mirror = Mirror()
    mirror.refresh(object_type("charges"), charge_id)
    type_key = "reviews" if object_name == "review" else "early_fraud_warnings"
    mirror.refresh(object_type(type_key), obj["id"])
    return str(obj["id"])


@pytest.fixture
def radar(stripe_standin, manager):
    """A 125.00 USD card payment in review on the manager's account."""
    card = paying_customer("Hafenbahn AG", manager)
    charge_id = charged(card, 12500)
    review_id = seeded(stripe_standin, "review", charge_id, reason="rule")
    return {"card": card, "charge": charge_id, "review": review_id, "account": card[1]}


def approve_calls(base: str, review_id: str) -> int:
    stats = standin_config(base, "GET", "/_config/stats")
    return int(stats["by_path"].get(f"/v1/reviews/{review_id}/approve", 0))


def test_a_review_approved_from_the_admin_is_approved_once_even_when_the_task_runs_twice(
    stripe_standin, radar, client, django_capture_on_commit_callbacks
):
    # given finance on the Radar queue, which shows the payment with its money and customer
    fiona = finance_user("fin-radar")
    client.force_login(fiona)
    page = client.get(reverse("admin:payments_radarqueue_changelist")).content.decode()
    assert radar["review"] in page
    assert "125.00" in page
    assert "Hafenbahn AG" in page
    assert "A Radar rule" in page
    assert "Approve the payment" in page

    # when the review is approved from the page, with a reason
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:payments_radarqueue_decide"),
            {"stripe_id": radar["review"], "kind": "approve", "reason": "Known customer, PO 7"},
            follow=True,
        )
    assert "Sent to Stripe" in " ".join(str(m) for m in response.context["messages"])
    decision = RadarDecision.objects.get(stripe_object_id=radar["review"])
    assert decision.status == RadarDecision.Status.SUCCEEDED
    # and the task runs a second time (a redelivered message)
    radar_decision_send_task.apply(args=[decision.pk])

    # then Stripe was asked once; the review is approved there and in the mirror
    assert approve_calls(stripe_standin, radar["review"]) == 1
    in_stripe = stripe.Review.retrieve(radar["review"], **key())
    assert (in_stripe.open, in_stripe.closed_reason) == (False, "approved")
    assert Review.objects.get(id=radar["review"]).stripe_data["closed_reason"] == "approved"
    assert radar_queue(fiona) == []
    # and the history says who decided and why
    first = decision.history.earliest()
    assert (first.history_user, first.history_change_reason) == (
        fiona,
        "Approve the payment: Known customer, PO 7",
    )

    # when a worker died after Stripe answered and before the outcome was kept: sent again
    RadarDecision.objects.filter(pk=decision.pk).update(status=RadarDecision.Status.APPROVED)
    StripeWrite.objects.filter(idempotency_key=f"radar-decision-{decision.pk}").update(
        outcome=StripeWrite.Outcome.RETRYING
    )
    radar_decision_send_task.apply(args=[decision.pk])

    # then Stripe replays its first answer under the decision's key: approved once, not refused
    assert standin_config(stripe_standin, "GET", "/_config/stats")["idempotent_replays"] == 1
    decision.refresh_from_db()
    assert decision.status == RadarDecision.Status.SUCCEEDED, decision.stripe_error


def test_above_the_limit_a_second_person_approves_the_refund_as_fraudulent(
    stripe_standin, radar, django_capture_on_commit_callbacks
):
    # given a limit of 100.00 USD and the 125.00 USD payment in review
    RadarApprovalLimit.objects.create(currency="USD", second_approver_above="100.00")
    first, second = finance_user("fin-radar-1"), finance_user("fin-radar-2")

    # when the first asks to refund it as fraudulent
    with django_capture_on_commit_callbacks(execute=True):
        decision = radar_decision_request(
            stripe_id=radar["review"],
            kind=RadarDecision.Kind.REFUND_FRAUDULENT,
            reason="Card testing pattern",
            by=first,
        )
    # then nothing is sent until another person approves; the first may not approve twice
    assert decision.status == RadarDecision.Status.AWAITING_SECOND
    assert not stripe.Refund.list(charge=radar["charge"], **key()).data
    with pytest.raises(ValidationError, match="other than fin-radar-1"):
        radar_decision_approve(decision=decision, by=first)
    with pytest.raises(ValidationError, match="decided already"):
        radar_decision_request(
            stripe_id=radar["review"], kind="approve", reason="no, fine", by=second
        )

    with django_capture_on_commit_callbacks(execute=True):
        radar_decision_approve(decision=decision, by=second)

    # then the payment is refunded in full as fraudulent, once, and the review closed
    (refund,) = stripe.Refund.list(charge=radar["charge"], **key()).data
    assert (refund.amount, refund.reason) == (12500, "fraudulent")
    decision.refresh_from_db()
    assert (decision.status, decision.stripe_result_id) == (
        RadarDecision.Status.SUCCEEDED,
        refund.id,
    )
    assert decision.second_approved_by == second
    assert Charge.objects.get(id=radar["charge"]).stripe_data["refunded"] is True
    closed = Review.objects.get(id=radar["review"]).stripe_data
    assert (closed["open"], closed["closed_reason"]) == (False, "refunded_as_fraud")
    assert [h.history_user for h in decision.history.order_by("history_id")][:2] == [first, second]


def test_an_early_fraud_warning_is_refunded_and_a_refusal_is_kept_with_stripes_message(
    stripe_standin, radar, client, django_capture_on_commit_callbacks
):
    # given an issuer's warning on a second payment, refunded meanwhile in Stripe's Dashboard
    charge_id = charged(radar["card"], 4000)
    warning_id = seeded(
        stripe_standin, "radar.early_fraud_warning", charge_id, fraud_type="made_with_stolen_card"
    )
    fiona = finance_user("fin-radar-efw")
    client.force_login(fiona)
    page = client.get(reverse("admin:payments_radarqueue_changelist")).content.decode()
    assert "Made with a stolen card" in page
    assert "40.00" in page
    # a warning cannot be "approved": Stripe approves reviews only
    with pytest.raises(ValidationError, match="can be: refund as fraudulent"):
        radar_decision_request(stripe_id=warning_id, kind="approve", reason="fine", by=fiona)
    # a reason is required
    response = client.post(
        reverse("admin:payments_radarqueue_decide"),
        {"stripe_id": warning_id, "kind": "refund_fraudulent", "reason": "  "},
        follow=True,
    )
    assert "the reason is required" in " ".join(str(m) for m in response.context["messages"])
    stripe.Refund.create(charge=charge_id, **key())

    # when finance refunds it as fraudulent
    with django_capture_on_commit_callbacks(execute=True):
        decision = radar_decision_request(
            stripe_id=warning_id, kind="refund_fraudulent", reason="Issuer says stolen", by=fiona
        )

    # then Stripe's refusal is kept on the decision, and the queue shows Stripe's state: the
    # payment refunded, the warning no longer to act on
    decision.refresh_from_db()
    assert decision.status == RadarDecision.Status.FAILED
    assert "has already been refunded" in decision.stripe_error
    assert decision.history.latest().history_change_reason.startswith("refused by Stripe")
    assert [w.stripe_id for w in radar_queue(fiona)] == [radar["review"]]
    assert Charge.objects.get(id=charge_id).stripe_data["refunded"] is True

    # and one not yet refunded is refunded as fraudulent, the warning no longer actionable
    other_charge = charged(radar["card"], 2500)
    other = seeded(stripe_standin, "radar.early_fraud_warning", other_charge)
    with django_capture_on_commit_callbacks(execute=True):
        done = radar_decision_request(
            stripe_id=other, kind="refund_fraudulent", reason="Issuer warning", by=fiona
        )
    done.refresh_from_db()
    assert done.status == RadarDecision.Status.SUCCEEDED
    assert EarlyFraudWarning.objects.get(id=other).stripe_data["actionable"] is False


def test_a_manager_sees_only_their_accounts_payments_and_cannot_decide(
    stripe_standin, radar, manager, client
):
    # given another manager's customer with a payment in review
    other_manager = UserFactory(username="am-other")
    other_manager.groups.add(*manager.groups.all())
    theirs = charged(paying_customer("Fremde GmbH", other_manager), 9900)
    their_review = seeded(stripe_standin, "review", theirs)

    # when the manager opens the queue
    client.force_login(manager)
    page = client.get(reverse("admin:payments_radarqueue_changelist")).content.decode()

    # then they see their own account's review, not the other's, and no way to decide
    assert radar["review"] in page
    assert "Hafenbahn AG" in page
    assert their_review not in page
    assert "Fremde GmbH" not in page
    assert "Decide" not in page
    assert "<form" not in page.split('id="content"')[-1]
    # and a decision sent anyway is refused
    response = client.post(
        reverse("admin:payments_radarqueue_decide"),
        {"stripe_id": radar["review"], "kind": "approve", "reason": "mine"},
    )
    assert response.status_code == 403
    with pytest.raises(PermissionDenied, match="Only finance"):
        radar_decision_request(stripe_id=radar["review"], kind="approve", reason="x", by=manager)
    assert not RadarDecision.objects.exists()
    # nor may finance decide on the payments of an account they manage themselves
    manager.groups.add(Group.objects.get(name=FINANCE))
    manager = type(manager).objects.get(pk=manager.pk)  # its permissions read afresh
    with pytest.raises(PermissionDenied, match="another person decides"):
        radar_decision_request(stripe_id=radar["review"], kind="approve", reason="x", by=manager)


def test_the_queue_page_costs_the_same_queries_for_one_payment_or_many(
    stripe_standin, radar, client
):
    client.force_login(finance_user("fin-radar-q"))
    url = reverse("admin:payments_radarqueue_changelist")
    client.get(url)  # sessions, content types and the like, cached
    with CaptureQueriesContext(connection) as one:
        assert client.get(url).status_code == 200
    # the others come an hour later (by the stand-in's clock)
    standin_config(stripe_standin, "POST", "/_config/clock", {"advance": 3600})
    for amount in (1000, 2000, 3000):
        seeded(stripe_standin, "review", charged(radar["card"], amount))
        seeded(stripe_standin, "radar.early_fraud_warning", charged(radar["card"], amount + 1))
    with CaptureQueriesContext(connection) as seven:
        page = client.get(url).content.decode()
    assert page.count('<td class="money">') == 7
    assert len(seven.captured_queries) == len(one.captured_queries)
    # oldest first
    shown = [i.stripe_id for i in radar_queue(UserFactory(is_superuser=True))]
    assert shown[0] == radar["review"]
