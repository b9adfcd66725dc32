"""Credit notes on finalized invoices: preview, ask (with a reason and lines), a second
approver above the currency's limit, issued in Stripe once, and what Stripe answered kept.

Stripe credits only finalized invoices (open, paid or uncollectible), never more than a line
billed nor more than the invoice's total, counting earlier credit notes; these rules are
checked here first, so finance reads the refusal before anything is sent.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from billing.invoices.models import CreditNote, InvoiceReview
from billing.invoices.selectors import approval_limit, mirrored_invoice
from billing.invoices.services import APPROVE_INVOICE
from billing.invoices.tasks import credit_note_issue_task
from billing.money import format_minor, from_stripe_amount, to_stripe_amount
from stripe_sync.client import StripeApi
from stripe_sync.writes import PushRefused, push_after_commit, stripe_write

CREDITABLE = ("open", "paid", "uncollectible")
# Credit notes that take from what is left to credit (a refused one took nothing).
TAKING = (CreditNote.Status.AWAITING_SECOND, CreditNote.Status.APPROVED, CreditNote.Status.ISSUED)


@dataclass(frozen=True)
class CreditLine:
    invoice_line_item: str
    description: str
    billed: int  # minor units
    credited_before: int
    amount: int  # credited by this note


@dataclass(frozen=True)
class CreditNotePreview:
    currency: str
    lines: tuple[CreditLine, ...]
    invoice_total: int
    credited_before: int

    @property
    def amount(self) -> int:
        return sum(line.amount for line in self.lines)

    def money(self, minor: int) -> str:
        return format_minor(minor, self.currency)


def creditable_lines(
    review: InvoiceReview, lines: list[dict[str, Any]] | None = None
) -> list[CreditLine]:
    """The invoice's lines (as the mirror holds them, unless given) with what earlier credit
    notes took from each (for the form)."""
    if lines is None:
        _, lines = mirrored_invoice(review.stripe_invoice_id)
    taken: dict[str, int] = {}
    for note in review.credit_notes.filter(status__in=TAKING):
        for line in note.lines:
            key = line["invoice_line_item"]
            taken[key] = taken.get(key, 0) + int(line["amount"])
    return [
        CreditLine(
            str(line["id"]),
            str(line.get("description") or line["id"]),
            int(line.get("amount") or 0),
            taken.get(str(line["id"]), 0),
            0,
        )
        for line in lines
        if int(line.get("amount") or 0) > 0
    ]


def credit_note_preview(
    *, review: InvoiceReview, amounts: Mapping[str, Decimal], reason: str, memo: str
) -> CreditNotePreview:
    """What the credit note would be, checked as Stripe checks it; nothing is written.
    `amounts`: invoice line id -> amount to credit, in the currency's units (100.00 EUR)."""
    data, _ = mirrored_invoice(review.stripe_invoice_id, missing_ok=False)
    status, currency = str(data.get("status") or ""), str(data.get("currency") or "").upper()
    if status not in CREDITABLE:
        raise ValidationError(
            f"Invoice {review.stripe_invoice_id} is {status or 'unknown'}: Stripe issues credit "
            "notes only on finalized invoices (open, paid or uncollectible)."
        )
    if reason not in CreditNote.Reason.values:
        raise ValidationError(
            f"Choose the reason for the credit note ({reason or 'none'} is not one)."
        )
    if not memo.strip():
        raise ValidationError("Say why the customer is credited: it is printed on the credit note.")
    lines = []
    for line in creditable_lines(review):
        asked = amounts.get(line.invoice_line_item)
        if not asked:
            continue
        if not asked.is_finite():
            raise ValidationError(f"'{line.description}': {asked} is not an amount.")
        if asked < 0:
            raise ValidationError(f"'{line.description}': a credit is a positive amount.")
        try:
            minor = to_stripe_amount(asked, currency)
        except ValidationError as error:
            raise ValidationError(f"'{line.description}': {' '.join(error.messages)}") from None
        left = line.billed - line.credited_before
        if minor > left:
            raise ValidationError(
                f"'{line.description}' billed {format_minor(line.billed, currency)}; "
                f"{format_minor(line.credited_before, currency)} is credited already, so at most "
                f"{format_minor(left, currency)} can be: {format_minor(minor, currency)} asked."
            )
        lines.append(
            CreditLine(
                line.invoice_line_item, line.description, line.billed, line.credited_before, minor
            )
        )
    unknown = set(k for k, v in amounts.items() if v) - {line.invoice_line_item for line in lines}
    if unknown:
        raise ValidationError(
            f"Invoice {review.stripe_invoice_id} has no line {sorted(unknown)[0]}."
        )
    if not lines:
        raise ValidationError("Give the amount to credit on at least one line.")
    credited = sum(
        to_stripe_amount(n.amount, currency) for n in review.credit_notes.filter(status__in=TAKING)
    )
    total = int(data.get("total") or 0)
    preview = CreditNotePreview(currency, tuple(lines), total, credited)
    if credited + preview.amount > total:
        raise ValidationError(
            f"The invoice's total is {format_minor(total, currency)} and "
            f"{format_minor(credited, currency)} is credited already: at most "
            f"{format_minor(total - credited, currency)} can be credited."
        )
    return preview


@transaction.atomic
def credit_note_request(
    *,
    review: InvoiceReview,
    by: Any,
    amounts: Mapping[str, Decimal],
    reason: str,
    memo: str,
) -> CreditNote:
    """Finance asks for a credit note. Never the account's manager; above the currency's
    second-approver limit it waits for another person; otherwise it is issued in Stripe once
    this commits."""
    if not by.has_perm(APPROVE_INVOICE):
        raise PermissionDenied("Only finance issues credit notes.")
    review = (
        InvoiceReview.objects.select_for_update(of=("self",))
        .select_related("account")
        .get(pk=review.pk)
    )
    if review.account and review.account.account_manager_id == by.pk:
        raise PermissionDenied(
            f"{by.get_username()} manages {review.account}; another person credits its invoices."
        )
    preview = credit_note_preview(review=review, amounts=amounts, reason=reason, memo=memo)
    amount = from_stripe_amount(preview.amount, preview.currency)
    limit = approval_limit(preview.currency)
    needs_two = bool(
        limit and limit.second_approver_above is not None and amount > limit.second_approver_above
    )
    note = CreditNote(
        review=review,
        account=review.account,
        stripe_invoice_id=review.stripe_invoice_id,
        currency=preview.currency,
        amount=amount,
        reason=reason,
        memo=memo.strip(),
        lines=[
            {
                "invoice_line_item": x.invoice_line_item,
                "description": x.description,
                "amount": x.amount,
            }
            for x in preview.lines
        ],
        status=CreditNote.Status.AWAITING_SECOND if needs_two else CreditNote.Status.APPROVED,
        requested_by=by,
    )
    note._change_reason = f"asked: {memo.strip()}"  # type: ignore[attr-defined]
    note._history_user = by  # type: ignore[attr-defined]
    note.save()
    if not needs_two:
        push_after_commit(credit_note_issue_task, note.pk)
    return note


@transaction.atomic
def credit_note_approve(*, note: CreditNote, by: Any) -> CreditNote:
    """The second approver of a credit note above the limit: another finance person."""
    if not by.has_perm(APPROVE_INVOICE):
        raise PermissionDenied("Only finance approves credit notes.")
    note = (
        CreditNote.objects.select_for_update(of=("self",)).select_related("account").get(pk=note.pk)
    )
    if note.status != CreditNote.Status.AWAITING_SECOND:
        return note  # approved already: running it again is harmless
    if by.pk == note.requested_by_id:
        raise ValidationError(
            f"The credit note needs a second approver, other than {by.get_username()}."
        )
    if note.account and note.account.account_manager_id == by.pk:
        raise PermissionDenied(f"{by.get_username()} manages {note.account}.")
    note.status = CreditNote.Status.APPROVED
    note.second_approved_by, note.second_approved_at = by, timezone.now()
    note._change_reason = "second approval"  # type: ignore[attr-defined]
    note._history_user = by  # type: ignore[attr-defined]
    note.save()
    push_after_commit(credit_note_issue_task, note.pk)
    return note


def credit_note_issue(*, note: CreditNote, api: StripeApi | None = None) -> CreditNote:
    """Issue the approved credit note in Stripe, once (its key is our record's), and keep what
    Stripe answered."""
    api = api or StripeApi()
    if note.status != CreditNote.Status.APPROVED:
        return note
    try:
        answer = stripe_write(
            api,
            key=f"credit-note-{note.pk}",
            description=f"Credit note of {note.amount_money} on {note.stripe_invoice_id}",
            method="POST",
            path="/v1/credit_notes",
            params={
                "invoice": note.stripe_invoice_id,
                "lines": [
                    {
                        "type": "invoice_line_item",
                        "invoice_line_item": line["invoice_line_item"],
                        "amount": line["amount"],
                    }
                    for line in note.lines
                ],
                "reason": note.reason,
                "memo": note.memo,
                "metadata": {"backoffice_credit_note": str(note.pk)},
            },
            record=note,
        )
    except PushRefused:
        # Stripe's message is on the write; the note takes nothing from what is left to credit.
        CreditNote.objects.filter(pk=note.pk).update(status=CreditNote.Status.REFUSED)
        raise
    data = answer if "object" in answer else api.get(f"/v1/credit_notes/{answer['id']}")
    CreditNote.objects.filter(pk=note.pk).update(
        status=CreditNote.Status.ISSUED,
        stripe_credit_note_id=str(data["id"]),
        number=str(data.get("number") or ""),
        issued_at=timezone.now(),
        stripe_data=data,
    )
    return CreditNote.objects.get(pk=note.pk)
