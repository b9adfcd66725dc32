"""Issue 7, done when: a finance user opens the queue, sees which drafts are wrong and why,
approves the clean ones in bulk, and the finalized invoices appear in Stripe exactly once.

End to end, with the real parts: contracts approved and pushed to the local Stripe stand-in,
drafts the stand-in makes from their subscriptions, mirrored by the sync (whose hook runs the
checks), the admin as finance uses it, and a real Celery worker on Redis that finalizes.
"""

import html
import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import stripe
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags
from djmoney.money import Money

from backoffice.models import User
from backoffice.tests import test_celery_worker
from backoffice.tests.test_celery_worker import producer, wait_until
from billing.contracts.models import Contract
from billing.contracts.push import contract_push_to_stripe
from billing.contracts.services import contract_approve, contract_submit
from billing.contracts.tests.factories import (
    ContractFactory,
    ContractLineFactory,
    PricePhaseFactory,
)
from billing.invoices.models import InvoiceReview
from billing.money import to_stripe_amount
from customers.models import Account, TaxId
from customers.tests.factories import AccountFactory
from stripe_sync.backfill import backfill
from stripe_sync.models import StripeWrite

pytestmark = pytest.mark.django_db(transaction=True)

# The Celery tests' fixture, found here by pytest under the same name: once requested, this
# process's tasks go to the real worker on Redis instead of running inline.
tasks_to_worker = test_celery_worker.tasks_to_worker

SEAT_PRICE = Decimal("20.00")  # EUR a seat a month
WORKER_TIMEOUT = 60.0  # seconds; the worker takes a second or two


def key() -> dict[str, str]:
    return {"api_key": settings.STRIPE_SECRET_KEY}


def contract_in_stripe(
    legal_name: str, vat_number: str, *, seats: int, manager: User, approver: User
) -> Contract:
    """An active contract of a reverse-charge customer (so no tax is due), billing `seats` at
    SEAT_PRICE a month from today, collected automatically, pushed to the stand-in."""
    account = AccountFactory(
        legal_name=legal_name,
        billing_email="ap@example.com",
        address_line1="Hafenstr. 1",
        city="Hamburg",
        postal_code="20457",
        billing_country="DE",
        tax_exemption=Account.TaxExemption.REVERSE,
        account_manager=manager,
    )
    TaxId.objects.create(account=account, type="eu_vat", value=vat_number)
    # Today as Stripe stamps days (UTC): the stand-in's subscriptions start now.
    today = datetime.now(UTC).date()
    contract = ContractFactory(
        account=account,
        created_by=manager,
        start_date=today,
        end_date=today + timedelta(days=364),
        collection_method=Contract.CollectionMethod.CHARGE_AUTOMATICALLY,
    )
    PricePhaseFactory(
        line=ContractLineFactory(contract=contract, key="seats"),
        unit_amount=SEAT_PRICE,
        quantity=seats,
    )
    contract_submit(contract=contract, by=manager)
    contract_approve(contract=contract, by=approver)
    # The approval queued the push already (run inline here); running it again is harmless.
    contract_push_to_stripe(contract=contract)
    contract.refresh_from_db()
    return contract


def draft_in_stripe(
    contract: Contract, *, extra_line_cents: int = 0, seat_cents: int | None = None
) -> str:
    """The draft Stripe makes for the contract's first month, from a subscription to its price;
    with `extra_line_cents`, an item for an onboarding workshop the contract does not have;
    with `seat_cents`, the seats billed at another price than the contract's."""
    phase = contract.lines.get().phases.get()
    customer = contract.account.stripe_customer_id
    price = stripe.Price.retrieve(phase.stripe_price_id, **key())
    # The stand-in's schedules make no subscription, and localstripe's subscriptions take plans:
    # a plan with the price's id and amount stands for it.
    stripe.Plan.create(
        id=price.id,
        product=price.product,
        amount=seat_cents or to_stripe_amount(SEAT_PRICE, "EUR"),
        currency="eur",
        interval="month",
        **key(),
    )
    # localstripe bills a new subscription's first month at once and wants a card for it; on a
    # trial it leaves the month to the draft below.
    subscription = stripe.Subscription.create(
        customer=customer,
        items=[{"plan": price.id, "quantity": phase.quantity}],
        trial_period_days=30,
        **key(),
    )
    if extra_line_cents:
        stripe.InvoiceItem.create(
            customer=customer,
            amount=extra_line_cents,
            currency="eur",
            description="Onboarding workshop",
            **key(),
        )
    return stripe.Invoice.create(customer=customer, subscription=subscription.id, **key()).id


@pytest.fixture
def drafts(stripe_standin: str, demo_logins: dict[str, str], settings) -> dict[str, str]:
    """Three drafts in the stand-in, mirrored and checked by the sync: two as their contracts
    say, one with a line its contract does not have. Name -> Stripe invoice id."""
    settings.INVOICE_REVIEW_ON_SYNC = True
    manager = User.objects.get(username="manager")
    finance = User.objects.get(username="finance")
    contracts = {
        "clean_a": contract_in_stripe(
            "Bergmann Logistik GmbH", "DE135792460", seats=10, manager=manager, approver=finance
        ),
        "clean_b": contract_in_stripe(
            "Lindqvist Maschinenbau AG", "DE246813573", seats=25, manager=manager, approver=finance
        ),
        "extra_line": contract_in_stripe(
            "Hafenkontor Nord GmbH", "DE112233446", seats=5, manager=manager, approver=finance
        ),
    }
    ids = {
        name: draft_in_stripe(contract, extra_line_cents=12000 if name == "extra_line" else 0)
        for name, contract in contracts.items()
    }
    # The sync mirrors them; its hook checks each draft and holds it in Stripe (tasks run inline
    # until the test hands them to the worker).
    backfill("customers")
    backfill("invoices")
    assert InvoiceReview.objects.filter(stripe_invoice_id__in=ids.values()).count() == 3
    return ids


@pytest.fixture
def worker(drafts: dict[str, str], request: pytest.FixtureRequest) -> dict[str, str]:
    """Once the drafts are in the queue, this process's tasks go to the real worker."""
    return request.getfixturevalue("tasks_to_worker")


def finance_client(demo_logins: dict[str, str]) -> Client:
    client = Client()
    assert client.login(username="finance", password=demo_logins["finance"])
    return client


def queue(client: Client) -> dict[str, dict[str, str]]:
    """The review queue as finance reads it, every status: Stripe invoice -> column -> the text
    shown."""
    page = client.get(reverse("admin:billing_invoicereview_changelist"), {"status": "all"})
    assert page.status_code == 200
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page.content.decode(), re.S):
        cells = {
            column: html.unescape(strip_tags(text)).strip()
            for column, text in re.findall(
                r'<t[dh] class="field-(\w+)[^"]*">(.*?)</t[dh]>', row, re.S
            )
        }
        if "stripe_invoice_id" in cells:
            rows[cells["stripe_invoice_id"]] = cells
    return rows


def approve_clean(client: Client, reviews: list[InvoiceReview]) -> list[str]:
    """Ticks the rows, picks "Approve the selected clean drafts", presses Go, reads what it
    will do and confirms; the messages."""
    chosen = {
        "action": "approve_clean",
        "_selected_action": [review.pk for review in reviews],
        "select_across": "0",
        "index": "0",
    }
    url = reverse("admin:billing_invoicereview_changelist")
    confirmation = client.post(url, chosen)
    assert confirmation.status_code == 200
    page = confirmation.content.decode()
    clean = [r for r in reviews if InvoiceReview.objects.get(pk=r.pk).status == "clean"]
    assert f"{len(clean)} invoice(s) will be approved and finalized in Stripe" in page
    for review in clean:
        assert review.stripe_invoice_id in page
    response = client.post(url, chosen | {"confirm": "yes"}, follow=True)
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def standin_stats(stripe_server: str) -> dict[str, int]:
    """Requests the stand-in has had, by path (`/v1/...` only; replays included)."""
    url = f"{stripe_server}/_config/stats"
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (our loopback stand-in)
        return dict(json.load(answer)["by_path"])


def finalize_requests(stripe_server: str, invoice_ids: list[str]) -> list[int]:
    by_path = standin_stats(stripe_server)
    return [by_path.get(f"/v1/invoices/{i}/finalize", 0) for i in invoice_ids]


def test_finance_approves_the_clean_drafts_in_bulk_and_stripe_finalizes_each_once(
    drafts, worker, stripe_standin, demo_logins
):
    clean = [drafts["clean_a"], drafts["clean_b"]]
    flagged = drafts["extra_line"]
    reviews = list(InvoiceReview.objects.filter(stripe_invoice_id__in=drafts.values()))
    flagged_review = InvoiceReview.objects.select_related("contract").get(stripe_invoice_id=flagged)
    contract = f"{flagged_review.contract.number} v1"
    client = finance_client(demo_logins)

    # given the queue, where finance sees the two clean drafts as clean and the wrong one as
    # flagged, with what is wrong, each held in Stripe until someone decides
    shown = queue(client)
    for invoice_id in clean:
        assert shown[invoice_id]["status"] == "Clean"
        assert shown[invoice_id]["flags_summary"] == "clean"
    assert shown[flagged]["status"] == "Flagged"
    assert shown[flagged]["flags_summary"] == "2: total, line not in contract"
    assert {shown[i]["finalizes_in"] for i in drafts.values()} == {"never: held"}
    assert {stripe.Invoice.retrieve(i, **key()).auto_advance for i in drafts.values()} == {False}
    page = client.get(reverse("admin:billing_invoicereview_change", args=[flagged_review.pk]))
    why = html.unescape(page.content.decode())
    assert f"Line 'Onboarding workshop' (120.00 EUR) is not a price of contract {contract}." in why
    assert (
        f"The invoice comes to 220.00 EUR before tax; contract {contract} says 100.00 EUR." in why
    )

    # when finance selects all three and approves the clean ones, and clicks again at once
    first = approve_clean(client, reviews)
    again = approve_clean(client, reviews)

    # then the two clean drafts are approved, the flagged one is left for a person
    assert first == [
        f"2 clean draft(s) approved; 1 not clean left for a person ({flagged}: open "
        "each to approve it with a justification, or hold it)."
    ]
    assert again[0].startswith("0 clean draft(s) approved; 1 not clean left for a person")
    flagged_review.refresh_from_db()
    assert (flagged_review.status, flagged_review.approved_by) == (
        InvoiceReview.Status.FLAGGED,
        None,
    )

    # and the worker finalizes them in Stripe, and the reviews follow
    def in_stripe(invoice_id: str) -> str:
        return str(stripe.Invoice.retrieve(invoice_id, **key()).status)

    def finalized() -> bool:
        return InvoiceReview.objects.filter(
            stripe_invoice_id__in=clean, status=InvoiceReview.Status.FINALIZED
        ).count() == len(clean) and all(in_stripe(i) == "open" for i in clean)

    assert wait_until(finalized, timeout=WORKER_TIMEOUT), Path(worker["log"]).read_text()
    assert in_stripe(flagged) == "draft"
    assert finalize_requests(stripe_standin, [*clean, flagged]) == [1, 1, 0]

    # when the finalize tasks are delivered to the worker again (a redelivery after a lost ack)
    reads_before = standin_stats(stripe_standin)
    for review in InvoiceReview.objects.filter(stripe_invoice_id__in=clean):
        producer(worker["broker_url"]).send_task(
            "billing.tasks.invoice_stripe_action_task",
            args=[review.pk, "finalize"],
            queue=worker["queue"],
        )

    # then the worker re-reads each invoice, and asks Stripe to finalize none of them again
    def read_again() -> bool:
        reads = standin_stats(stripe_standin)
        path = "/v1/invoices/{}"
        return all(
            reads.get(path.format(i), 0) > reads_before.get(path.format(i), 0) for i in clean
        )

    assert wait_until(read_again, timeout=WORKER_TIMEOUT), Path(worker["log"]).read_text()
    assert finalize_requests(stripe_standin, [*clean, flagged]) == [1, 1, 0]
    for invoice_id in clean:
        write = StripeWrite.objects.get(idempotency_key=f"invoice-{invoice_id}-finalize")
        assert (write.outcome, write.attempts) == (StripeWrite.Outcome.DONE, 1)
    assert not StripeWrite.objects.filter(idempotency_key=f"invoice-{flagged}-finalize").exists()

    # and the queue shows them finalized, each approval once in its history, by finance
    shown = queue(client)
    assert [shown[i]["status"] for i in [*clean, flagged]] == ["Finalized", "Finalized", "Flagged"]
    for review in InvoiceReview.objects.filter(stripe_invoice_id__in=clean):
        approvals = review.history.filter(status=InvoiceReview.Status.APPROVED)
        assert [(h.history_user.username, h.history_change_reason) for h in approvals] == [
            ("finance", "approved")
        ]
        assert review.approved_by.username == "finance"
    assert not flagged_review.history.filter(status=InvoiceReview.Status.APPROVED).exists()


def test_finance_corrects_a_wrong_draft_from_the_admin_then_it_is_finalized_once(
    stripe_standin, demo_logins, settings, request
):
    settings.INVOICE_REVIEW_ON_SYNC = True
    contract = contract_in_stripe(
        "Kieler Werft GmbH",
        "DE998877665",
        seats=5,
        manager=User.objects.get(username="manager"),
        approver=User.objects.get(username="finance"),
    )
    # given a draft billing the 5 seats at 21.00 where the contract says 20.00
    invoice_id = draft_in_stripe(contract, seat_cents=2100)
    backfill("customers")
    backfill("invoices")
    review = InvoiceReview.objects.get(stripe_invoice_id=invoice_id)
    assert {"unit_price", "line_amount", "total"} <= {f["rule"] for f in review.flags}
    worker = request.getfixturevalue("tasks_to_worker")
    client = finance_client(demo_logins)
    page = html.unescape(
        client.get(reverse("admin:billing_invoicereview_change", args=[review.pk])).content.decode()
    )
    assert "105.00 EUR to 100.00 EUR (an item of -5.00 EUR)" in page
    assert "Void" not in re.findall(r'type="submit" value="([^"]+)"', page)  # a draft
    (seats_line,) = [line["id"] for line in stripe.Invoice.retrieve(invoice_id, **key()).lines.data]

    # when finance corrects the line from the invoice page, twice at once
    correct = reverse("admin:billing_invoicereview_decide", args=[review.pk, "correct"])
    client.post(correct, {"line": seats_line})
    client.post(correct, {"line": seats_line})

    # then Stripe's draft gains one item of -5.00 naming the line, and the checks pass
    def clean() -> bool:
        return InvoiceReview.objects.get(pk=review.pk).status == InvoiceReview.Status.CLEAN

    assert wait_until(clean, timeout=WORKER_TIMEOUT), Path(worker["log"]).read_text()
    lines = stripe.Invoice.retrieve(invoice_id, **key()).lines.data
    corrections = [line for line in lines if line.metadata.get("correction_of") == seats_line]
    assert [(c.amount, c.metadata["contract"]) for c in corrections] == [(-500, contract.number)]
    write = StripeWrite.objects.get(idempotency_key__startswith=f"correction-{invoice_id}-")
    assert write.outcome == StripeWrite.Outcome.DONE
    history = list(
        InvoiceReview.objects.get(pk=review.pk).history.values_list(
            "history_change_reason", flat=True
        )
    )
    assert any(reason.startswith("Correction of ") for reason in history if reason)

    # and approved without a justification (it is clean now), it is finalized once at 100.00
    client.post(reverse("admin:billing_invoicereview_decide", args=[review.pk, "approve"]))

    def finalized() -> bool:
        return (
            InvoiceReview.objects.get(pk=review.pk).status == InvoiceReview.Status.FINALIZED
            and stripe.Invoice.retrieve(invoice_id, **key()).status == "open"
        )

    assert wait_until(finalized, timeout=WORKER_TIMEOUT), Path(worker["log"]).read_text()
    assert stripe.Invoice.retrieve(invoice_id, **key()).total == 10000
    assert finalize_requests(stripe_standin, [invoice_id]) == [1]


def test_a_credit_note_is_previewed_approved_twice_and_issued_once_on_a_finalized_invoice(
    stripe_standin, demo_logins, settings, request
):
    from django.contrib.auth.models import Group

    from backoffice.roles import FINANCE
    from billing.invoices.models import CreditNote, InvoiceApprovalLimit
    from customers.tests.factories import UserFactory

    settings.INVOICE_REVIEW_ON_SYNC = True
    contract = contract_in_stripe(
        "Flensburger Reederei GmbH",
        "DE554433221",
        seats=10,
        manager=User.objects.get(username="manager"),
        approver=User.objects.get(username="finance"),
    )
    invoice_id = draft_in_stripe(contract)  # 10 seats at 20.00: 200.00
    backfill("customers")
    backfill("invoices")
    review = InvoiceReview.objects.get(stripe_invoice_id=invoice_id)
    worker = request.getfixturevalue("tasks_to_worker")
    client = finance_client(demo_logins)
    decide = reverse("admin:billing_invoicereview_decide", args=[review.pk, "approve"])
    client.post(decide)

    def finalized() -> bool:
        return InvoiceReview.objects.get(pk=review.pk).status == InvoiceReview.Status.FINALIZED

    assert wait_until(finalized, timeout=WORKER_TIMEOUT), Path(worker["log"]).read_text()
    InvoiceApprovalLimit.objects.create(currency="EUR", second_approver_above=Decimal("50"))
    (line_id,) = [line.id for line in stripe.Invoice.list_lines(invoice_id, **key()).data]
    page = client.get(reverse("admin:billing_invoicereview_change", args=[review.pk]))
    buttons = re.findall(r'type="submit"(?: name="\w+")? value="([^"]+)"', page.content.decode())
    assert {"Preview the credit note", "Issue the credit note", "Void"} <= set(buttons)
    assert "Approve and finalize" not in buttons  # finalized already

    url = reverse("admin:billing_invoicereview_decide", args=[review.pk, "credit_note"])
    form = {
        f"credit-{line_id}": "60.00",
        "reason": "order_change",
        "memo": "Two seats cancelled in March",
    }

    def said(response: Any) -> str:
        return " ".join(str(m) for m in response.context["messages"])

    # a preview writes nothing
    preview = client.post(url, form | {"preview": "1"}, follow=True)
    assert "Preview (nothing sent): a credit note of 60.00 EUR" in said(preview)
    assert not CreditNote.objects.exists()
    # more than the line billed is refused, with what can be credited
    too_much = client.post(url, form | {f"credit-{line_id}": "250.00", "issue": "1"}, follow=True)
    assert "at most 200.00 EUR can be" in said(too_much)

    # above the 50.00 limit, it waits for a second finance person
    client.post(url, form | {"issue": "1"})
    note = CreditNote.objects.get()
    assert (note.status, note.amount, note.requested_by.username) == (
        CreditNote.Status.AWAITING_SECOND,
        Money("60.00", "EUR"),
        "finance",
    )
    assert stripe.CreditNote.list(invoice=invoice_id, **key()).data == []
    second = UserFactory(username="fin-second-cn")
    second.groups.add(Group.objects.get(name=FINANCE))
    other = Client()
    other.force_login(second)
    approve = reverse("admin:billing_invoicereview_decide", args=[review.pk, "credit_approve"])
    other.post(approve, {"note": note.pk})
    other.post(approve, {"note": note.pk})  # twice

    def issued() -> bool:
        return CreditNote.objects.get(pk=note.pk).status == CreditNote.Status.ISSUED

    assert wait_until(issued, timeout=WORKER_TIMEOUT), Path(worker["log"]).read_text()
    (in_stripe,) = stripe.CreditNote.list(invoice=invoice_id, **key()).data
    assert (in_stripe.amount, in_stripe.reason, in_stripe.memo) == (
        6000,
        "order_change",
        "Two seats cancelled in March",
    )
    note.refresh_from_db()
    assert (note.stripe_credit_note_id, note.number) == (in_stripe.id, in_stripe.number)
    assert stripe.Invoice.retrieve(invoice_id, **key()).pre_payment_credit_notes_amount == 6000
    # and it shows on the account's page
    account_page = client.get(reverse("admin:customers_account_change", args=[contract.account_id]))
    assert in_stripe.number in account_page.content.decode()


def test_finance_removes_an_item_the_contract_does_not_have_and_sets_the_po_on_the_draft(
    stripe_standin, demo_logins, settings, request
):
    settings.INVOICE_REVIEW_ON_SYNC = True
    contract = contract_in_stripe(
        "Lübecker Marzipan GmbH",
        "DE887766554",
        seats=3,
        manager=User.objects.get(username="manager"),
        approver=User.objects.get(username="finance"),
    )
    invoice_id = draft_in_stripe(contract, extra_line_cents=12000)  # an onboarding workshop
    backfill("customers")
    backfill("invoices")
    review = InvoiceReview.objects.get(stripe_invoice_id=invoice_id)
    assert {f["rule"] for f in review.flags} == {"unexplained_line", "total"}
    worker = request.getfixturevalue("tasks_to_worker")
    client = finance_client(demo_logins)
    page = html.unescape(
        client.get(reverse("admin:billing_invoicereview_change", args=[review.pk])).content.decode()
    )
    assert "Remove 'Onboarding workshop' (120.00 EUR) from the draft" in page
    (workshop,) = [
        line.id
        for line in stripe.Invoice.list_lines(invoice_id, **key()).data
        if line.description == "Onboarding workshop"
    ]

    correct = reverse("admin:billing_invoicereview_decide", args=[review.pk, "correct"])
    client.post(correct, {"line": workshop})
    fields = reverse("admin:billing_invoicereview_decide", args=[review.pk, "custom_fields"])
    client.post(fields, {"text": "PO-4711"})

    # the item is deleted in Stripe, its line leaves the mirror, and the draft is clean
    def clean() -> bool:
        return InvoiceReview.objects.get(pk=review.pk).status == InvoiceReview.Status.CLEAN

    assert wait_until(clean, timeout=WORKER_TIMEOUT), Path(worker["log"]).read_text()
    in_stripe = stripe.Invoice.retrieve(invoice_id, **key())
    assert [line.description for line in in_stripe.lines.data] != []
    assert "Onboarding workshop" not in [line.description for line in in_stripe.lines.data]
    assert in_stripe.subtotal == 6000  # 3 seats at 20.00

    def fields_set() -> bool:
        data = stripe.Invoice.retrieve(invoice_id, **key())
        return bool(data.custom_fields)

    assert wait_until(fields_set, timeout=WORKER_TIMEOUT), Path(worker["log"]).read_text()
    assert [
        (f.name, f.value) for f in stripe.Invoice.retrieve(invoice_id, **key()).custom_fields
    ] == [
        ("PO number", "PO-4711"),
        ("Contract", f"{contract.number} v1"),
    ]


def test_an_item_of_the_contracts_billed_wrong_is_changed_in_place(
    stripe_standin, demo_logins, settings, django_capture_on_commit_callbacks
):
    """Seats added by hand as an invoice item at 50.00 where the contract says 3 x 20.00: the
    page offers to change the item (Stripe changes an item on a draft), not to add another."""
    from billing.invoices.checks import draft_from_stripe
    from billing.invoices.selectors import invoice_expectations, mirrored_invoice
    from billing.invoices.services import draft_corrections, invoice_line_correct
    from billing.pricing import add_months, day_timestamp

    settings.INVOICE_REVIEW_ON_SYNC = True
    contract = contract_in_stripe(
        "Kieler Werft GmbH",
        "DE776655443",
        seats=3,
        manager=User.objects.get(username="manager"),
        approver=User.objects.get(username="finance"),
    )
    customer, start = contract.account.stripe_customer_id, contract.start_date
    item = stripe.InvoiceItem.create(
        customer=customer,
        amount=5000,
        currency="eur",
        description="Seats",
        period={
            "start": day_timestamp(start),
            "end": day_timestamp(add_months(start, 1)),
        },
        metadata={"contract": contract.number, "contract_line": "seats"},
        **key(),
    )
    # localstripe invoices only a customer with a subscription: one on a trial, of nothing.
    plan = stripe.Plan.create(
        product=stripe.Product.create(name="Trial", **key()).id,
        amount=0,
        currency="eur",
        interval="month",
        **key(),
    )
    stripe.Subscription.create(
        customer=customer, items=[{"plan": plan.id}], trial_period_days=30, **key()
    )
    invoice_id = stripe.Invoice.create(customer=customer, **key()).id
    backfill("customers")
    backfill("invoices")
    review = InvoiceReview.objects.get(stripe_invoice_id=invoice_id)
    assert {f["rule"] for f in review.flags} == {"line_amount", "total", "unexplained_line"}, (
        review.flags
    )
    data, lines = mirrored_invoice(invoice_id)
    draft = draft_from_stripe(data, lines)
    (offer,) = draft_corrections(draft, invoice_expectations(review.account, draft))
    assert offer[2] == "Change 'Seats' from 50.00 EUR to 60.00 EUR"

    with django_capture_on_commit_callbacks(execute=True):
        invoice_line_correct(
            review=review, by=User.objects.get(username="finance"), line_id=offer[1]
        )

    in_stripe = stripe.Invoice.retrieve(invoice_id, **key())
    assert sorted((line.description, line.amount) for line in in_stripe.lines.data) == [
        ("Seats", 6000),
        ("Trial", 0),
    ]
    assert stripe.InvoiceItem.retrieve(item.id, **key()).amount == 6000
    review.refresh_from_db()
    # the seats are right; what is left is the trial's line, which no contract has
    assert [(f["rule"], f["actual"]) for f in review.flags] == [("unexplained_line", "0.00 EUR")], (
        review.flags
    )
