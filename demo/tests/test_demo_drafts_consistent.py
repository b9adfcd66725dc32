"""Every demo draft agrees with itself, as a draft Stripe made would: each line's tax is its rate
times its taxable amount rounded to the currency's minor unit, the invoice's tax is its lines'
taxes, its totals add up, and it is made when the period it bills in advance begins and due the
contract's payment terms later. A draft made wrong on purpose is wrong in its one figure only.
"""

import copy
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from djstripe.models import TaxRate as StripeTaxRate

from billing.contracts.models import Contract
from billing.invoices.checks import tax_amounts
from billing.invoices.models import CreditNote, InvoiceReview
from billing.invoices.selectors import mirrored_invoice
from billing.invoices.services import invoice_review_run
from billing.money import from_stripe_amount, quantize, to_stripe_amount
from demo.invoices import DRAFTS, OBSERVED_AT, REVIEW_CONTRACTS, _mirror, demo_meters
from stripe_sync.object_types import object_type

pytestmark = pytest.mark.django_db

# Stripe makes a subscription's invoice when the period it bills in advance begins, not before.
BILLING_LEAD = timedelta(days=0)
# Rates on demo drafts that are not our tax settings' (those are read from the mirror), as
# Stripe has them: the reduced rate of the "wrong tax" draft, New York's rate of Stripe Tax.
OTHER_RATES = {"txr_demo_reduced": Decimal(7), "txr_stripe_tax_us_ny": Decimal(4)}
# The one figure a draft wrong on purpose gets wrong (its review rule): the rest of it holds.
WRONG_ON_PURPOSE = {"tax_amount": "line tax", "invoice_totals": "amount due", "due_date": "due"}


def _day(timestamp: int) -> date:
    return datetime.fromtimestamp(timestamp, UTC).date()


def contradictions(
    data: dict[str, Any],
    lines: list[dict[str, Any]],
    percentages: dict[str, Decimal],
    payment_terms_days: int,
) -> dict[str, list[str]]:
    """What the invoice says of itself that does not add up, by kind."""
    found: dict[str, list[str]] = {}

    def off(kind: str, message: str) -> None:
        found.setdefault(kind, []).append(message)

    currency = str(data["currency"]).upper()
    line_tax = discounts = 0
    for line in lines:
        off_line = sum(d["amount"] for d in line.get("discount_amounts") or [])
        discounts += off_line
        net = line["amount"] - off_line
        for tax in line.get("taxes") or []:
            rate = tax["tax_rate_details"]["tax_rate"]
            inclusive = tax["tax_behavior"] == "inclusive"
            taxable = net - tax["amount"] if inclusive else net
            if tax["taxable_amount"] != taxable:
                off("line tax", f"{line['id']}: taxable {tax['taxable_amount']}, bills {taxable}")
            percentage = percentages.get(rate)
            if percentage is None:
                off("line tax", f"{line['id']}: rate {rate} unknown")
            else:
                # The rate times the taxable amount, rounded to the currency's minor unit.
                exact = from_stripe_amount(tax["taxable_amount"], currency) * percentage / 100
                expected = to_stripe_amount(quantize(exact, currency), currency)
                if tax["amount"] != expected:
                    off(
                        "line tax",
                        f"{line['id']}: {percentage}% of {tax['taxable_amount']} is {expected}, "
                        f"not {tax['amount']}",
                    )
            if not inclusive:
                line_tax += tax["amount"]
    invoice_tax = sum(t.amount for t in tax_amounts(data, lines) if not t.inclusive)
    if invoice_tax != line_tax:
        off("invoice tax", f"the invoice's tax {invoice_tax}, its lines' {line_tax}")

    subtotal = sum(line["amount"] for line in lines)
    if data["subtotal"] != subtotal:
        off("totals", f"subtotal {data['subtotal']}, lines {subtotal}")
    if sum(d["amount"] for d in data.get("total_discount_amounts") or []) != discounts:
        off("totals", f"total_discount_amounts, lines' discounts {discounts}")
    if data["total_excluding_tax"] != data["subtotal"] - discounts:
        off("totals", f"total excluding tax {data['total_excluding_tax']}")
    if data["total"] != data["subtotal"] - discounts + invoice_tax:
        off(
            "totals",
            f"total {data['total']}, not {data['subtotal']} - {discounts} + {invoice_tax}",
        )
    if data["amount_due"] != data["total"] - int(data.get("pre_payment_credit_notes_amount") or 0):
        off("amount due", f"amount due {data['amount_due']}, total {data['total']}")

    created, due = _day(data["created"]), _day(data["due_date"])
    # The period billed in advance: the latest the lines begin (usage in arrears begins before).
    period_start = max(_day(line["period"]["start"]) for line in lines)
    if created > due:
        off("dates", f"created {created} after its due date {due}")
    if created < period_start - BILLING_LEAD:
        off("dates", f"created {created}, before the period it bills from {period_start}")
    if due != created + timedelta(days=payment_terms_days):
        off("due", f"due {due}; net {payment_terms_days} from {created} is later or earlier")
    return found


def demo_contradictions() -> dict[str, dict[str, list[str]]]:
    """Per demo invoice, what does not add up, leaving out what is wrong on purpose (and
    asserting that it is)."""
    percentages = {
        rate: Decimal(str(percentage))
        for rate, percentage in StripeTaxRate.objects.values_list("id", "stripe_data__percentage")
    } | OTHER_RATES
    found = {}
    for draft in DRAFTS:
        contract = Contract.objects.get(number=REVIEW_CONTRACTS[draft.contract], version=1)
        data, lines = mirrored_invoice(draft.invoice_id, missing_ok=False)
        wrong = contradictions(data, lines, percentages, contract.payment_terms_days)
        on_purpose = WRONG_ON_PURPOSE.get(draft.wrong)
        if on_purpose:
            assert on_purpose in wrong, (draft.invoice_id, on_purpose, "right after all")
            del wrong[on_purpose]
        if wrong:
            found[draft.invoice_id] = wrong
    return found


def test_every_demo_draft_adds_up_and_is_dated_as_stripe_dates_it(settings):
    call_command("demo_data", stdout=io.StringIO())

    assert demo_contradictions() == {}


def test_a_draft_an_older_demo_left_in_the_mirror_is_brought_up_to_date(settings):
    # given the ramp draft as an older demo wrote it: its seats repriced to 2026's 2,000.00
    # but still taxed on 2027's 2,160.00: 505.40 of tax on 2,500.00 at 19%
    call_command("demo_data", stdout=io.StringIO())
    data, _ = mirrored_invoice("in_demo_eur_ramp", missing_ok=False)
    stale = copy.deepcopy(data)
    seats = stale["lines"]["data"][0]
    assert seats["amount"] == 200000
    seats["taxes"][0].update(amount=41040, taxable_amount=216000)
    stale["total"] = stale["amount_due"] = 250000 + 41040 + 9500
    stale["created"] = int(OBSERVED_AT.timestamp())
    stale["due_date"] = stale["created"] + 30 * 86400
    _mirror().write(object_type("invoices"), [stale], observed_at=OBSERVED_AT, wins_ties=True)
    stale_review = invoice_review_run(stripe_invoice_id="in_demo_eur_ramp", meters=demo_meters)
    assert "tax_amount" in stale_review.flag_rules
    assert "in_demo_eur_ramp" in demo_contradictions()

    # when the demo is loaded again
    call_command("demo_data", stdout=io.StringIO())

    # then the draft is the demo's again, and so is its review
    assert demo_contradictions() == {}
    review = InvoiceReview.objects.get(stripe_invoice_id="in_demo_eur_ramp")
    assert "tax_amount" not in review.flag_rules
    assert "unit_price" in review.flag_rules

    # and a third load writes nothing
    def written() -> object:
        checked = {r.stripe_invoice_id: r.checked_at for r in InvoiceReview.objects.all()}
        return checked, CreditNote.history.count()

    before = written()
    call_command("demo_data", stdout=io.StringIO())
    assert written() == before


def test_the_period_billed_in_advance_is_where_a_draft_is_made():
    # a draft billing this month's fee and last month's usage is made when this month begins
    lines = [
        {"id": "fee", "amount": 100, "period": {"start": 1_775_001_600, "end": 1_777_593_600}},
        {"id": "usage", "amount": 0, "period": {"start": 1_772_323_200, "end": 1_775_001_600}},
    ]
    data = {
        "currency": "eur",
        "subtotal": 100,
        "total": 100,
        "total_excluding_tax": 100,
        "amount_due": 100,
        "created": 1_775_001_600,  # 1 April 2026
        "due_date": 1_775_001_600 + 30 * 86400,
    }
    assert contradictions(data, lines, {}, 30) == {}
    data["created"] -= 86400
    assert set(contradictions(data, lines, {}, 30)) == {"dates", "due"}
