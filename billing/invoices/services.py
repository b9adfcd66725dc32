"""Reviewing Stripe draft invoices against contracts: run the checks, record the result, and
keep Stripe from finalizing the draft on its own while it waits for a person."""

from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import date, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from djstripe.models import Invoice
from djstripe.utils import convert_tstamp

from backoffice.history import AUTO_APPROVAL, history_save, system_user
from billing.contracts.models import Contract
from billing.invoices.checks import (
    ContractExpectation,
    DraftInvoice,
    LinePair,
    charge_minor,
    draft_from_stripe,
    invoice_flags,
    line_pairs,
    main_expectation,
    true_up_owed,
    usage_legs,
    usage_periods,
)
from billing.invoices.models import InvoiceReview
from billing.invoices.selectors import (
    approval_limit,
    invoice_expectations,
    invoices_billing_the_same_period,
    mirrored_invoice,
    tax_rate_percentages,
)
from billing.invoices.tasks import (
    account_drafts_review_task,
    invoice_correction_task,
    invoice_custom_fields_task,
    invoice_hold_in_stripe_task,
    invoice_payment_methods_task,
    invoice_review_task,
    invoice_stripe_action_task,
    invoice_true_up_task,
)
from billing.money import (
    format_minor,
    from_stripe_amount,
    to_stripe_charge,
    to_stripe_charge_minor,
)
from billing.pricing import LATE_USAGE_KEY, MINIMUM_COMMIT_KEY, day_timestamp
from billing.usage.services import stripe_meter_usage
from customers.models import Account
from stripe_sync.client import StripeApi
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type
from stripe_sync.outbox import enqueue
from stripe_sync.writes import (
    PushRefused,
    params_digest,
    push_after_commit,
    stripe_connected,
    stripe_write,
)

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
    expected = _with_stripe_meters(draft, invoice_expectations(account, draft), account, meters)
    main = main_expectation(draft, expected)
    contract = Contract.objects.get(pk=main.contract_id) if main and main.contract_id else None
    flags = invoice_flags(
        draft,
        expected,
        other_invoices_for_period=(
            invoices_billing_the_same_period(stripe_invoice_id, draft) if expected else []
        ),
        rate_percentages=tax_rate_percentages(draft),
    )
    review.account, review.contract = account, contract
    review.currency = draft.currency
    review.amount = from_stripe_amount(draft.subtotal, draft.currency) if draft.currency else 0
    review.period_start, review.period_end = period if period else (None, None)
    review.flags = [asdict(f) for f in flags]
    review.flag_rules = "," + ",".join(sorted({f.rule for f in flags})) + "," if flags else ""
    review.flag_count = len(flags)
    review.usage_check = [asdict(legs) for legs in usage_legs(draft, expected)]
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
        # The rule approved it, not a person: its actor signs the history.
        history_save(review, by=system_user(AUTO_APPROVAL), why=auto)
    else:
        review.save()
    if auto:
        # Finalizing sets the account's payment methods first (invoice_stripe_action).
        push_after_commit(invoice_stripe_action_task, review.pk, "finalize")
        return review
    if data.get("status") == "draft" and data.get("auto_advance") is not False:
        push_after_commit(invoice_hold_in_stripe_task, review.pk)
    if data.get("status") == "draft" and _payment_methods_differ(data, account):
        push_after_commit(invoice_payment_methods_task, review.pk)
    return review


def _payment_methods_differ(data: dict[str, Any], account: Account | None) -> bool:
    held = (data.get("payment_settings") or {}).get("payment_method_types") or []
    return account is not None and list(held) != invoice_payment_method_types(account)


def invoice_payment_method_types(account: Account) -> list[str]:
    """What the account's invoices accept: its accepted payment methods, as Stripe's
    payment_method_types (checked against its country and currencies when they were set)."""
    return list(account.accepted_payment_methods)


def invoice_payment_methods_push(
    *, review: InvoiceReview, api: StripeApi | None = None
) -> list[str]:
    """Set the draft's payment_settings.payment_method_types to the account's accepted
    methods, once per set of methods (the key carries them); the types sent."""
    review = InvoiceReview.objects.select_related("account").get(pk=review.pk)
    if review.account is None or review.status in ENDED:
        return []
    types = invoice_payment_method_types(review.account)
    params = {"payment_settings": {"payment_method_types": types or ""}}
    # The account's last change is in the key too: methods changed back (A, B, A) are sent
    # again, and a retry of this write sends it under the same key.
    changed = int(review.account.updated_at.timestamp() * 1_000_000)  # microseconds
    stripe_write(
        api or StripeApi(),
        key=f"invoice-{review.stripe_invoice_id}-payment-methods-{params_digest(params)}-{changed}",
        description=f"Payment methods of draft {review.stripe_invoice_id}: "
        + (", ".join(types) or "Stripe's choice"),
        method="POST",
        path=f"/v1/invoices/{review.stripe_invoice_id}",
        params=params,
        record=review,
    )
    return types


def _with_stripe_meters(
    draft: DraftInvoice,
    expected: list[ContractExpectation],
    account: Account | None,
    meters: MeterReader | None,
) -> list[ContractExpectation]:
    """The expectations with what Stripe's meters hold for each usage period the draft
    bills, the third leg of the usage check; unchanged when Stripe cannot be asked."""
    customer = account.stripe_customer_id if account else ""  # type: ignore[attr-defined]
    if meters is None and stripe_connected():
        meters = stripe_meters
    if not (customer and meters):
        return expected
    held: dict[int, dict[tuple[date, date], dict[str, int]]] = {}
    for version, period in usage_periods(draft, expected):
        metrics = {line.metric for line in version.terms.lines if line.is_usage}
        if metrics:
            held.setdefault(id(version), {})[period] = meters(customer, metrics, period)
    return [replace(e, meter_usage=held[id(e)]) if id(e) in held else e for e in expected]


def _auto_approvable(review: InvoiceReview) -> str:
    """Why a clean draft is approved without a person (finance set a limit for its currency),
    or "" when it waits for one."""
    if review.status != InvoiceReview.Status.CLEAN or review.approved_by_id:
        return ""
    limit = approval_limit(review.currency)
    below = limit.auto_approve_below if limit else None
    if below is None or review.amount >= below:  # Money of one currency: the review's
        return ""
    return (
        f"Approved automatically: clean, and under the limit of {below} set for automatic approval."
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
    enqueue(account_drafts_review_task, account_id)


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
    history_save(review, by=by, why=why)


def _require(by: Any) -> None:
    if not by.has_perm(APPROVE_INVOICE):
        raise PermissionDenied("Only finance approves, holds and voids invoices.")


# What Stripe allows for an invoice in each of its statuses
# (https://docs.stripe.com/invoicing/overview#invoice-statuses): a draft is changed, finalized
# or sent (which finalizes it); only a finalized invoice is voided, and only an open one marked
# uncollectible; credit notes are issued on finalized invoices that are not void.
STRIPE_ALLOWS = {
    "draft": {"approve", "hold", "send", "recheck", "true_up", "edit"},
    "open": {"void", "mark_uncollectible", "send", "recheck", "credit_note"},
    "uncollectible": {"void", "recheck", "credit_note"},
    "paid": {"recheck", "credit_note"},
    "void": {"recheck"},
}
STATUS_WORDS = {
    "draft": "a draft (not finalized yet)",
    "open": "open (finalized, awaiting payment)",
    "uncollectible": "marked uncollectible",
    "paid": "paid",
    "void": "void",
}


def stripe_status(review: InvoiceReview) -> str:
    """The invoice's status in Stripe, as the mirror last saw it."""
    data, _ = mirrored_invoice(review.stripe_invoice_id)
    return str(data.get("status") or "draft")


def invoice_actions_allowed(review: InvoiceReview, status: str | None = None) -> set[str]:
    """The decisions Stripe allows for the invoice now."""
    return STRIPE_ALLOWS.get(status or stripe_status(review), set())


def _require_allowed(review: InvoiceReview, action: str) -> None:
    status = stripe_status(review)
    if action not in invoice_actions_allowed(review, status):
        what = action.replace("_", " ")
        raise ValidationError(
            f"Invoice {review.stripe_invoice_id} is {STATUS_WORDS.get(status, status)} in "
            f"Stripe: Stripe does not allow '{what}' now. "
            + {
                "void": "Only a finalized invoice is voided; a draft is corrected or held.",
                "mark_uncollectible": "Only an open invoice is marked uncollectible.",
            }.get(action, "")
        )


@transaction.atomic
def invoice_approve(
    *, review: InvoiceReview, by: Any, justification: str = "", send: bool = False
) -> InvoiceReview:
    """Approve a draft for finalizing. A flagged one needs a written justification; above the
    currency's limit, a second approver; never the customer's account manager. `send`: the
    customer is sent the invoice once it is finalized."""
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
    _require_allowed(review, "approve")
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
    review.send_when_finalized = review.send_when_finalized or send
    _save(review, by, justification.strip() or ("approved to send" if send else "approved"))
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
    _require_allowed(review, "hold")
    review.status, review.note = InvoiceReview.Status.HELD, note.strip()
    _save(review, by, f"held: {note.strip()}")
    return review


@transaction.atomic
def invoice_decision_record(*, review: InvoiceReview, by: Any, action: str, why: str) -> None:
    """Record who asked for a Stripe action (void, mark uncollectible, send) and why, and have
    a task carry it out once this commits. Sending a draft finalizes it, so the rules of
    approving apply (a justification when flagged, a second approver above the limit)."""
    if action == "send" and stripe_status(review) == "draft":
        invoice_approve(review=review, by=by, justification=why, send=True)
        return
    review = _locked_review(review)
    _require(by)
    if action == "void" and not why.strip():
        raise ValidationError("Say why the invoice is voided.")
    if review.status == InvoiceReview.Status.VOIDED:
        raise ValidationError(f"Invoice {review.stripe_invoice_id} is already void.")
    _require_allowed(review, action)
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
    if action == "finalize":
        # What the customer may pay with is fixed at finalization: the account's methods now.
        invoice_payment_methods_push(review=review, api=api)
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
    if action == "finalize" and review.send_when_finalized:
        return invoice_stripe_action(review=review, action="send", api=api)
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
    owed = true_up_owed(draft, invoice_expectations(review.account, draft))
    if owed is None:
        raise ValidationError(
            "The draft owes no true-up: usage meets the contract's minimum commit for the "
            "period, or the true-up is already on it."
        )
    version, charge = owed
    contract = Contract.objects.get(pk=version.contract_id or 0)  # read from our records
    amount = to_stripe_charge(charge.amount, contract.currency)
    _save(review, by, f"true-up added: {format_minor(amount, contract.currency)}")
    push_after_commit(
        invoice_true_up_task,
        review.pk,
        amount,
        charge.start.isoformat(),
        charge.end.isoformat(),
        contract.pk,
    )
    return amount


def invoice_true_up_push(
    *,
    review: InvoiceReview,
    amount: int,
    start: date,
    end: date,
    contract_id: int | None = None,
    api: StripeApi | None = None,
) -> None:
    """Send the true-up item to the draft, once per contract version and period; the mirror
    and the review follow. The contract is the one owing it (the review's by default)."""
    api = api or StripeApi()
    contract_id = contract_id or review.contract_id
    if contract_id is None:
        raise PushRefused(f"Invoice {review.stripe_invoice_id} has no contract to true up.")
    contract = Contract.objects.select_related("account").get(pk=contract_id)
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


# --- Correcting a draft from the admin --------------------------------------------------------


@transaction.atomic
def invoice_line_correct(*, review: InvoiceReview, by: Any, line_id: str) -> int:
    """Finance corrects one line of a held draft to what the contract says. A subscription's
    own line can be changed in Stripe only in its description and metadata, so it gets an
    invoice item of the difference that names the line it corrects (`correction_of`), as
    finance would add it by hand. An invoice item of the contract's is changed in place; one
    the contract does not explain is taken off the draft. The difference, in minor units."""
    review = _locked_review(review)
    _require(by)
    _require_allowed(review, "edit")
    draft, pair = _draft_pair(review, line_id=line_id)
    line = next(x for x in pair.lines if x.id == line_id)
    currency = draft.currency
    wanted = charge_minor(pair, pair.charge, currency) if pair.charge else 0
    # An item of the difference moves money of its own: in Stripe's step (BHD: 0.010).
    difference = to_stripe_charge_minor(wanted - pair.amount, currency)
    if not difference:
        raise ValidationError(
            f"Line '{line.description or line_id}' already comes to "
            f"{format_minor(pair.amount, currency)}, as the contract says."
        )
    version = pair.expected
    kind = _correction_kind(pair)
    if kind == "remove":
        # An item the contract does not explain is taken off the draft (Stripe deletes an
        # invoice item on a draft), rather than cancelled by another.
        _save(
            review,
            by,
            f"removed '{line.description or line_id}': {format_minor(-difference, currency)}",
        )
        push_after_commit(
            invoice_correction_task,
            review.pk,
            {
                "key": f"remove-{review.stripe_invoice_id}-{line.invoice_item}",
                "delete": line.invoice_item,
                "description": f"Remove '{line.description or line_id}'",
            },
        )
        return difference
    if kind == "change":
        # An invoice item of the contract's (added by hand, or a true-up) is changed in place:
        # Stripe lets an item on a draft change its amount, and the draft keeps one line.
        _save(
            review,
            by,
            f"changed '{line.description or line_id}' from {format_minor(pair.amount, currency)} "
            f"to {format_minor(wanted, currency)}",
        )
        push_after_commit(
            invoice_correction_task,
            review.pk,
            {
                "key": f"change-{review.stripe_invoice_id}-{line.invoice_item}-{wanted}",
                "update": line.invoice_item,
                "amount": wanted,
                "description": f"Change '{line.description or line_id}'",
            },
        )
        return difference
    what = f"Correction of '{line.description or line_id}'"
    _save(review, by, f"{what}: {format_minor(difference, currency)}")
    push_after_commit(
        invoice_correction_task,
        review.pk,
        {
            "key": f"correction-{review.stripe_invoice_id}-{line_id}-{difference}",
            "amount": difference,
            "description": what,
            "start": line.period_start.isoformat(),
            "end": line.period_end.isoformat(),
            "metadata": {
                "correction_of": line_id,
                "contract": version.number if version else "",
                "contract_line": pair.key,
            },
            "tax_rates": _stripe_rates(version),
        },
    )
    return difference


def _correction_kind(pair: LinePair) -> str:
    """How a line off the contract is corrected: "remove" an invoice item the contract does
    not explain, "change" one it does in place, else "item" (an item of the difference)."""
    alone = len(pair.lines) == 1 and bool(pair.lines[0].invoice_item)
    if not alone:
        return "item"
    return "remove" if pair.charge is None else "change"


@transaction.atomic
def invoice_charge_add(*, review: InvoiceReview, by: Any, line_key: str) -> int:
    """Finance adds to a held draft a charge of the contract it misses: an invoice item of the
    charge's amount for its days, with the contract and the contract line in its metadata, by
    which the checks recognise it. The amount, in minor units."""
    review = _locked_review(review)
    _require(by)
    _require_allowed(review, "edit")
    draft, pair = _draft_pair(review, missing=line_key)
    charge, version = pair.charge, pair.expected
    if charge is None or version is None:  # a missing charge always has both
        raise ValidationError(f"Contract line {line_key} has no charge on this draft.")
    amount = to_stripe_charge(charge.amount, draft.currency)
    _save(review, by, f"charge added: {charge.description}, {format_minor(amount, draft.currency)}")
    push_after_commit(
        invoice_correction_task,
        review.pk,
        {
            "key": f"charge-{review.stripe_invoice_id}-{line_key}-{charge.start}",
            "amount": amount,
            "description": f"{charge.description}, {charge.start} to {charge.end}",
            "start": charge.start.isoformat(),
            "end": charge.end.isoformat(),
            "metadata": {"contract": version.number, "contract_line": line_key},
            "tax_rates": _stripe_rates(version),
        },
    )
    return amount


def _stripe_rates(version: ContractExpectation | None) -> list[str]:
    """The tax rates an item added to the draft carries: the contract's, as its lines."""
    if version is None or version.stripe_tax:
        return []
    return [rate for rate in version.tax_rate_ids if rate.startswith("txr_")]


def _draft_pair(
    review: InvoiceReview, *, line_id: str = "", missing: str = ""
) -> tuple[DraftInvoice, LinePair]:
    """The held draft as the checks read it, and the pair of one of its lines, or of a charge
    it misses."""
    data, lines = mirrored_invoice(review.stripe_invoice_id, missing_ok=False)
    if data.get("status") != "draft" or review.status in ENDED:
        raise ValidationError(f"Invoice {review.stripe_invoice_id} is no longer a draft.")
    draft = draft_from_stripe(data, lines)
    for pair in line_pairs(draft, invoice_expectations(review.account, draft)):
        if line_id and any(line.id == line_id and not line.corrects for line in pair.lines):
            return draft, pair
        if missing and pair.key == missing and pair.charge is not None and not pair.lines:
            return draft, pair
    raise ValidationError(
        f"Invoice {review.stripe_invoice_id} has no line {line_id}."
        if line_id
        else f"Invoice {review.stripe_invoice_id} misses no charge of contract line {missing}."
    )


def invoice_correction_push(
    *, review: InvoiceReview, item: dict[str, Any], api: StripeApi | None = None
) -> None:
    """Send a correction or an added charge to the draft, once (its key is derived from the
    draft, the line and the amount); the mirror and the review follow."""
    api = api or StripeApi()
    if item.get("update"):
        stripe_write(
            api,
            key=item["key"],
            description=f"{item['description']} on draft {review.stripe_invoice_id}",
            method="POST",
            path=f"/v1/invoiceitems/{item['update']}",
            params={"amount": item["amount"]},
            record=review,
        )
        Mirror(api).refresh(object_type("invoices"), review.stripe_invoice_id, missing_ok=False)
        invoice_review_run(stripe_invoice_id=review.stripe_invoice_id)
        return
    if item.get("delete"):
        stripe_write(
            api,
            key=item["key"],
            description=f"{item['description']} from draft {review.stripe_invoice_id}",
            method="DELETE",
            path=f"/v1/invoiceitems/{item['delete']}",
            record=review,
        )
        Mirror(api).refresh(object_type("invoices"), review.stripe_invoice_id, missing_ok=False)
        invoice_review_run(stripe_invoice_id=review.stripe_invoice_id)
        return
    data, _ = mirrored_invoice(review.stripe_invoice_id, missing_ok=False)
    start, end = date.fromisoformat(item["start"]), date.fromisoformat(item["end"])
    params: dict[str, Any] = {
        "customer": data.get("customer"),
        "invoice": review.stripe_invoice_id,
        "amount": item["amount"],
        "currency": str(data.get("currency") or review.currency).lower(),
        "description": item["description"],
        "period": {"start": day_timestamp(start), "end": day_timestamp(end + timedelta(days=1))},
        "metadata": item["metadata"],
    }
    if item.get("tax_rates"):
        params["tax_rates"] = item["tax_rates"]
    stripe_write(
        api,
        key=item["key"],
        description=f"{item['description']} on draft {review.stripe_invoice_id}",
        method="POST",
        path="/v1/invoiceitems",
        params=params,
        record=review,
    )
    Mirror(api).refresh(object_type("invoices"), review.stripe_invoice_id, missing_ok=False)
    invoice_review_run(stripe_invoice_id=review.stripe_invoice_id)


@transaction.atomic
def invoice_custom_fields_set(*, review: InvoiceReview, by: Any, po_number: str) -> None:
    """The purchase-order and contract numbers on the held draft, as Stripe's invoice custom
    fields (enterprise payables departments reject an invoice without its PO). The PO is the
    one given, else the contract's."""
    review = _locked_review(review)
    _require(by)
    _require_allowed(review, "edit")
    contract = review.contract
    po = po_number.strip() or (contract.po_number if contract else "")
    fields = [{"name": "PO number", "value": po}] if po else []
    if contract is not None:
        fields.append({"name": "Contract", "value": f"{contract.number} v{contract.version}"})
    if not fields:
        raise ValidationError("Give the purchase-order number: the draft has no contract with one.")
    for field in fields:
        if len(field["value"]) > CUSTOM_FIELD_VALUE_MAX:
            raise ValidationError(
                f"Stripe takes at most {CUSTOM_FIELD_VALUE_MAX} characters in a custom field; "
                f"the {field['name']} has {len(field['value'])}."
            )
    said = ", ".join(f"{f['name']} {f['value']}" for f in fields)
    _save(review, by, f"custom fields: {said}")
    push_after_commit(invoice_custom_fields_task, review.pk, fields)


# Stripe's limits on an invoice's custom fields (at most four, a value of 140 characters).
CUSTOM_FIELD_VALUE_MAX = 140


def invoice_custom_fields_push(
    *, review: InvoiceReview, fields: list[dict[str, str]], api: StripeApi | None = None
) -> None:
    api = api or StripeApi()
    values = "-".join(f["value"] for f in fields)
    stripe_write(
        api,
        key=f"invoice-{review.stripe_invoice_id}-fields-{values}",
        description=f"Custom fields of draft {review.stripe_invoice_id}: "
        + ", ".join(f"{f['name']} {f['value']}" for f in fields),
        method="POST",
        path=f"/v1/invoices/{review.stripe_invoice_id}",
        params={"custom_fields": fields},
        record=review,
    )
    Mirror(api).refresh(object_type("invoices"), review.stripe_invoice_id, missing_ok=False)


def draft_corrections(
    draft: DraftInvoice, expected: list[ContractExpectation]
) -> list[tuple[str, str, str]]:
    """What finance may correct on a held draft, for the invoice page: ("line", line id,
    what it does) for a line off the contract or not in it, ("charge", contract line, what it
    does) for a charge the draft misses (the true-up has its own action)."""
    if draft.status != "draft" or not draft.lines:
        return []
    money = partial(format_minor, currency=draft.currency)
    offers = []
    for pair in line_pairs(draft, expected):
        billed = [line for line in pair.lines if not line.corrects]
        wanted = charge_minor(pair, pair.charge, draft.currency) if pair.charge else 0
        if billed and pair.key != LATE_USAGE_KEY and pair.amount != wanted:
            what = billed[0].description or billed[0].id
            kind = _correction_kind(pair)
            if kind == "remove":
                label = f"Remove '{what}' ({money(pair.amount)}) from the draft"
            elif kind == "change":
                label = f"Change '{what}' from {money(pair.amount)} to {money(wanted)}"
            else:
                verb = "Correct" if pair.charge else "Cancel"
                label = (
                    f"{verb} '{what}': {money(pair.amount)} to {money(wanted)} "
                    f"(an item of {money(wanted - pair.amount)})"
                )
            offers.append(("line", billed[0].id, label))
        elif pair.charge and not pair.lines and wanted and pair.key != MINIMUM_COMMIT_KEY:
            offers.append(
                (
                    "charge",
                    pair.key,
                    f"Add '{pair.charge.description}' for {pair.charge.start} to "
                    f"{pair.charge.end}: {money(wanted)}",
                )
            )
    return offers
