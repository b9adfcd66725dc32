"""Credit notes: what is refused before anything reaches Stripe, and who may approve."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from djmoney.money import Money
from djstripe.models import Invoice

from backoffice.roles import FINANCE
from billing.invoices.credit_notes import (
    credit_note_approve,
    credit_note_preview,
    credit_note_request,
)
from billing.invoices.models import CreditNote, InvoiceApprovalLimit, InvoiceReview
from billing.invoices.services import invoice_review_run
from billing.invoices.tests.test_review import mirror_draft, pushed_contract  # noqa: F401
from customers.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def finance_user(name):
    user = UserFactory(username=name)
    user.groups.add(Group.objects.get(name=FINANCE))
    return user


@pytest.fixture
def march(pushed_contract):  # noqa: F811
    """March's invoice of 100 seats at 20.00 (2,000.00 EUR), reviewed."""
    mirror_draft(pushed_contract, "in_march")
    return invoice_review_run(stripe_invoice_id="in_march")


def finalize(review: InvoiceReview) -> None:
    invoice = Invoice.objects.get(id=review.stripe_invoice_id)
    invoice.stripe_data["status"] = "open"
    invoice.save()


WHY = {"reason": "order_change", "memo": "Ten seats never used"}


def test_a_draft_is_not_credited_and_a_line_not_beyond_what_is_left(march):
    with pytest.raises(ValidationError, match="only on finalized invoices"):
        credit_note_preview(review=march, amounts={"il_in_march": Decimal("10")}, **WHY)
    finalize(march)
    preview = credit_note_preview(review=march, amounts={"il_in_march": Decimal("200.00")}, **WHY)
    assert preview.amount == 20000

    fiona = finance_user("fin-cn")
    credit_note_request(review=march, by=fiona, amounts={"il_in_march": Decimal("1500")}, **WHY)
    with pytest.raises(ValidationError, match=r"1,500.00 EUR is credited already, so at most"):
        credit_note_request(review=march, by=fiona, amounts={"il_in_march": Decimal("600")}, **WHY)
    with pytest.raises(ValidationError, match="too many decimals"):
        credit_note_preview(review=march, amounts={"il_in_march": Decimal("1.005")}, **WHY)
    with pytest.raises(ValidationError, match="no line il_other"):
        credit_note_preview(review=march, amounts={"il_other": Decimal("1")}, **WHY)
    with pytest.raises(ValidationError, match="Say why"):
        credit_note_preview(
            review=march, amounts={"il_in_march": Decimal("1")}, reason="order_change", memo=" "
        )


def test_above_the_limit_another_finance_person_approves_never_the_accounts_manager(march):
    finalize(march)
    InvoiceApprovalLimit.objects.create(currency="EUR", second_approver_above=Decimal("100"))
    first, second = finance_user("fin-cn-1"), finance_user("fin-cn-2")
    note = credit_note_request(
        review=march, by=first, amounts={"il_in_march": Decimal("150")}, **WHY
    )
    assert note.status == CreditNote.Status.AWAITING_SECOND
    with pytest.raises(ValidationError, match="other than fin-cn-1"):
        credit_note_approve(note=note, by=first)
    assert credit_note_approve(note=note, by=second).status == CreditNote.Status.APPROVED
    assert note.history.first().history_user == second

    manager = march.account.account_manager
    manager.groups.add(Group.objects.get(name=FINANCE))
    with pytest.raises(PermissionDenied, match="another person credits its invoices"):
        credit_note_request(review=march, by=manager, amounts={"il_in_march": Decimal("1")}, **WHY)


def test_hostile_amounts_on_the_invoice_page_are_refused_with_the_reason(march, client):
    finalize(march)
    client.force_login(finance_user("fin-cn-page"))
    url = reverse("admin:billing_invoicereview_decide", args=[march.pk, "credit_note"])
    refusals = {
        "abc": "'abc' is not an amount.",
        "NaN": "'NaN' is not an amount.",
        "Infinity": "'Infinity' is not an amount.",
        "-1": "'Seats': a credit is a positive amount.",
        "1e400": "is not an amount this back-office can hold",
    }
    for amount, says in refusals.items():
        form = {"credit-il_in_march": amount, "reason": "order_change", "memo": "x", "issue": "1"}
        response = client.post(url, form, follow=True)
        assert response.status_code == 200, amount
        shown = " ".join(str(m) for m in response.context["messages"])
        assert says in shown, (amount, shown)
    assert not CreditNote.objects.exists()


def test_approving_a_credit_note_that_is_not_there_is_refused_not_an_error(march, client):
    client.force_login(finance_user("fin-cn-none"))
    url = reverse("admin:billing_invoicereview_decide", args=[march.pk, "credit_approve"])
    response = client.post(url, {"note": "abc"}, follow=True)
    assert "No credit note 'abc' on this invoice." in [str(m) for m in response.context["messages"]]
    assert client.post(url, {"note": "999999"}).status_code == 404


def test_a_taxed_line_is_credited_with_its_share_of_the_tax_up_to_the_invoices_total(march):
    from djstripe.models import LineItem

    finalize(march)
    invoice = Invoice.objects.get(id=march.stripe_invoice_id)
    invoice.stripe_data["total"] = 238000  # 2,000.00 and 19% VAT
    invoice.save()
    line = LineItem.objects.get(id="il_in_march")
    line.stripe_data["taxes"] = [
        {
            "amount": 38000,
            "tax_behavior": "exclusive",
            "tax_rate_details": {"tax_rate": "txr_vat19"},
            "taxability_reason": "standard_rated",
            "taxable_amount": 200000,
            "type": "tax_rate_details",
        }
    ]
    line.save()
    preview = credit_note_preview(review=march, amounts={"il_in_march": Decimal("100.01")}, **WHY)
    assert (preview.amount, preview.tax, preview.total) == (10001, 1900, 11901)

    fiona = finance_user("fin-cn-tax")
    note = credit_note_request(
        review=march, by=fiona, amounts={"il_in_march": Decimal("1999.99")}, **WHY
    )
    assert (note.amount, note.total) == (Money("1999.99", "EUR"), Money("2379.99", "EUR"))
    # the last cent of the line brings the tax credited to the line's 380.00 exactly
    last = credit_note_preview(review=march, amounts={"il_in_march": Decimal("0.01")}, **WHY)
    assert (last.tax, last.credited_before + last.total) == (0, 238000)
    # an invoice whose total is less than its lines (a customer balance): the total bounds it
    invoice.stripe_data["total"] = 237000
    invoice.save()
    with pytest.raises(ValidationError, match=r"at most 0.00 EUR can be credited, tax included"):
        credit_note_preview(review=march, amounts={"il_in_march": Decimal("0.01")}, **WHY)


def test_on_a_finalized_invoice_no_destructive_decision_is_the_default_button(march, client):
    finalize(march)
    client.force_login(finance_user("fin-cn-default"))
    page = client.get(reverse("admin:billing_invoicereview_change", args=[march.pk]))
    html = page.content.decode()
    assert 'value="Void"' in html
    assert 'value="Void" class="default"' not in html
    assert 'class="default"' not in html.split("<h2>Decide</h2>")[1].split("</div>")[0]
