"""The demo's year of finalized invoices (demo/billed_year.py), as the finance reports read it:
each invoice adds up and is dated as Stripe dates it, the receivables fill every bucket of the
aging report on the demo's "today", the lines listed as over- or under-billed are, and no other
is, and the review queue is what it was."""

import io
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Min
from django.urls import reverse
from djstripe.models import Customer, Invoice, LineItem
from djstripe.models import TaxRate as StripeTaxRate

from billing.contracts.models import Contract, PricePhase
from billing.contracts.selectors import contract_validity
from billing.invoices.checks import draft_from_stripe, invoice_flags
from billing.invoices.models import CreditNote, InvoiceReview
from billing.invoices.selectors import (
    invoice_expectations,
    invoices_billing_the_same_period,
    mirrored_invoice,
    tax_rate_percentages,
)
from billing.invoices.services import invoice_review_run
from billing.money import as_money, from_stripe_amount, quantize, stripe_exponent
from billing.pricing import MINIMUM_COMMIT_KEY, day_timestamp, timestamp_day
from billing.usage.models import MeterEvent, UsageQuantity
from customers.models import Account
from demo.billed_year import (
    AS_OF,
    BILLED_CREDIT_NOTES,
    DISCOUNT,
    MISBILLED,
    OVER,
    QUANTITY,
    RECEIVABLES,
    TRUE_UP_NEVER_BILLED,
    UNDER,
    UNIT_PRICE,
    YEAR,
    BilledYearWritten,
    demo_billed_year_ensure,
)
from demo.invoices import DRAFTS, demo_meters
from demo.tests.test_demo_drafts_consistent import contradictions
from stripe_sync.models import StripeObjectVersion

pytestmark = pytest.mark.django_db

BILLED = "in_demo_billed_"


def billed() -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each invoice of the year, and its lines as the mirror holds them (rows of their own)."""
    ids = Invoice.objects.filter(id__startswith=BILLED).values_list("id", flat=True)
    return {i: mirrored_invoice(i, missing_ok=False) for i in sorted(ids)}


def contract_of(lines: list[dict[str, Any]]) -> str:
    (number,) = {line["metadata"]["contract"] for line in lines}
    return number


def day(timestamp: int) -> date:
    return timestamp_day(timestamp)


def percentages() -> dict[str, Decimal]:
    return {
        rate: Decimal(str(percentage))
        for rate, percentage in StripeTaxRate.objects.values_list("id", "stripe_data__percentage")
    }


def bucket(days_past_due: int) -> str:
    if days_past_due <= 0:
        return "current"
    for top, name in ((30, "1-30"), (60, "31-60"), (90, "61-90")):
        if days_past_due <= top:
            return name
    return "over 90"


def test_every_invoice_of_the_year_adds_up_and_is_dated_as_stripe_dates_it(settings):
    call_command("demo_data", stdout=io.StringIO())
    invoices = billed()
    rates = percentages()
    contracts = {c.number: c for c in Contract.objects.order_by("version")}  # latest version
    first_start = dict(
        Contract.objects.values("number").annotate(s=Min("start_date")).values_list("number", "s")
    )

    assert len(invoices) > 100
    found: dict[str, list[str]] = {}
    for invoice_id, (data, lines) in invoices.items():
        contract = contracts[contract_of(lines)]
        # the figures: what the drafts' test checks (each line's tax, subtotal, discounts, tax,
        # total, amount due net of credit notes before payment, due the terms after making)
        wrong = contradictions(data, lines, rates, contract.payment_terms_days)
        # and Stripe's older names of the tax, and what was paid of what is due
        exclusive = sum(
            t["amount"] for line in lines for t in line["taxes"] if t["tax_behavior"] == "exclusive"
        )
        if data["tax"] != exclusive or sum(t["amount"] for t in data["total_tax_amounts"]) != sum(
            t["amount"] for t in data["total_taxes"]
        ):
            wrong["tax"] = [f"tax {data['tax']}, lines {exclusive}"]
        if data["status"] in ("open", "paid") and (
            data["amount_paid"] + data["amount_remaining"] != data["amount_due"]
        ):
            wrong["paid"] = [f"{data['amount_paid']} + {data['amount_remaining']}"]
        # the dates: finalized when made, due the payment terms after, paid after that and
        # before the demo's today, never before the contract starts or after it ends
        moments = data["status_transitions"]
        finalized = moments["finalized_at"]
        if not data["created"] <= finalized < data["created"] + 86400:
            wrong["finalized"] = [str(finalized)]
        if day(data["due_date"]) != day(finalized) + timedelta(days=contract.payment_terms_days):
            wrong["due"] = [f"due {day(data['due_date'])}"]
        if not YEAR[0] <= day(data["created"]) <= YEAR[1]:
            wrong["year"] = [str(day(data["created"]))]
        for moment in ("paid_at", "voided_at", "marked_uncollectible_at"):
            if moments[moment] and not finalized <= moments[moment] < day_timestamp(AS_OF):
                wrong[moment] = [str(day(moments[moment]))]
        if (moments["paid_at"] is not None) != (data["status"] == "paid"):
            wrong["status"] = [f"{data['status']} paid at {moments['paid_at']}"]
        for line in lines:
            start, end = day(line["period"]["start"]), day(line["period"]["end"]) - timedelta(1)
            if start < first_start[contract.number] or end > contract.end_date:
                wrong.setdefault("term", []).append(f"{line['id']}: {start} to {end}")
        if not data["number"]:
            wrong["number"] = ["none"]
        if wrong:
            found[invoice_id] = sorted(wrong)
    assert found == {}

    # every demo currency is billed and mostly paid, zero- and three-decimal ones included
    paid: dict[str, int] = defaultdict(int)
    for data, _ in invoices.values():
        paid[data["currency"]] += data["status"] == "paid"
    assert set(paid) >= {"usd", "eur", "jpy", "bhd", "gbp", "chf", "cad", "inr"}
    assert all(n >= 1 for n in paid.values()), paid
    statuses = [data["status"] for data, _ in invoices.values()]
    assert statuses.count("paid") > 0.8 * len(statuses)


def test_the_year_bills_the_contracts_prices_and_usage_from_their_start_to_their_end(settings):
    call_command("demo_data", stdout=io.StringIO())
    invoices = billed()
    months: dict[str, set[date]] = defaultdict(set)
    usage: dict[str, set[int]] = defaultdict(set)
    for data, lines in invoices.values():
        if data["status"] != "void":
            months[contract_of(lines)].add(day(data["created"]))
        for line in lines:
            number, key = line["metadata"]["contract"], line["metadata"]["contract_line"]
            price = line["pricing"]["price_details"]["price"]
            if key == MINIMUM_COMMIT_KEY:
                assert price is None, line["id"]
                continue
            # a line's price is its contract line's, in force on its first day
            phase = PricePhase.objects.get(stripe_price_id=price, line__contract__version=1)
            assert (phase.line.contract.number, phase.line.key) == (number, key), line["id"]
            if phase.line.metric:
                usage[number].add(line["quantity"])

    # usage contracts bill what was measured, month after month (or quarter after quarter)
    assert {n for n, quantities in usage.items() if len(quantities) >= 3} == {
        "C-2026-00003",
        "C-2026-00004",
        "C-2026-00012",
    }
    # a new customer from June, one churning at the end of September, one contract expired in
    # December 2025 and one running since before the year
    assert min(months["C-2026-00016"]) == date(2026, 6, 1)
    assert max(months["C-2026-00009"]) == date(2026, 9, 1)
    assert months["C-2024-00001"] == {date(2025, 12, 1)}
    assert len(months["C-2025-00001"]) == 12
    # an expansion in July: the amendment's 1,000 seats billed from August (July under-billed)
    seats = {
        day(data["created"]): line["quantity"]
        for data, lines in invoices.values()
        for line in lines
        if line["metadata"] == {"contract": "C-2026-00002", "contract_line": "seats"}
    }
    assert seats[date(2026, 6, 1)] == 800
    assert seats[date(2026, 8, 1)] == 1000
    # and a contraction in September: 80 seats cut to 60
    cut = {
        day(data["created"]): line["quantity"]
        for data, lines in invoices.values()
        for line in lines
        if line["metadata"]["contract"] == "C-2026-00018"
    }
    assert (cut[date(2026, 8, 1)], cut[date(2026, 9, 1)]) == (80, 60)
    # the contracts' and customers' dates agree with their invoices
    for number, made in months.items():
        versions = Contract.objects.filter(number=number).select_related("account")
        first = versions.get(version=1)
        assert first.signed_date is not None
        assert first.signed_date < min(made), number
        for amendment in versions.exclude(version=1):
            assert amendment.signed_date < amendment.effective_date, number
        customer = Customer.objects.get(id=first.account.stripe_customer_id)
        assert customer.created.date() <= first.signed_date, number


def test_the_aging_buckets_on_the_demos_today_each_hold_an_invoice(settings):
    settings.DEMO_PASSWORD = "s3cret-demo"
    call_command("demo_data", stdout=io.StringIO())
    invoices = billed()

    # receivables: open and uncollectible invoices by days past due, as of 3 December 2026
    receivable: dict[str, list[str]] = defaultdict(list)
    for invoice_id, (data, _) in invoices.items():
        if data["status"] in ("open", "uncollectible"):
            late = (AS_OF - day(data["due_date"])).days
            receivable[bucket(late)].append(invoice_id)
    assert set(receivable) == {"current", "1-30", "31-60", "61-90", "over 90"}, receivable

    by_status = defaultdict(list)
    for data, _ in invoices.values():
        by_status[data["status"]].append(data)
    # one partly paid, one written off, one voided and made again
    (partial,) = [d for d in by_status["open"] if d["amount_paid"]]
    assert 0 < partial["amount_paid"] < partial["amount_due"]
    assert partial["amount_remaining"] == partial["amount_due"] - partial["amount_paid"]
    (written_off,) = by_status["uncollectible"]
    assert written_off["amount_remaining"] == written_off["amount_due"] > 0
    assert written_off["status_transitions"]["marked_uncollectible_at"]
    (void,) = by_status["void"]
    reissued = invoices[void["id"] + "_2"][0]
    assert reissued["status"] != "void"
    assert reissued["total"] == void["total"]
    assert [line["period"] for line in reissued["lines"]["data"]] == [
        line["period"] for line in void["lines"]["data"]
    ]
    assert len(by_status["open"]) + len(by_status["uncollectible"]) == sum(
        len(ids) for ids in receivable.values()
    )
    assert {o.status for o in RECEIVABLES.values()} == {"open", "uncollectible", "void"}

    # the credit notes came through the mirror, as Stripe's own do: one after payment, one
    # before, each counted on its invoice
    notes = {n.stripe_credit_note_id: n for n in CreditNote.objects.all()}
    for demo_note in BILLED_CREDIT_NOTES:
        note = notes[demo_note.id]
        data = invoices[note.stripe_invoice_id][0]
        assert (note.source, note.status, note.review) == ("stripe", "issued", None)
        assert note.account == Account.objects.get(stripe_customer_id=data["customer"])
        assert note.amount == as_money(demo_note.amount, note.currency)
        credited = int(note.stripe_data["total"])
        if data["status"] == "paid":
            assert note.stripe_data["type"] == "post_payment"
            assert data["post_payment_credit_notes_amount"] == credited
            assert data["amount_paid"] == data["total"]
        else:
            assert note.stripe_data["type"] == "pre_payment"
            assert data["amount_due"] == data["total"] - credited
    assert notes["cn_demo_billed_bergmann_outage"].total == as_money(
        Decimal("595.00"), "EUR"
    )  # 19% VAT on 500

    # finance opens them: the credit note, and the invoices in the mirror's list and page
    from django.test import Client

    client = Client()
    assert client.login(username="finance", password="s3cret-demo")
    note = notes["cn_demo_billed_bergmann_outage"]
    page = client.get(reverse("admin:billing_creditnote_change", args=[note.pk]))
    assert page.status_code == 200
    assert "595.00" in page.content.decode()
    listed = client.get(reverse("admin:djstripe_invoice_changelist"), {"q": void["number"]})
    assert listed.status_code == 200
    invoice = Invoice.objects.get(id=void["id"])
    assert (
        client.get(reverse("admin:djstripe_invoice_change", args=[invoice.pk])).status_code == 200
    )


def test_the_lines_listed_as_misbilled_differ_from_the_contract_as_said_and_no_other_does(
    settings,
):
    call_command("demo_data", stdout=io.StringIO())
    invoices = billed()

    for wrong in MISBILLED:
        data, lines = invoices[wrong.invoice_id]
        (line,) = [
            x
            for x in lines
            if x["metadata"] == {"contract": wrong.contract, "contract_line": wrong.line}
        ]
        first_day = day(line["period"]["start"])
        (version,) = [
            v
            for v in Contract.objects.filter(number=wrong.contract)
            if contract_validity(v)[0] <= first_day <= contract_validity(v)[1]
        ]
        (phase,) = [
            p
            for p in PricePhase.objects.filter(line__contract=version, line__key=wrong.line)
            if (p.start_date or version.start_date) <= first_day <= (p.end_date or version.end_date)
        ]
        currency = version.currency
        if wrong.change == UNIT_PRICE:
            rate = Decimal(line["pricing"]["unit_amount_decimal"]).scaleb(
                -stripe_exponent(currency)
            )
            assert rate == wrong.billed, wrong
            assert (rate > phase.unit_amount) == (wrong.kind == OVER), wrong
            assert from_stripe_amount(line["amount"], currency) == quantize(
                rate * line["quantity"], currency
            )
        elif wrong.change == QUANTITY:
            assert line["quantity"] == wrong.billed < phase.quantity, wrong
            assert wrong.kind == UNDER
        else:
            assert wrong.change == DISCOUNT
            assert wrong.kind == UNDER
            off = sum(d["amount"] for d in line["discount_amounts"])
            assert Decimal(off) / line["amount"] == wrong.billed / 100
            effective = from_stripe_amount(line["amount"] - off, currency) / line["quantity"]
            assert effective < phase.unit_amount, wrong

    # invoice review's own checks find these and the true-ups never billed, and nothing else
    # (the line's amount and the invoice's total differ with them)
    flagged: dict[str, set[str]] = {}
    for invoice_id, (data, lines) in invoices.items():
        if data["status"] == "void":
            continue  # its reissue bills the same days
        draft = draft_from_stripe(data, lines)
        account = Account.objects.get(stripe_customer_id=draft.customer_id)
        flags = invoice_flags(
            draft,
            invoice_expectations(account, draft),
            other_invoices_for_period=invoices_billing_the_same_period(invoice_id, draft),
            rate_percentages=tax_rate_percentages(draft),
        )
        rules = {f.rule for f in flags} - {"line_amount", "total"}
        if rules:
            flagged[invoice_id] = rules
    true_ups = {
        invoice_id
        for invoice_id, (data, lines) in invoices.items()
        if contract_of(lines) in TRUE_UP_NEVER_BILLED
        and any(line["metadata"]["contract_line"] != "support" for line in lines)
    }
    assert len(true_ups) == 3  # the first three quarters' usage
    assert flagged == {
        **{w.invoice_id: {w.change} for w in MISBILLED},
        **{key: {"minimum_commit"} for key in true_ups},
    }
    # where usage fell short of the commit on other contracts, the true-up was billed
    assert any(
        line["metadata"]["contract_line"] == MINIMUM_COMMIT_KEY
        for _, lines in invoices.values()
        for line in lines
    )


def test_the_year_leaves_the_review_queue_as_it_was(settings):
    call_command("demo_data", stdout=io.StringIO())
    before = dict(InvoiceReview.objects.values_list("stripe_invoice_id", "flag_rules"))

    # no finalized invoice of the year is in the queue
    assert set(before) == {d.invoice_id for d in DRAFTS}
    # a contract whose fees are in the queue has none in the year (billed some months and in
    # review others, its billed revenue would stop and start again)
    drafted_fees = {
        phase.line.contract.number
        for phase in PricePhase.objects.filter(
            stripe_price_id__in=[
                line["pricing"]["price_details"]["price"]
                for d in DRAFTS
                for line in mirrored_invoice(d.invoice_id)[1]
            ],
            line__metric="",
        ).select_related("line__contract")
    }
    assert drafted_fees >= {"C-2026-00901", "C-2026-00902", "C-2026-00903", "C-2026-00907"}
    assert not drafted_fees & {contract_of(lines) for _, lines in billed().values()}
    # and every draft checked again, with the year in the mirror, says what it said
    for invoice_id in before:
        invoice_review_run(stripe_invoice_id=invoice_id, meters=demo_meters)
    assert dict(InvoiceReview.objects.values_list("stripe_invoice_id", "flag_rules")) == before


def test_loading_the_demo_again_writes_nothing_of_the_year(settings):
    call_command("demo_data", stdout=io.StringIO())

    def written() -> object:
        return (
            sorted(
                Invoice.objects.filter(id__startswith=BILLED).values_list("id", "djstripe_updated")
            ),
            sorted(
                LineItem.objects.filter(id__startswith="il_demo_billed_").values_list(
                    "id", "djstripe_updated"
                )
            ),
            sorted(StripeObjectVersion.objects.values_list("stripe_id", "observed_at")),
            CreditNote.history.count(),
            UsageQuantity.history.count(),
            MeterEvent.objects.count(),
        )

    first = written()
    assert len(first[0]) > 100
    call_command("demo_data", stdout=io.StringIO())
    assert written() == first
    assert demo_billed_year_ensure() == BilledYearWritten(invoices=0, credit_notes=0)
