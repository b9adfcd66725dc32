"""Credit notes on finalized invoices: preview, ask (with a reason and lines), a second
approver above the currency's limit, issued in Stripe once, and what Stripe answered kept.

Stripe credits only finalized invoices (open, paid or uncollectible), never more than a line
billed nor more than the invoice's total, counting earlier credit notes; these rules are
checked here first, so finance reads the refusal before anything is sent.

Credit notes made in Stripe itself (the Dashboard, the API, a refund on a paid invoice) reach
us through the mirror (`credit_notes_seen`): they are recorded beside ours and count in what
is left to credit; a credit note voided in Stripe stops counting.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from djstripe.utils import convert_tstamp

from backoffice.history import history_save
from billing.invoices.checks import line_tax
from billing.invoices.models import CreditNote, InvoiceReview
from billing.invoices.selectors import approval_limit, mirrored_invoice
from billing.invoices.services import APPROVE_INVOICE
from billing.invoices.tasks import credit_note_issue_task
from billing.money import (
    ROUNDING,
    as_money,
    format_minor,
    from_stripe_amount,
    to_stripe_amount,
    validate_chargeable,
)
from customers.models import Account
from stripe_sync.client import StripeApi
from stripe_sync.hooks import StripeObjects
from stripe_sync.mirror import Mirror, read_stamp
from stripe_sync.object_types import object_type, stripe_id_of
from stripe_sync.writes import PushRefused, found_by_metadata, push_after_commit, stripe_write

CREDITABLE = ("open", "paid", "uncollectible")
# Credit notes that take from what is left to credit (a refused or voided one took nothing).
TAKING = (CreditNote.Status.AWAITING_SECOND, CreditNote.Status.APPROVED, CreditNote.Status.ISSUED)


def credit_notes_of(stripe_invoice_id: str) -> Any:
    """Every credit note on an invoice, ours and those made in Stripe, newest first."""
    return CreditNote.objects.filter(stripe_invoice_id=stripe_invoice_id)


@dataclass(frozen=True)
class CreditLine:
    invoice_line_item: str
    description: str
    billed: int  # minor units, before tax
    credited_before: int
    amount: int  # credited by this note, before tax
    billed_tax: int = 0  # the tax the line added (exclusive rates; inclusive is inside)

    @property
    def tax(self) -> int:
        """The tax credited with the amount: the line's share, as Stripe credits it (the
        whole line credits its whole tax)."""
        if not self.amount or not self.billed:
            return 0
        share = Decimal(self.billed_tax) * self.amount / self.billed
        return int(share.quantize(Decimal(1), rounding=ROUNDING))


@dataclass(frozen=True)
class CreditNotePreview:
    currency: str
    lines: tuple[CreditLine, ...]
    invoice_total: int
    credited_before: int

    @property
    def amount(self) -> int:
        """Before tax."""
        return sum(line.amount for line in self.lines)

    @property
    def tax(self) -> int:
        return sum(line.tax for line in self.lines)

    @property
    def total(self) -> int:
        """What it takes from the invoice: the amount and its tax."""
        return self.amount + self.tax

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
    for note in credit_notes_of(review.stripe_invoice_id).filter(status__in=TAKING):
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
            _exclusive_tax(line),
        )
        for line in lines
        if int(line.get("amount") or 0) > 0
    ]


def _exclusive_tax(line: dict[str, Any]) -> int:
    """The tax a line adds on top of its amount (Stripe's `taxes`, and `tax_amounts` of the
    API versions before them)."""
    taxes = [line_tax(t) for t in line.get("taxes") or [] if isinstance(t, dict)]
    if taxes:
        return sum(t.amount for t in taxes if not t.inclusive)
    return sum(
        int(t.get("amount") or 0)
        for t in line.get("tax_amounts") or []
        if isinstance(t, dict) and not t.get("inclusive")
    )


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
            validate_chargeable(asked, currency)
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
        lines.append(replace(line, amount=minor))
    unknown = set(k for k, v in amounts.items() if v) - {line.invoice_line_item for line in lines}
    if unknown:
        raise ValidationError(
            f"Invoice {review.stripe_invoice_id} has no line {sorted(unknown)[0]}."
        )
    if not lines:
        raise ValidationError("Give the amount to credit on at least one line.")
    credited = sum(
        _credited_minor(n)
        for n in credit_notes_of(review.stripe_invoice_id).filter(status__in=TAKING)
    )
    total = int(data.get("total") or 0)
    preview = CreditNotePreview(currency, tuple(lines), total, credited)
    if credited + preview.total > total:
        raise ValidationError(
            f"The invoice's total is {format_minor(total, currency)} and "
            f"{format_minor(credited, currency)} is credited already: at most "
            f"{format_minor(max(0, total - credited), currency)} can be credited, tax included "
            f"({format_minor(preview.total, currency)} asked)."
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
    amount = as_money(from_stripe_amount(preview.amount, preview.currency), preview.currency)
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
        total=from_stripe_amount(preview.total, preview.currency),  # Stripe's figure replaces it
        reason=reason,
        memo=memo.strip(),
        lines=[
            {
                "invoice_line_item": x.invoice_line_item,
                "description": x.description,
                "amount": x.amount,
                "tax": x.tax,
            }
            for x in preview.lines
        ],
        status=CreditNote.Status.AWAITING_SECOND if needs_two else CreditNote.Status.APPROVED,
        requested_by=by,
    )
    history_save(note, by=by, why=f"asked: {memo.strip()}")
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
    history_save(note, by=by, why="second approval")
    push_after_commit(credit_note_issue_task, note.pk)
    return note


def credit_note_issue(*, note: CreditNote, api: StripeApi | None = None) -> CreditNote:
    """Issue the approved credit note in Stripe, once (its key is our record's), and keep what
    Stripe answered."""
    api = api or StripeApi()
    if note.status != CreditNote.Status.APPROVED:
        return note
    # Stamped before asking: a webhook of the same credit note is then newer, or a tie that
    # the mirror settles by reading it again.
    observed_at = read_stamp()
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
                "metadata": {METADATA_KEY: str(note.pk)},
            },
            record=note,
            find=found_by_metadata(
                api,
                "/v1/credit_notes",
                {METADATA_KEY: str(note.pk)},
                invoice=note.stripe_invoice_id,
            ),
        )
    except PushRefused:
        # Stripe's message is on the write; the note takes nothing from what is left to credit.
        CreditNote.objects.filter(pk=note.pk).update(status=CreditNote.Status.REFUSED)
        raise
    data = answer if "object" in answer else api.get(f"/v1/credit_notes/{answer['id']}")
    # Through the mirror, as a webhook would come: what Stripe answered is recorded once,
    # and never over a newer state (voided meanwhile).
    Mirror(api).write(object_type("credit_notes"), [data], observed_at=observed_at)
    return CreditNote.objects.get(pk=note.pk)


# Our own credit notes carry their record's id, so that a webhook arriving before the issuing
# task has recorded Stripe's answer still finds them.
METADATA_KEY = "backoffice_credit_note"
_STRIPE_STATUS = {"issued": CreditNote.Status.ISSUED, "void": CreditNote.Status.VOIDED}


def _credited_minor(note: CreditNote) -> int:
    """What a credit note takes from the invoice's total: Stripe's own figure once issued
    (with tax), the amount asked for until then."""
    total = note.stripe_data.get("total") if note.stripe_data else None
    if isinstance(total, int) and not isinstance(total, bool):
        return total
    return sum(int(line["amount"]) + int(line.get("tax") or 0) for line in note.lines)


@transaction.atomic
def credit_notes_seen(objects: StripeObjects) -> None:
    """Credit notes as Stripe holds them now (the mirror hands over only states newer than
    the last one seen): ours get Stripe's number, status and figures; one made in Stripe
    itself is recorded, on its invoice's review and account when we have them."""
    for data in objects:
        _credit_note_from_stripe(data)


def _credit_note_from_stripe(data: dict[str, Any]) -> CreditNote:
    stripe_id = str(data["id"])
    invoice_id = str(stripe_id_of(data.get("invoice")) or "")
    currency = str(data.get("currency") or "").upper()
    status = _STRIPE_STATUS.get(str(data.get("status")))
    if status is None or not invoice_id:
        raise ValueError(
            f"Credit note {stripe_id}: status {data.get('status')!r} on invoice "
            f"{invoice_id or 'none'} is not one Stripe gives a credit note."
        )
    notes = CreditNote.objects.select_for_update()
    note = notes.filter(stripe_credit_note_id=stripe_id).first()
    ours = str((data.get("metadata") or {}).get(METADATA_KEY) or "")
    if note is None and ours.isdigit():
        note = notes.filter(
            pk=int(ours), stripe_invoice_id=invoice_id, stripe_credit_note_id=""
        ).first()
    before = note.status if note else None
    if note is None:
        review = InvoiceReview.objects.filter(stripe_invoice_id=invoice_id).first()
        customer = str(stripe_id_of(data.get("customer")) or "")
        note = CreditNote(
            source=CreditNote.Source.STRIPE,
            review=review,
            account=review.account
            if review and review.account_id
            else Account.objects.filter(stripe_customer_id=customer).first(),
            stripe_invoice_id=invoice_id,
            currency=currency,
            amount=from_stripe_amount(
                _minor(data, "subtotal_excluding_tax", fallback="subtotal"), currency
            ),
            reason=str(data.get("reason") or "")
            if data.get("reason") in CreditNote.Reason.values
            else "",
            memo=str(data.get("memo") or ""),
            lines=[
                {
                    "invoice_line_item": str(line.get("invoice_line_item") or ""),
                    "description": str(line.get("description") or ""),
                    "amount": int(line.get("amount") or 0),
                }
                for line in (data.get("lines") or {}).get("data") or []
                if isinstance(line, dict)
            ],
        )
    note.stripe_credit_note_id = stripe_id
    note.number = str(data.get("number") or "")
    note.status = status
    note.total = from_stripe_amount(_minor(data, "total"), currency)
    note.issued_at = convert_tstamp(data.get("created")) or note.issued_at or timezone.now()
    note.stripe_data = data
    if before == status:
        why = "updated in Stripe"
    elif status == CreditNote.Status.VOIDED:
        why = "voided in Stripe"
    elif note.source == CreditNote.Source.STRIPE and before is None:
        why = "made in Stripe"
    else:
        why = "issued in Stripe"
    history_save(note, by=None, why=f"{why}: {note.number or stripe_id}")
    return note


def _minor(data: dict[str, Any], field: str, *, fallback: str = "") -> int:
    value = data.get(field)
    if value is None and fallback:
        field, value = fallback, data.get(fallback)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"Credit note {data.get('id')}: {field} {value!r} is not an amount.")
    return value
