"""Reviewing Stripe draft invoices against contracts: run the checks, record the result, and
keep Stripe from finalizing the draft on its own while it waits for a person."""

from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from djstripe.models import Invoice
from djstripe.utils import convert_tstamp

from billing.contracts.models import Contract
from billing.invoices.checks import (
    ContractExpectation,
    draft_from_stripe,
    invoice_flags,
    true_up_owed,
    usage_legs,
)
from billing.invoices.models import InvoiceReview
from billing.invoices.selectors import (
    approval_limit,
    contract_expectation,
    contract_in_force,
    invoices_billing_the_same_period,
    mirrored_invoice,
)
from billing.invoices.tasks import (
    account_drafts_review_task,
    invoice_hold_in_stripe_task,
    invoice_review_task,
    invoice_stripe_action_task,
    invoice_true_up_task,
)
from billing.money import format_minor, from_stripe_amount, to_stripe_amount
from billing.pricing import MINIMUM_COMMIT_KEY, day_timestamp
from billing.usage.services import stripe_meter_usage
from customers.models import Account
from stripe_sync.client import StripeApi
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type
from stripe_sync.writes import PushRefused, push_after_commit, stripe_connected, stripe_write

# Statuses a person has decided on: a new check records its flags but keeps the decision.
DECIDED = {InvoiceReview.Status.APPROVED, InvoiceReview.Status.HELD}
ENDED = {InvoiceReview.Status.FINALIZED, InvoiceReview.Status.VOIDED}


# What Stripe's meters hold: (customer id, metrics, period) -> units per metric.
MeterReader = Callable[[str, set[str], tuple[date, date]], dict[str, int]]


def stripe_meters(customer_id: str, metrics: set[str], period: tuple[date, date]) -> dict[str, int]:
    return stripe_meter_usage(
        customer_id=customer_id, metrics=metrics, period=period, api=StripeApi()
    )


@transaction.atomic
def invoice_review_run(
    *, stripe_invoice_id: str, meters: MeterReader | None = None
) -> InvoiceReview:
    """Check one mirrored invoice against its contract and record the outcome. `meters`
    reads Stripe's billing meters (by default, when a Stripe account is connected)."""
    data, lines = mirrored_invoice(stripe_invoice_id, missing_ok=False)
    draft = draft_from_stripe(data, lines)
    review, _ = InvoiceReview.objects.select_for_update().get_or_create(
        stripe_invoice_id=stripe_invoice_id
    )
    account = Account.objects.filter(stripe_customer_id=draft.customer_id).first()
    period = draft.period
    contract = contract_in_force(account, period[0]) if account and period else None
    expected = contract_expectation(contract, period) if contract and period else None
    if expected is not None and account is not None and period is not None:
        expected = _with_stripe_meters(expected, account, period, meters)
    flags = invoice_flags(
        draft,
        expected,
        other_invoices_for_period=(
            invoices_billing_the_same_period(stripe_invoice_id, expected, draft) if expected else []
        ),
    )
    review.account, review.contract = account, contract
    review.currency = draft.currency
    review.amount = from_stripe_amount(draft.subtotal, draft.currency) if draft.currency else 0
    review.period_start, review.period_end = period if period else (None, None)
    review.flags = [asdict(f) for f in flags]
    review.flag_rules = "," + ",".join(sorted({f.rule for f in flags})) + "," if flags else ""
    review.flag_count = len(flags)
    review.usage_check = [asdict(legs) for legs in usage_legs(draft, expected)] if expected else []
    review.checked_at = timezone.now()
    review.stripe_created_at = convert_tstamp(data.get("created"))
    review.finalizes_at = convert_tstamp(data.get("automatically_finalizes_at"))
    review.held_in_stripe = data.get("auto_advance") is False
    if review.status not in DECIDED | ENDED:
        review.status = InvoiceReview.Status.FLAGGED if flags else InvoiceReview.Status.CLEAN
    if data.get("status") == "void":
        review.status = InvoiceReview.Status.VOIDED
    elif data.get("status") in ("open", "paid", "uncollectible"):
        review.status = InvoiceReview.Status.FINALIZED
    auto = _auto_approvable(review)
    if auto:
        review.status = InvoiceReview.Status.APPROVED
        review.justification = auto
        review._change_reason = auto  # type: ignore[attr-defined]
    review.save()
    if auto:
        push_after_commit(invoice_stripe_action_task, review.pk, "finalize")
        return review
    if data.get("status") == "draft" and data.get("auto_advance") is not False:
        push_after_commit(invoice_hold_in_stripe_task, review.pk)
    return review


def _with_stripe_meters(
    expected: ContractExpectation,
    account: Account,
    period: tuple[date, date],
    meters: MeterReader | None,
) -> ContractExpectation:
    """The expectation with what Stripe's meters hold for its usage metrics, the third leg
    of the usage check; unchanged when Stripe cannot be asked."""
    metrics = {line.metric for line in expected.terms.lines if line.is_usage}
    customer = account.stripe_customer_id  # type: ignore[attr-defined]
    if meters is None and stripe_connected():
        meters = stripe_meters
    if not (metrics and customer and meters):
        return expected
    return replace(expected, meter_usage=meters(customer, metrics, period))


def _auto_approvable(review: InvoiceReview) -> str:
    """Why a clean draft is approved without a person (finance set a limit for its currency),
    or "" when it waits for one."""
    if review.status != InvoiceReview.Status.CLEAN or review.approved_by_id:
        return ""
    limit = approval_limit(review.currency)
    below = limit.auto_approve_below if limit else None
    if below is None or review.amount >= below:
        return ""
    return (
        f"Approved automatically: clean, and under the {review.currency} limit of {below} "
        "set for automatic approval."
    )


def invoices_written(invoices: list[dict[str, Any]]) -> None:
    """The mirror wrote these invoices (sync or webhook): review the drafts after commit.
    Subscribed to stripe_sync's invoices_mirrored in BillingConfig.ready."""
    if not settings.INVOICE_REVIEW_ON_SYNC:
        return
    for invoice in invoices:
        if invoice.get("status") == "draft":
            push_after_commit(invoice_review_task, invoice["id"])


def account_drafts_review(account_id: int) -> list[InvoiceReview]:
    """Check again every draft of one customer (its contract was approved, amended,
    terminated or renewed since the drafts were checked)."""
    customer = (
        Account.objects.filter(pk=account_id).values_list("stripe_customer_id", flat=True).first()
    )
    return drafts_review_all(stripe_customer_id=str(customer)) if customer else []


def contract_changed_drafts_review(contract: Contract) -> None:
    """A contract was approved, amended, terminated, renewed or expired: its customer's drafts
    are checked again once that commits. Subscribed to contract_changed in BillingConfig.ready."""
    account_id = contract.account_id
    transaction.on_commit(lambda: account_drafts_review_task.delay(account_id))


def drafts_review_all(*, stripe_customer_id: str = "") -> list[InvoiceReview]:
    """Check every draft invoice in the mirror, or one customer's (check_invoices, after a
    backfill, and when a contract changes)."""
    drafts = Invoice.objects.filter(stripe_data__status="draft")
    if stripe_customer_id:
        drafts = drafts.filter(stripe_data__customer=stripe_customer_id)
    ids = drafts.order_by("id").values_list("id", flat=True)
    return [invoice_review_run(stripe_invoice_id=i) for i in ids]


# --- What finance does with a draft ---------------------------------------------------------

APPROVE_INVOICE = "billing.approve_invoice"


def _locked_review(review: InvoiceReview) -> InvoiceReview:
    return (
        InvoiceReview.objects.select_related("account")
        .select_for_update(of=("self",))
        .get(pk=review.pk)
    )


def _save(review: InvoiceReview, by: Any, why: str) -> None:
    # The audit trail: who did it and why, in the review's history.
    review._change_reason = why  # type: ignore[attr-defined]
    review._history_user = by  # type: ignore[attr-defined]  # what django-simple-history reads
    review.save()


def _require(by: Any) -> None:
    if not by.has_perm(APPROVE_INVOICE):
        raise PermissionDenied("Only finance approves, holds and voids invoices.")


@transaction.atomic
def invoice_approve(*, review: InvoiceReview, by: Any, justification: str = "") -> InvoiceReview:
    """Approve a draft for finalizing. A flagged one needs a written justification; above the
    currency's limit, a second approver; never the customer's account manager."""
    review = _locked_review(review)
    _require(by)
    if review.status in (InvoiceReview.Status.APPROVED, *ENDED):
        return review  # running it again is harmless
    if review.status not in (
        InvoiceReview.Status.CLEAN,
        InvoiceReview.Status.FLAGGED,
        InvoiceReview.Status.HELD,
        InvoiceReview.Status.AWAITING_SECOND,
    ):
        raise ValidationError(
            f"Invoice {review.stripe_invoice_id} is {review.get_status_display()}."
        )
    if review.account and review.account.account_manager_id == by.pk:
        raise PermissionDenied(
            f"{by.get_username()} manages {review.account}; another person approves its invoices."
        )
    if review.flag_count and not (justification.strip() or review.justification):
        raise ValidationError(
            f"Invoice {review.stripe_invoice_id} has {review.flag_count} flag(s): approving it "
            "anyway needs a written justification."
        )
    now = timezone.now()
    limit = approval_limit(review.currency)
    needs_two = bool(
        limit
        and limit.second_approver_above is not None
        and review.amount > limit.second_approver_above
    )
    if review.status == InvoiceReview.Status.AWAITING_SECOND:
        if by.pk == review.approved_by_id:
            raise ValidationError(
                f"Invoice {review.stripe_invoice_id} needs a second approver, other than "
                f"{by.get_username()}."
            )
        review.second_approved_by, review.second_approved_at = by, now
        review.status = InvoiceReview.Status.APPROVED
    else:
        review.approved_by, review.approved_at = by, now
        review.justification = justification.strip() or review.justification
        review.status = (
            InvoiceReview.Status.AWAITING_SECOND if needs_two else InvoiceReview.Status.APPROVED
        )
    _save(review, by, justification.strip() or "approved")
    if review.status == InvoiceReview.Status.APPROVED:
        push_after_commit(invoice_stripe_action_task, review.pk, "finalize")
    return review


@transaction.atomic
def invoice_hold(*, review: InvoiceReview, by: Any, note: str) -> InvoiceReview:
    review = _locked_review(review)
    _require(by)
    if not note.strip():
        raise ValidationError("Say why the invoice is held, so the next person knows.")
    if review.status in ENDED:
        raise ValidationError(f"Invoice {review.stripe_invoice_id} is already {review.status}.")
    review.status, review.note = InvoiceReview.Status.HELD, note.strip()
    _save(review, by, f"held: {note.strip()}")
    return review


@transaction.atomic
def invoice_decision_record(*, review: InvoiceReview, by: Any, action: str, why: str) -> None:
    """Record who asked for a Stripe action (void, mark uncollectible, send) and why, and have
    a task carry it out once this commits."""
    review = _locked_review(review)
    _require(by)
    if action == "void" and not why.strip():
        raise ValidationError("Say why the invoice is voided.")
    if review.status == InvoiceReview.Status.VOIDED:
        raise ValidationError(f"Invoice {review.stripe_invoice_id} is already void.")
    review.note = why.strip() or review.note
    _save(review, by, f"{action.replace('_', ' ')}: {why.strip()}".strip(": "))

    push_after_commit(invoice_stripe_action_task, review.pk, action)


def invoice_hold_in_stripe(*, review: InvoiceReview, api: StripeApi | None = None) -> None:
    """Turn off Stripe's automatic finalization of a draft (it finalizes subscription drafts
    about an hour after creating them)."""
    stripe_write(
        api or StripeApi(),
        key=f"invoice-{review.stripe_invoice_id}-hold",
        description=f"Hold draft {review.stripe_invoice_id} for review",
        method="POST",
        path=f"/v1/invoices/{review.stripe_invoice_id}",
        params={"auto_advance": False},
        record=review,
    )
    InvoiceReview.objects.filter(pk=review.pk).update(held_in_stripe=True)


def invoice_stripe_action(
    *, review: InvoiceReview, action: str, api: StripeApi | None = None
) -> InvoiceReview:
    """finalize, void, mark_uncollectible or send, in Stripe, once; the mirror and the review
    follow what Stripe answers."""
    api = api or StripeApi()
    data = stripe_write(
        api,
        key=f"invoice-{review.stripe_invoice_id}-{action}",
        description=f"{action.replace('_', ' ').capitalize()} invoice {review.stripe_invoice_id}",
        method="POST",
        path=f"/v1/invoices/{review.stripe_invoice_id}/{action}",
        record=review,
    )
    Mirror(api).refresh(object_type("invoices"), review.stripe_invoice_id, missing_ok=False)
    status = {
        "finalize": InvoiceReview.Status.FINALIZED,
        "void": InvoiceReview.Status.VOIDED,
    }.get(action)
    if status:
        InvoiceReview.objects.filter(pk=review.pk).update(status=status)
    return InvoiceReview.objects.get(pk=review.pk) if data else review


TRUE_UP_DESCRIPTION = "Minimum commit true-up"


@transaction.atomic
def invoice_true_up_add(*, review: InvoiceReview, by: Any) -> int:
    """Finance adds to a draft the minimum-commit true-up it owes: an invoice item of exactly
    the shortfall, sent once (after commit) with the contract, its version and the period in
    its metadata, by which the checks recognise it. The amount, in minor units."""
    review = _locked_review(review)
    _require(by)
    data, lines = mirrored_invoice(review.stripe_invoice_id, missing_ok=False)
    if data.get("status") != "draft" or review.status in ENDED:
        raise ValidationError(f"Invoice {review.stripe_invoice_id} is no longer a draft.")
    draft = draft_from_stripe(data, lines)
    contract, period = review.contract, draft.period
    if contract is None or period is None:
        raise ValidationError("No contract covers this draft: there is no commit to true up.")
    owed = true_up_owed(draft, contract_expectation(contract, period))
    if owed is None:
        raise ValidationError(
            f"The draft owes no true-up: usage meets contract {contract.number}'s minimum "
            "commit for the period, or the true-up is already on it."
        )
    amount = to_stripe_amount(owed.amount, contract.currency)
    _save(review, by, f"true-up added: {format_minor(amount, contract.currency)}")
    push_after_commit(
        invoice_true_up_task, review.pk, amount, owed.start.isoformat(), owed.end.isoformat()
    )
    return amount


def invoice_true_up_push(
    *, review: InvoiceReview, amount: int, start: date, end: date, api: StripeApi | None = None
) -> None:
    """Send the true-up item to the draft, once per contract version and period; the mirror
    and the review follow."""
    api = api or StripeApi()
    if review.contract_id is None:
        raise PushRefused(f"Invoice {review.stripe_invoice_id} has no contract to true up.")
    contract = Contract.objects.select_related("account").get(pk=review.contract_id)
    customer = contract.account.stripe_customer_id  # type: ignore[attr-defined]
    stripe_write(
        api,
        key=f"true-up-{contract.number}-v{contract.version}-{start}",
        description=f"{TRUE_UP_DESCRIPTION} of {contract.number} for {start} to {end}",
        method="POST",
        path="/v1/invoiceitems",
        params={
            "customer": customer,
            "invoice": review.stripe_invoice_id,
            "amount": amount,
            "currency": contract.currency.lower(),
            "description": f"{TRUE_UP_DESCRIPTION}, {start} to {end}",
            "period": {
                "start": day_timestamp(start),
                "end": day_timestamp(end + timedelta(days=1)),
            },
            "metadata": {
                "contract_line": MINIMUM_COMMIT_KEY,
                "contract": contract.number,
                "contract_version": str(contract.version),
                "period_start": start.isoformat(),
                "period_end": end.isoformat(),
            },
        },
        record=review,
    )
    Mirror(api).refresh(object_type("invoices"), review.stripe_invoice_id, missing_ok=False)
    invoice_review_run(stripe_invoice_id=review.stripe_invoice_id)
