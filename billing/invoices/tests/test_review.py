"""Draft invoices in the mirror, checked against the contract they bill: the review records
and `check_invoices`."""

import io
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from djmoney.money import Money

from billing.contracts.models import Contract
from billing.contracts.push import contract_push_to_stripe
from billing.contracts.services import contract_approve, contract_submit
from billing.contracts.tests.factories import (
    ContractFactory,
    ContractLineFactory,
    PricePhaseFactory,
)
from billing.invoices.models import InvoiceReview
from billing.invoices.tests.test_checks import ts
from stripe_standin.store import stripe_fixture
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type

pytestmark = pytest.mark.django_db
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
APRIL = (date(2026, 4, 1), date(2026, 4, 30))


@pytest.fixture
def pushed_contract(stripe_standin, account, manager, finance):
    """100 seats at 20.00 EUR a month, net 30, for a reverse-charge customer, in Stripe."""
    contract = ContractFactory(
        account=account,
        created_by=manager,
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
        collection_method=Contract.CollectionMethod.SEND_INVOICE,
        payment_terms_days=30,
    )
    PricePhaseFactory(
        line=ContractLineFactory(contract=contract, key="seats"),
        unit_amount=Decimal("20.00"),
        quantity=100,
    )
    contract_submit(contract=contract, by=manager)
    contract_approve(contract=contract, by=finance)
    contract_push_to_stripe(contract=contract)
    contract.refresh_from_db()
    return contract


def mirror_draft(contract, invoice_id, *, quantity=100, unit="2000", currency="eur", month=MARCH):
    """A draft invoice of the contract's customer, as Stripe would send it, in the mirror."""
    price = contract.lines.get().phases.get().stripe_price_id
    line = stripe_fixture("line_item")
    line.update(
        id=f"il_{invoice_id}",
        invoice=invoice_id,
        amount=quantity * int(unit),
        quantity=quantity,
        description="Seats",
        period={"start": ts(month[0]), "end": ts(month[1] + timedelta(days=1))},
        pricing={
            "type": "price_details",
            "price_details": {"price": price, "product": "prod"},
            "unit_amount_decimal": unit,
        },
        taxes=[],
        subscription=None,
    )
    invoice = stripe_fixture("invoice")
    invoice.update(
        id=invoice_id,
        status="draft",
        customer=contract.account.stripe_customer_id,
        currency=currency,
        collection_method="send_invoice",
        created=ts(month[0]),
        due_date=ts(month[0] + timedelta(days=30)),
        subtotal=quantity * int(unit),
        total=quantity * int(unit),
        amount_due=quantity * int(unit),
        subscription=None,
        charge=None,
        payment_intent=None,
        default_payment_method=None,
        auto_advance=True,
        automatically_finalizes_at=ts(MARCH[0]) + 3600,
    )
    invoice["lines"] = {"object": "list", "data": [line], "has_more": False, "url": "/v1/x"}
    Mirror().write(object_type("invoices"), [invoice], observed_at=timezone.now())


def test_check_invoices_prints_each_draft_clean_or_with_its_rules(pushed_contract):
    mirror_draft(pushed_contract, "in_right")
    mirror_draft(pushed_contract, "in_overpriced", unit="2100", month=APRIL)
    mirror_draft(pushed_contract, "in_again", month=APRIL)  # a second draft for April

    out = io.StringIO()
    call_command("check_invoices", "--json", stdout=out)

    results = {r["invoice"]: r for r in map(json.loads, out.getvalue().splitlines())}
    assert results["in_right"] == {"invoice": "in_right", "clean": True, "rules": []}
    assert results["in_overpriced"]["clean"] is False
    assert set(results["in_overpriced"]["rules"]) == {
        "unit_price",
        "line_amount",
        "total",
        "duplicate",  # two drafts for the same contract and month
    }
    assert results["in_again"]["rules"] == ["duplicate"]


def test_a_review_records_what_the_queue_filters_on(pushed_contract):
    mirror_draft(pushed_contract, "in_usd", currency="usd")

    call_command("check_invoices", stdout=io.StringIO())

    review = InvoiceReview.objects.get(stripe_invoice_id="in_usd")
    assert review.status == InvoiceReview.Status.FLAGGED
    assert review.contract == pushed_contract
    assert review.account == pushed_contract.account
    assert review.amount == Money("2000.00", "USD")
    assert review.flag_rules == ",currency,"
    assert review.flags[0]["message"].startswith("The invoice is in USD; contract")
    assert (review.period_start, review.period_end) == MARCH
    assert review.finalizes_at is not None
    assert review.held_in_stripe is False


def test_a_draft_of_a_customer_without_a_contract(pushed_contract):
    # its only contract was cancelled before it was ever in force
    Contract.objects.filter(pk=pushed_contract.pk).update(status=Contract.Status.CANCELLED)
    mirror_draft(pushed_contract, "in_orphan")

    out = io.StringIO()
    call_command("check_invoices", stdout=out)

    assert "in_orphan  no contract  flagged: no_contract" in out.getvalue()
    assert "1 draft(s) checked, 1 flagged." in out.getvalue()


def test_a_clean_draft_under_the_automatic_limit_needs_no_person(pushed_contract):
    from billing.invoices.models import InvoiceApprovalLimit
    from billing.invoices.services import invoice_review_run

    mirror_draft(pushed_contract, "in_small")
    mirror_draft(pushed_contract, "in_flagged", unit="2100", month=APRIL)

    # without a limit, a clean draft waits for a person
    assert invoice_review_run(stripe_invoice_id="in_small").status == "clean"

    # with finance's limit for EUR above its 2,000.00, it is approved (and queued to finalize)
    InvoiceApprovalLimit.objects.create(currency="EUR", auto_approve_below=Decimal("5000"))
    small = invoice_review_run(stripe_invoice_id="in_small")
    assert small.status == InvoiceReview.Status.APPROVED
    assert small.justification == (
        "Approved automatically: clean, and under the limit of 5,000.00 EUR set for automatic "
        "approval."
    )
    assert small.approved_by is None
    # a flagged draft never is, whatever its amount
    assert invoice_review_run(stripe_invoice_id="in_flagged").status == "flagged"


def test_drafts_are_checked_again_when_their_contract_changes(
    pushed_contract, finance, django_capture_on_commit_callbacks
):
    from billing.contracts.services import contract_terminate
    from billing.invoices.services import invoice_review_run

    mirror_draft(pushed_contract, "in_april", month=APRIL)
    assert invoice_review_run(stripe_invoice_id="in_april").status == "clean"

    # finance ends the contract at the end of March: April's draft bills days after its end
    with django_capture_on_commit_callbacks(execute=True):
        contract_terminate(
            contract=pushed_contract, by=finance, end_date=MARCH[1], reason="Customer left"
        )

    review = InvoiceReview.objects.get(stripe_invoice_id="in_april")
    assert review.status == InvoiceReview.Status.FLAGGED
    assert review.flag_rules == ",after_contract_end,total,"
    assert (
        f"after the last day of contract {pushed_contract.number} v1 (2026-03-31, terminated)"
        in (review.flags[0]["message"])
    )
