"""The review queue and the invoice page, as finance uses them."""

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.invoices.models import InvoiceReview
from customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def finance(demo_logins) -> Client:
    client = Client()
    client.login(username="finance", password=demo_logins["finance"])
    return client


TAX_FLAG = {"rule": "tax", "message": "Taxed with txr_a", "expected": "txr_b", "actual": "txr_a"}


def make_reviews(count: int, start: int = 0) -> None:
    now = timezone.now()
    for n in range(start, start + count):
        InvoiceReview.objects.create(
            stripe_invoice_id=f"in_q{n:04d}",
            account=AccountFactory(),
            currency="EUR",
            amount=Decimal(100 + n),
            status=InvoiceReview.Status.FLAGGED if n % 2 else InvoiceReview.Status.CLEAN,
            flags=[{"rule": "tax", "message": "x", "expected": "a", "actual": "b"}]
            if n % 2
            else [],
            flag_rules=",tax," if n % 2 else "",
            flag_count=n % 2,
            stripe_created_at=now - timedelta(hours=n),
        )


def test_the_queue_costs_the_same_queries_for_10_or_100_drafts(
    demo_logins, django_assert_max_num_queries
):
    client = finance(demo_logins)
    url = reverse("admin:billing_invoicereview_changelist")
    make_reviews(10)
    with django_assert_max_num_queries(12) as small:
        assert client.get(url).status_code == 200
    make_reviews(90, start=10)
    with django_assert_max_num_queries(len(small.captured_queries)):
        page = client.get(url).content.decode()
    # oldest first
    assert page.index("in_q0099") < page.index("in_q0000")


def test_the_queue_filters_by_flag_kind(demo_logins):
    make_reviews(6)
    page = (
        finance(demo_logins)
        .get(reverse("admin:billing_invoicereview_changelist"), {"flag": "tax"})
        .content.decode()
    )
    assert "in_q0001" in page
    assert "in_q0002" not in page
    assert "1: tax" in page


def test_the_invoice_page_approves_a_flagged_draft_with_its_justification(
    demo_logins,
):
    review = InvoiceReview.objects.create(
        stripe_invoice_id="in_page",
        currency="EUR",
        amount=Decimal("120.00"),
        status=InvoiceReview.Status.FLAGGED,
        flags=[
            {"rule": "no_contract", "message": "No active contract", "expected": "a", "actual": "b"}
        ],
        flag_rules=",no_contract,",
        flag_count=1,
    )
    client = finance(demo_logins)
    page = client.get(reverse("admin:billing_invoicereview_change", args=[review.pk]))
    html = page.content.decode()
    assert "No active contract" in html
    assert "Approve and finalize" in html

    # approving without a justification is refused, with the reason
    response = client.post(
        reverse("admin:billing_invoicereview_decide", args=[review.pk, "approve"]), {"text": ""}
    )
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.status == InvoiceReview.Status.FLAGGED

    # with one, it is approved (finalizing it is the task's, tested with the stand-in)
    client.post(
        reverse("admin:billing_invoicereview_decide", args=[review.pk, "approve"]),
        {"text": "Agreed with the customer"},
    )
    review.refresh_from_db()
    assert review.status == InvoiceReview.Status.APPROVED
    assert review.justification == "Agreed with the customer"


def test_a_draft_stamped_ahead_of_our_clock_shows_no_negative_age(demo_logins):
    InvoiceReview.objects.create(
        stripe_invoice_id="in_ahead",
        currency="EUR",
        stripe_created_at=timezone.now() + timedelta(hours=5),
    )
    page = finance(demo_logins).get(reverse("admin:billing_invoicereview_changelist"))
    assert "-5 h" not in page.content.decode()
    assert "0 h" in page.content.decode()


def test_the_invoice_page_highlights_differences_and_breaks_down_the_tax(demo_logins):
    from demo.load import demo_data_load

    demo_data_load(password=demo_logins["finance"])
    client = finance(demo_logins)

    def page(invoice_id: str) -> str:
        review = InvoiceReview.objects.get(stripe_invoice_id=invoice_id)
        return client.get(
            reverse("admin:billing_invoicereview_change", args=[review.pk])
        ).content.decode()

    def highlighted(html: str) -> list[str]:
        return re.findall(r'<td class="review-diff">([^<]*)</td>', html)

    # the seat price one euro too high: Stripe's price and amount next to the contract's
    overpriced = page("in_demo_eur_price")
    assert highlighted(overpriced)[:2] == ["21.00 EUR", "20.00 EUR"]
    # a correct draft has nothing highlighted, and its tax adds up
    correct = page("in_demo_eur_2026_03")
    assert highlighted(correct) == []
    assert "(paid 0.00 EUR of 2,975.00 EUR)" in correct
    breakdown = re.sub(r"\s+", " ", correct[correct.index("<th>rate</th>") :])
    # 19% of 2,500.00 is 475.00, on top: 2,975.00 in all; and why 19% applies
    assert "<td>VAT 19% (added)</td><td>added</td><td>standard rated</td>" in breakdown
    assert "<td>2,500.00 EUR</td><td>475.00 EUR</td>" in breakdown
    assert "<th>2,975.00 EUR</th>" in breakdown
    assert "The tax settings say: VAT 19% (added); VAT 19% excl. DE by the rule for DE" in (
        breakdown
    )
    # the wrong rate: the line's tax cells differ, the breakdown names the rate applied
    wrong_tax = page("in_demo_eur_tax")
    assert "txr_demo_reduced" in " ".join(highlighted(wrong_tax))
    # usage billed above what the product recorded
    usage = page("in_demo_usage_overbilled")
    assert highlighted(usage)[:2] == ["2300", "2000"]
    assert "storage_gb 2,000 units recorded" in usage


def test_the_queue_finds_an_invoice_by_id_customer_or_contract(demo_logins):
    from demo.load import demo_data_load

    demo_data_load(password=demo_logins["finance"])
    client = finance(demo_logins)
    url = reverse("admin:billing_invoicereview_changelist")
    review = InvoiceReview.objects.select_related("account", "contract").get(
        stripe_invoice_id="in_demo_eur_price"
    )

    def found(term: str) -> set[str]:
        page = client.get(url, {"q": term}).content.decode()
        return set(re.findall(r">(in_demo_\w+)<", page))

    assert found("in_demo_eur_price") == {"in_demo_eur_price"}
    by_customer = found(review.account.legal_name[:6].lower())
    assert "in_demo_eur_price" in by_customer
    assert "in_demo_jpy_2026_03" not in by_customer
    assert "in_demo_eur_price" in found(review.contract.number)


def _review(invoice_id, status, currency="EUR", amount="100", **fields):
    return InvoiceReview.objects.create(
        stripe_invoice_id=invoice_id,
        account=fields.pop("account", None) or AccountFactory(),
        currency=currency,
        amount=Decimal(amount),
        status=status,
        stripe_created_at=timezone.now() - timedelta(hours=1),
        **fields,
    )


def test_the_queue_opens_on_what_needs_a_decision_and_totals_it_per_currency(demo_logins):
    from datetime import date

    s = InvoiceReview.Status
    _review(
        "in_flagged",
        s.FLAGGED,
        amount="2500",
        period_start=date(2026, 3, 1),
        period_end=date(2026, 3, 31),
    )
    _review("in_clean", s.CLEAN, amount="1234.5")
    _review("in_second", s.AWAITING_SECOND, currency="JPY", amount="700000")
    for status in (s.HELD, s.APPROVED, s.FINALIZED, s.VOIDED):
        _review(f"in_{status}", status, amount="99")
    client = finance(demo_logins)
    url = reverse("admin:billing_invoicereview_changelist")

    page = client.get(url).content.decode()
    shown = set(re.findall(r">(in_\w+)<", page))
    assert shown == {"in_flagged", "in_clean", "in_second"}
    # the period and the amounts as money, right-aligned; totals per currency, never one sum
    assert "2026-03-01 to 2026-03-31" in page
    # in a style sheet: the Content-Security-Policy refuses <style> elements
    assert 'href="/static/billing/invoice_review.css"' in page
    assert (
        "th.column-amount_shown, td.field-amount_shown { text-align: right"
        in Path(finders.find("billing/invoice_review.css")).read_text()
    )
    totals = re.search(r'<table class="queue-totals".*?</table>', page, re.S).group(0)
    rows = re.findall(
        r"<td>(\w+)</td><td class=\"amount\">(\d+)</td><td class=\"amount\">(.*?)</td>", totals
    )
    assert rows == [("EUR", "2", "3,734.50 EUR"), ("JPY", "1", "700,000 JPY")]

    # every status is a click away, and a search looks through all of them
    assert set(re.findall(r">(in_\w+)<", client.get(url, {"status": "all"}).content.decode())) == {
        "in_flagged",
        "in_clean",
        "in_second",
        "in_held",
        "in_approved",
        "in_finalized",
        "in_voided",
    }
    held = client.get(url, {"status": "held"}).content.decode()
    assert set(re.findall(r">(in_\w+)<", held)) == {"in_held"}
    found = client.get(url, {"q": "in_finalized"}).content.decode()
    assert set(re.findall(r">(in_\w+)<", found)) == {"in_finalized"}


def test_the_queue_exports_what_it_shows_as_csv_safe_for_spreadsheets(demo_logins):
    import csv
    import io

    s = InvoiceReview.Status
    _review(
        "in_eur",
        s.FLAGGED,
        amount="2500",
        account=AccountFactory(legal_name='=HYPERLINK("http://x")'),
    )
    _review("in_bhd", s.CLEAN, currency="BHD", amount="50.5")
    _review("in_done", s.FINALIZED)
    client = finance(demo_logins)
    page = client.get(reverse("admin:billing_invoicereview_changelist"), {"currency": "BHD"})
    export_url = re.search(r'href="([^"]*/export/[^"]*)"', page.content.decode()).group(1)
    assert "currency=BHD" in export_url

    response = client.get(export_url.replace("&amp;", "&"))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["invoice"], r["currency"], r["amount before tax"]) for r in rows] == [
        ("in_bhd", "BHD", "50.500")
    ]

    every = client.get(reverse("admin:billing_invoicereview_export"), {"status": "all"})
    rows = {r["invoice"]: r for r in csv.DictReader(io.StringIO(every.content.decode()))}
    assert set(rows) == {"in_eur", "in_bhd", "in_done"}
    assert rows["in_eur"]["customer"] == '\'=HYPERLINK("http://x")'
    assert rows["in_eur"]["amount before tax"] == "2500.00"
