"""Disputes end to end on the stand-in: evidence saved as a draft then submitted from the
admin, once; Stripe's refusal after the due date shown with its reason; roles."""

from typing import Any

import pytest
import stripe
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from djstripe.models import Dispute

from backoffice.roles import ACCOUNT_MANAGERS
from customers.tests.factories import AccountFactory
from payments.disputes import dispute_evidence_save, open_disputes
from payments.models import DisputeEvidence
from stripe_standin.control import standin_config
from stripe_sync.backfill import backfill

pytestmark = pytest.mark.django_db


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


@pytest.fixture
def disputed(stripe_standin: str, manager: Any) -> str:
    """A dispute of 49.00 EUR on a card charge of the manager's account, evidence due in two
    days; mirrored."""
    customer = stripe.Customer.create(name="Streitbar GmbH", **key())
    stripe.PaymentMethod.attach("pm_card_visa", customer=customer.id, **key())
    charge = stripe.Charge.create(
        amount=4900, currency="eur", customer=customer.id, source="pm_card_visa", **key()
    )
    now = standin_config(stripe_standin, "GET", "/_config/clock")["now"]
    dispute = standin_config(
        stripe_standin,
        "POST",
        "/_config/objects",
        {
            "object": "dispute",
            "charge": charge.id,
            "amount": 4900,
            "currency": "eur",
            "reason": "product_unacceptable",
            "status": "needs_response",
            "evidence_details": {"due_by": now + 2 * 86400},
        },
    )
    backfill("customers")
    AccountFactory(
        legal_name="Streitbar GmbH", stripe_customer_id=customer.id, account_manager=manager
    )
    backfill("charges")
    backfill("disputes")
    return str(dispute["id"])


def answer(client: Client, dispute_id: str, button: str, **fields: str) -> Any:
    return client.post(
        reverse("admin:payments_disputeevidence_answer", args=[dispute_id]),
        {"reason": "customer used the seats all year", button: "1", **fields},
        follow=True,
    )


def test_evidence_is_saved_as_a_draft_then_submitted_once(
    disputed: str, finance: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    client = Client()
    client.force_login(finance)
    (row,) = open_disputes(finance)
    assert row.account is not None
    assert row.account.legal_name == "Streitbar GmbH"
    # when
    with django_capture_on_commit_callbacks(execute=True):
        answer(client, disputed, "save_draft", product_description="40 seats, 12 months")
    with django_capture_on_commit_callbacks(execute=True):
        answer(client, disputed, "submit", uncategorized_text="Invoice INV-7 paid")
    # then
    listed = client.get(reverse("admin:payments_disputeevidence_changelist")).content.decode()
    assert "submitted: Sent" in listed
    assert "under_review" in listed
    draft, submitted = DisputeEvidence.objects.order_by("id")
    assert (draft.submit, draft.status) == (False, DisputeEvidence.Status.SENT)
    assert (submitted.submit, submitted.status) == (True, DisputeEvidence.Status.SENT)
    in_stripe = stripe.Dispute.retrieve(disputed, **key())
    assert in_stripe.status == "under_review"
    assert in_stripe.evidence.product_description == "40 seats, 12 months"
    assert in_stripe.evidence_details.submission_count == 1
    assert Dispute.objects.get(id=disputed).stripe_data["status"] == "under_review"
    first = submitted.history.earliest("history_date")
    assert first.history_user == finance
    assert first.history_change_reason == "submit evidence: customer used the seats all year"
    # submitted once: no more evidence is taken, and the page says why
    with pytest.raises(ValidationError, match="Stripe takes it once"):
        dispute_evidence_save(
            stripe_dispute_id=disputed, by=finance, evidence={}, submit=True, reason="again"
        )


def test_stripes_refusal_after_the_due_date_is_shown(
    disputed: str, finance: Any, stripe_standin: str, django_capture_on_commit_callbacks: Any
) -> None:
    # given: three days pass in Stripe; the mirror has not seen the due date pass
    standin_config(stripe_standin, "POST", "/_config/clock", {"advance": 3 * 86400})
    client = Client()
    client.force_login(finance)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        answer(client, disputed, "submit", customer_name="Streitbar GmbH")
    # then
    (refused,) = DisputeEvidence.objects.all()
    assert refused.status == DisputeEvidence.Status.REFUSED
    assert "was due by" in refused.error
    listed = client.get(reverse("admin:payments_disputeevidence_changelist")).content.decode()
    assert "submitted: Refused by Stripe" in listed
    assert "was due by" in listed
    assert stripe.Dispute.retrieve(disputed, **key()).status == "needs_response"


def test_a_manager_sees_their_dispute_and_cannot_answer_it(disputed: str, manager: Any) -> None:
    # given
    client = Client()
    client.force_login(manager)
    other_manager = AccountFactory(legal_name="Elsewhere AG").account_manager
    other_manager.groups.add(Group.objects.get(name=ACCOUNT_MANAGERS))
    other = Client()
    other.force_login(other_manager)
    url = reverse("admin:payments_disputeevidence_answer", args=[disputed])
    # when
    page = client.get(url)
    refused = client.post(url, {"reason": "x", "submit": "1", "customer_name": "A"})
    # then
    assert page.status_code == 200
    assert "Finance answers disputes" in page.content.decode()
    assert refused.status_code == 403
    assert not DisputeEvidence.objects.exists()
    assert (
        disputed
        in client.get(reverse("admin:payments_disputeevidence_changelist")).content.decode()
    )
    assert other.get(url).status_code == 404
    assert (
        disputed
        not in other.get(reverse("admin:payments_disputeevidence_changelist")).content.decode()
    )


def test_evidence_past_its_due_date_in_the_mirror_is_refused_here_first(
    disputed: str, finance: Any
) -> None:
    # given
    dispute = Dispute.objects.get(id=disputed)
    dispute.stripe_data["evidence_details"]["due_by"] = 1_000_000_000
    dispute.save(update_fields=["stripe_data"])
    # when / then
    with pytest.raises(ValidationError, match="was due by 2001-09-09"):
        dispute_evidence_save(
            stripe_dispute_id=disputed,
            by=finance,
            evidence={"customer_name": "A"},
            submit=False,
            reason="late",
        )
    assert not DisputeEvidence.objects.exists()
