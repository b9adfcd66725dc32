"""Disputes: the open ones, the oldest due first, and their evidence sent from the admin.

Evidence goes to Stripe as its text fields (`POST /v1/disputes/{id}` with `evidence[...]`),
staged ("save draft", `submit=false`) or submitted to the bank (`submit=true`, final). Files
(receipts, signed contracts, shipping documents) are uploaded to Stripe first and given by
their file id; this back-office sends text only, files are out of its scope. Stripe takes
evidence until `evidence_details.due_by`, and once: after either, it refuses, and the refusal
shows on the evidence's record with Stripe's words. We refuse the same ourselves first, from
the mirror, so that nobody waits for a task to learn it.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from djstripe.models import Dispute

from backoffice.history import history_save
from backoffice.models import User
from billing.money import from_stripe_amount
from billing.pricing import stripe_moment
from customers.models import Account
from customers.selectors import VIEW_ALL_ACCOUNTS, accounts_visible_to
from payments.models import DisputeEvidence
from payments.tasks import dispute_evidence_task
from stripe_sync.client import StripeApi
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type
from stripe_sync.writes import PushRefused, push_after_commit, stripe_write

SUBMIT_EVIDENCE = "payments.submit_dispute_evidence"

# Stripe's evidence text fields the form offers (name, label), in the order a reply reads.
EVIDENCE_FIELDS: tuple[tuple[str, str], ...] = (
    ("product_description", "Product or service description"),
    ("customer_name", "Customer name"),
    ("customer_email_address", "Customer email address"),
    ("billing_address", "Billing address"),
    ("service_date", "Service date"),
    ("customer_communication", "Customer communication (text)"),
    ("access_activity_log", "Access activity log"),
    ("cancellation_rebuttal", "Why the customer is not owed a cancellation"),
    ("refund_refusal_explanation", "Why the customer is not owed a refund"),
    ("duplicate_charge_explanation", "Why the charge is not a duplicate"),
    ("uncategorized_text", "Anything else (receipt or invoice text)"),
)
EVIDENCE_TEXT_LIMIT = 20000  # characters, Stripe's limit on all the evidence's text
# Disputes still to be answered, and those answered and with the bank.
NEEDS_RESPONSE = ("needs_response", "warning_needs_response")
OPEN_STATUSES = (*NEEDS_RESPONSE, "under_review", "warning_under_review")


@dataclass(frozen=True)
class OpenDispute:
    stripe_dispute_id: str
    account: Account | None
    charge_id: str
    reason: str  # Stripe's: fraudulent, product_not_received, ...
    status: str
    currency: str
    amount: Decimal  # major units of `currency`
    due_by: datetime | None
    has_evidence: bool
    submission_count: int
    evidence: dict[str, Any]  # what Stripe holds

    @property
    def needs_response(self) -> bool:
        return self.status in NEEDS_RESPONSE

    @property
    def past_due(self) -> bool:
        return self.due_by is not None and self.due_by < timezone.now()


def _disputes(user: User) -> QuerySet[Dispute]:
    disputes = Dispute.objects.filter(stripe_data__status__in=OPEN_STATUSES)
    if not user.has_perm(VIEW_ALL_ACCOUNTS):
        disputes = disputes.filter(
            charge__customer__backoffice_account__in=accounts_visible_to(user)
        )
    return disputes.select_related("charge__customer__backoffice_account")


def _open_dispute(dispute: Dispute) -> OpenDispute:
    data = dispute.stripe_data
    details = data.get("evidence_details") or {}
    currency = str(data.get("currency", "")).upper()
    customer = dispute.charge.customer if dispute.charge else None
    return OpenDispute(
        stripe_dispute_id=dispute.id,
        account=getattr(customer, "backoffice_account", None) if customer else None,
        charge_id=str(data.get("charge") or ""),
        reason=str(data.get("reason") or ""),
        status=str(data.get("status") or ""),
        currency=currency,
        amount=from_stripe_amount(int(data.get("amount") or 0), currency),
        due_by=stripe_moment(details.get("due_by")),
        has_evidence=bool(details.get("has_evidence")),
        submission_count=int(details.get("submission_count") or 0),
        evidence={k: v for k, v in (data.get("evidence") or {}).items() if isinstance(v, str)},
    )


def open_disputes(user: User) -> list[OpenDispute]:
    """The open disputes `user` may see, the oldest due first (one query)."""
    rows = [_open_dispute(d) for d in _disputes(user)]
    far = datetime.max.replace(tzinfo=UTC)
    rows.sort(key=lambda row: (row.due_by or far, row.stripe_dispute_id))
    return rows


def open_dispute(user: User, stripe_dispute_id: str) -> OpenDispute | None:
    dispute = _disputes(user).filter(id=stripe_dispute_id).first()
    return _open_dispute(dispute) if dispute else None


def evidence_sent_for(stripe_dispute_ids: list[str]) -> dict[str, DisputeEvidence]:
    """Our last evidence record per dispute (one query)."""
    last: dict[str, DisputeEvidence] = {}
    for evidence in (
        DisputeEvidence.objects.filter(stripe_dispute_id__in=stripe_dispute_ids)
        .select_related("saved_by")
        .order_by("id")
    ):
        last[evidence.stripe_dispute_id] = evidence
    return last


@transaction.atomic
def dispute_evidence_save(
    *, stripe_dispute_id: str, by: User, evidence: dict[str, str], submit: bool, reason: str
) -> DisputeEvidence:
    """Evidence staged ("save draft") or submitted, sent to Stripe once this commits."""
    if not by.has_perm(SUBMIT_EVIDENCE):
        raise PermissionDenied("Only finance answers a dispute.")
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why (it is recorded with the evidence)."})
    known = {name for name, _ in EVIDENCE_FIELDS}
    unknown = sorted(set(evidence) - known)
    if unknown:
        raise ValidationError(f"Not evidence fields Stripe takes as text: {', '.join(unknown)}.")
    evidence = {k: v.strip() for k, v in evidence.items() if v and v.strip()}
    if not evidence and not submit:
        raise ValidationError("There is no evidence to save.")
    if sum(len(v) for v in evidence.values()) > EVIDENCE_TEXT_LIMIT:
        raise ValidationError(
            f"The evidence's text is at most {EVIDENCE_TEXT_LIMIT} characters in all (Stripe's "
            "limit)."
        )
    dispute = open_dispute(by, stripe_dispute_id)
    if dispute is None:
        raise ValidationError(f"Dispute {stripe_dispute_id} is not open, or not yours to see.")
    if not dispute.needs_response:
        raise ValidationError(
            f"Dispute {stripe_dispute_id} is {dispute.status.replace('_', ' ')}: its evidence "
            "was submitted, and Stripe takes it once."
        )
    if dispute.past_due and dispute.due_by is not None:
        raise ValidationError(
            f"The evidence for dispute {stripe_dispute_id} was due by "
            f"{dispute.due_by:%Y-%m-%d %H:%M} UTC: Stripe no longer takes it."
        )
    record = DisputeEvidence(
        stripe_dispute_id=stripe_dispute_id,
        account=dispute.account,
        evidence=evidence,
        submit=submit,
        saved_by=by,
        reason=reason[:500],
    )
    verb = "submit evidence" if submit else "save evidence draft"
    history_save(record, by=by, why=f"{verb}: {reason}")
    push_after_commit(dispute_evidence_task, record.pk)
    return record


def dispute_evidence_send(
    *, evidence: DisputeEvidence, api: StripeApi | None = None
) -> DisputeEvidence:
    """Send the evidence to Stripe once, record its answer, read the dispute again."""
    evidence = DisputeEvidence.objects.get(pk=evidence.pk)
    if evidence.status != DisputeEvidence.Status.PENDING:
        return evidence  # the task ran twice
    api = api or StripeApi()
    try:
        stripe_write(
            api,
            key=evidence.idempotency_key,
            description=f"Evidence for dispute {evidence.stripe_dispute_id}",
            method="POST",
            path=f"/v1/disputes/{evidence.stripe_dispute_id}",
            params={"evidence": evidence.evidence, "submit": evidence.submit},
            record=evidence,
        )
    except PushRefused as refused:
        evidence.status = DisputeEvidence.Status.REFUSED
        evidence.error = str(refused)[:1000]
    else:
        evidence.status = DisputeEvidence.Status.SENT
    Mirror(api).refresh(object_type("disputes"), evidence.stripe_dispute_id)
    history_save(
        evidence,
        by=None,
        why=f"Stripe answered the evidence: {evidence.get_status_display().lower()}",
    )
    return evidence
