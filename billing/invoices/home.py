"""What invoice review puts on the home page (backoffice/home.py): the drafts by what they need,
and what awaits a decision in each currency. Registered in billing/apps.py."""

from collections.abc import Iterable

from django.http import HttpRequest

from backoffice.home import Figure, may_open
from billing.invoices.models import InvoiceReview
from billing.invoices.selectors import (
    AWAITING_DECISION,
    invoice_reviews_awaiting_decision_by_currency,
    invoice_reviews_by_status,
)
from billing.money import format_amount

PANEL = "Invoice review"

# The queue's own filters: `status` (one status) and `currency`; `status__in` names several.
BY_STATUS = (
    (InvoiceReview.Status.FLAGGED, "Drafts flagged"),
    (InvoiceReview.Status.CLEAN, "Drafts clean"),
    (InvoiceReview.Status.AWAITING_SECOND, "Drafts awaiting a second approver"),
    (InvoiceReview.Status.HELD, "Drafts held"),
)


def invoice_review_home_figures(request: HttpRequest) -> Iterable[Figure]:
    if not may_open(request, InvoiceReview):
        return []
    reviews = InvoiceReview.objects.all()
    by_status = invoice_reviews_by_status(reviews)
    figures = [
        Figure(PANEL, label, by_status.get(status, 0), InvoiceReview, {"status": status})
        for status, label in BY_STATUS
    ]
    awaiting = ",".join(AWAITING_DECISION)
    figures += [
        Figure(
            PANEL,
            f"Awaiting a decision in {total.currency}",
            total.drafts,
            InvoiceReview,
            {"status__in": awaiting, "currency": total.currency},
            amount=format_amount(total.amount, total.currency),
        )
        for total in invoice_reviews_awaiting_decision_by_currency(reviews)
    ]
    return figures
