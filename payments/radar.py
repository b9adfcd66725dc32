"""The Radar queue: payments Stripe's Radar holds for review and those a card issuer warned of
(early fraud warnings), oldest first; and what finance decides on each.

A review is approved (Stripe's `POST /v1/reviews/{id}/approve`: the payment stands) or its
payment refunded as fraudulent; an early fraud warning has no approval in Stripe (it is an
issuer's notice), so its payment is refunded as fraudulent or left alone. Every decision has
a written reason; above the currency's limit (RadarApprovalLimit) a second person, never the
first, approves before anything is sent. The write goes once (its idempotency key is the
decision's), in a Celery task enqueued after commit; its outcome is kept on the decision, and
what Stripe holds afterwards (the review, the charge, the refund) is read back into the mirror.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from djmoney.money import Money
from djstripe.models import Charge, EarlyFraudWarning, Review
from djstripe.utils import convert_tstamp

from backoffice.history import history_save
from backoffice.models import User
from billing.money import as_money, from_stripe_amount
from customers.models import Account
from customers.selectors import VIEW_ALL_ACCOUNTS, accounts_visible_to
from payments.models import RadarApprovalLimit, RadarDecision
from payments.tasks import radar_decision_send_task
from stripe_sync.client import StripeApi
from stripe_sync.mirror import Mirror, read_stamp
from stripe_sync.object_types import object_type, stripe_id_of
from stripe_sync.writes import PushRefused, found_by_metadata, push_after_commit, stripe_write

VIEW_RADAR_QUEUE = "payments.view_radar_queue"
DECIDE_RADAR = "payments.decide_radar"
# Our refunds carry their decision's id, so that one whose answer was lost is recognised.
METADATA_KEY = "backoffice_radar_decision"
# Decisions that hold a review or warning (a refused one leaves it to decide again).
IN_FORCE = (
    RadarDecision.Status.AWAITING_SECOND,
    RadarDecision.Status.APPROVED,
    RadarDecision.Status.SUCCEEDED,
)
# What each source may be decided: Stripe approves reviews only.
KINDS_FOR = {
    RadarDecision.Source.REVIEW: (RadarDecision.Kind.APPROVE, RadarDecision.Kind.REFUND_FRAUDULENT),
    RadarDecision.Source.EARLY_FRAUD_WARNING: (RadarDecision.Kind.REFUND_FRAUDULENT,),
}
# Stripe's words for why a review was opened and for an issuer's fraud type.
REVIEW_REASONS = {
    "rule": "A Radar rule",
    "manual": "Put in review by hand",
    "approved": "Approved",
    "refunded": "Refunded",
    "refunded_as_fraud": "Refunded as fraud",
    "disputed": "Disputed",
    "redacted": "Redacted",
}
FRAUD_TYPES = {
    "card_never_received": "Card never received",
    "fraudulent_card_application": "Fraudulent card application",
    "made_with_counterfeit_card": "Made with a counterfeit card",
    "made_with_lost_card": "Made with a lost card",
    "made_with_stolen_card": "Made with a stolen card",
    "misc": "Other fraud",
    "unauthorized_use_of_card": "Unauthorized use of the card",
}


@dataclass(frozen=True)
class RadarItem:
    """One row of the queue: an open review or an actionable early fraud warning."""

    source: str  # RadarDecision.Source
    stripe_id: str
    stripe_charge_id: str
    opened_at: datetime | None
    reason: str  # in finance's words
    amount: Money | None  # None when the mirror does not hold the charge yet
    account: Account | None
    stripe_customer_id: str
    decision: RadarDecision | None  # the one in force, if any
    charge_pk: int | None = None  # the mirror's row of the charge (its admin page)

    @property
    def source_label(self) -> str:
        return RadarDecision.Source(self.source).label

    @property
    def kinds(self) -> tuple[str, ...]:
        """What may be decided on it now: nothing while a decision is in force."""
        if self.decision is not None or self.amount is None:
            return ()
        return tuple(KINDS_FOR[RadarDecision.Source(self.source)])

    def age(self, now: datetime) -> str:
        if self.opened_at is None:
            return "-"
        days = (now - self.opened_at).days
        if days >= 1:
            return f"{days} day{'s' if days != 1 else ''}"
        hours = int((now - self.opened_at).total_seconds() // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"


def _charge_of(data: dict[str, Any]) -> str:
    return str(stripe_id_of(data.get("charge")) or "")


def _reason(source: str, data: dict[str, Any]) -> str:
    if source == RadarDecision.Source.REVIEW:
        code = str(data.get("reason") or data.get("opened_reason") or "")
        return REVIEW_REASONS.get(code, code or "-")
    code = str(data.get("fraud_type") or "")
    return FRAUD_TYPES.get(code, code or "-")


def open_reviews() -> QuerySet[Review]:
    return Review.objects.filter(stripe_data__open=True)


def actionable_warnings() -> QuerySet[EarlyFraudWarning]:
    return EarlyFraudWarning.objects.filter(stripe_data__actionable=True)


def radar_queue(user: User) -> list[RadarItem]:
    """Open reviews and actionable early fraud warnings, oldest first, with their payment's
    amount and customer, for `user`: all of them for finance, the payments of their own
    accounts' customers for an account manager. Five queries, whatever the length."""
    found: list[tuple[str, Any]] = [
        (RadarDecision.Source.REVIEW, r)
        for r in open_reviews().only("id", "created", "stripe_data")
    ] + [
        (RadarDecision.Source.EARLY_FRAUD_WARNING, w)
        for w in actionable_warnings().only("id", "created", "stripe_data")
    ]
    charge_ids = {_charge_of(obj.stripe_data) for _, obj in found} - {""}
    charge_rows = {
        c.id: c for c in Charge.objects.filter(id__in=charge_ids).only("id", "stripe_data")
    }
    charges = {stripe_id: c.stripe_data for stripe_id, c in charge_rows.items()}
    customer_ids = {str(stripe_id_of(c.get("customer")) or "") for c in charges.values()} - {""}
    accounts = {
        a.stripe_customer_id: a  # type: ignore[attr-defined]
        for a in accounts_visible_to(user)
        .filter(stripe_customer_id__in=customer_ids)
        .select_related("account_manager")
    }
    decisions = {
        d.stripe_object_id: d
        for d in RadarDecision.objects.filter(
            stripe_object_id__in=[obj.id for _, obj in found], status__in=IN_FORCE
        ).select_related("requested_by", "second_approved_by")
    }
    sees_all = user.has_perm(VIEW_ALL_ACCOUNTS)
    items = []
    for source, obj in found:
        charge_id = _charge_of(obj.stripe_data)
        charge = charges.get(charge_id) or {}
        customer_id = str(stripe_id_of(charge.get("customer")) or "")
        account = accounts.get(customer_id)
        if account is None and not sees_all:
            continue  # a manager sees only their own accounts' payments
        amount = None
        if isinstance(charge.get("amount"), int) and charge.get("currency"):
            currency = str(charge["currency"]).upper()
            amount = as_money(from_stripe_amount(charge["amount"], currency), currency)
        items.append(
            RadarItem(
                source=source,
                stripe_id=obj.id,
                stripe_charge_id=charge_id,
                opened_at=obj.created or convert_tstamp(obj.stripe_data.get("created")),
                reason=_reason(source, obj.stripe_data),
                amount=amount,
                account=account,
                stripe_customer_id=customer_id,
                decision=decisions.get(obj.id),
                charge_pk=charge_rows[charge_id].pk if charge_id in charge_rows else None,
            )
        )
    items.sort(key=lambda i: (i.opened_at or timezone.now(), i.stripe_id))
    return items


def _queue_item(stripe_id: str, by: User) -> RadarItem:
    for item in radar_queue(by):
        if item.stripe_id == stripe_id:
            return item
    raise ValidationError(
        f"{stripe_id} is not in the Radar queue: it is closed, refunded, or not one of yours."
    )


def radar_approval_limit(currency: str) -> Decimal | None:
    limit = RadarApprovalLimit.objects.filter(currency=currency.upper()).first()
    return None if limit is None else limit.second_approver_above.amount


def _may_decide(by: User, account: Account | None) -> None:
    if not by.has_perm(DECIDE_RADAR):
        raise PermissionDenied(
            "Only finance approves Radar reviews or refunds payments as fraudulent."
        )
    if account is not None and account.account_manager_id == by.pk:
        raise PermissionDenied(
            f"{by.get_username()} manages {account}; another person decides on its payments."
        )


@transaction.atomic
def radar_decision_request(*, stripe_id: str, kind: str, reason: str, by: User) -> RadarDecision:
    """Finance decides on a review or warning in the queue, saying why. Above the currency's
    limit it waits for a second person; otherwise it is sent to Stripe once this commits."""
    _may_decide(by, None)
    item = _queue_item(stripe_id, by)
    _may_decide(by, item.account)
    if item.decision is not None:
        raise ValidationError(
            f"{stripe_id} is decided already: {item.decision.get_kind_display()} by "
            f"{item.decision.requested_by} ({item.decision.get_status_display()})."
        )
    if kind not in item.kinds:
        allowed = " or ".join(str(RadarDecision.Kind(k).label).lower() for k in item.kinds)
        raise ValidationError(
            f"A {item.source_label.lower()} ({stripe_id}) can be: {allowed or 'nothing yet'}; "
            f"not {kind or 'no decision'}."
        )
    if not reason.strip():
        raise ValidationError(f"Say why you decide so on {stripe_id}: the reason is required.")
    amount = item.amount
    if amount is None:  # item.kinds is empty without it; for mypy
        raise ValidationError(f"The mirror does not hold the charge of {stripe_id} yet.")
    limit = radar_approval_limit(amount.currency.code)
    needs_two = limit is not None and amount.amount > limit
    decision = RadarDecision(
        source=item.source,
        stripe_object_id=stripe_id,
        stripe_charge_id=item.stripe_charge_id,
        account=item.account,
        currency=amount.currency.code,
        amount=amount,
        kind=kind,
        reason=reason.strip(),
        status=RadarDecision.Status.AWAITING_SECOND if needs_two else RadarDecision.Status.APPROVED,
        requested_by=by,
    )
    try:
        with transaction.atomic():
            history_save(decision, by=by, why=f"{decision.get_kind_display()}: {reason.strip()}")
    except IntegrityError:
        # Another person's decision on it committed first.
        raise ValidationError(f"{stripe_id} was decided by someone else meanwhile.") from None
    if not needs_two:
        _send_after_commit(decision)
    return decision


@transaction.atomic
def radar_decision_approve(*, decision: RadarDecision, by: User) -> RadarDecision:
    """The second approver of a decision above the limit: another finance person."""
    decision = (
        RadarDecision.objects.select_for_update(of=("self",))
        .select_related("account")
        .get(pk=decision.pk)
    )
    _may_decide(by, decision.account)
    if decision.status != RadarDecision.Status.AWAITING_SECOND:
        return decision  # approved already: running it again is harmless
    if by.pk == decision.requested_by_id:
        raise ValidationError(
            f"{decision.get_kind_display()} of {decision.amount_money} needs a second approver, "
            f"other than {by.get_username()}."
        )
    decision.status = RadarDecision.Status.APPROVED
    decision.second_approved_by, decision.second_approved_at = by, timezone.now()
    history_save(decision, by=by, why="second approval")
    _send_after_commit(decision)
    return decision


def _send_after_commit(decision: RadarDecision) -> None:
    push_after_commit(radar_decision_send_task, decision.pk)


def radar_decision_send(*, decision: RadarDecision, api: StripeApi | None = None) -> RadarDecision:
    """Send an approved decision to Stripe once (its key is the decision's), keep the outcome,
    and read back into the mirror what Stripe holds now. Runs outside a transaction (the task)."""
    decision = RadarDecision.objects.get(pk=decision.pk)
    if decision.status != RadarDecision.Status.APPROVED:
        return decision  # sent already, refused, or not approved yet
    api = api or StripeApi()
    observed_at = read_stamp()
    key = f"radar-decision-{decision.pk}"
    try:
        if decision.kind == RadarDecision.Kind.APPROVE:
            answer = stripe_write(
                api,
                key=key,
                description=f"Approve review {decision.stripe_object_id}",
                method="POST",
                path=f"/v1/reviews/{decision.stripe_object_id}/approve",
                record=decision,
            )
        else:
            metadata = {METADATA_KEY: str(decision.pk)}
            answer = stripe_write(
                api,
                key=key,
                description=(
                    f"Refund {decision.amount_money} of {decision.stripe_charge_id} as fraudulent"
                ),
                method="POST",
                path="/v1/refunds",
                params={
                    "charge": decision.stripe_charge_id,
                    "reason": "fraudulent",
                    "metadata": metadata,
                },
                record=decision,
                find=found_by_metadata(
                    api, "/v1/refunds", metadata, charge=decision.stripe_charge_id
                ),
            )
    except PushRefused as refused:
        decision.status = RadarDecision.Status.FAILED
        decision.stripe_error = str(refused)
        history_save(decision, by=None, why=f"refused by Stripe: {refused}")
        # Refused because Stripe's state moved on (refunded or approved in the Dashboard):
        # the queue shows that state, not the one the decision was taken on.
        _mirror_back(api, decision, {}, observed_at)
        raise
    decision.status = RadarDecision.Status.SUCCEEDED
    decision.stripe_result_id = str(answer.get("id") or "")
    decision.stripe_error = ""
    decision.done_at = timezone.now()
    history_save(decision, by=None, why=f"done in Stripe: {decision.stripe_result_id}")
    _mirror_back(api, decision, answer, observed_at)
    return decision


def _mirror_back(
    api: StripeApi, decision: RadarDecision, answer: dict[str, Any], observed_at: datetime
) -> None:
    """What Stripe holds after the decision, into the mirror: the charge (refunded or not),
    the refund, and the charge's reviews and warnings (a refund closes its open review)."""
    mirror = Mirror(api)
    mirror.refresh(object_type("charges"), decision.stripe_charge_id)
    if answer.get("object") == "refund":
        mirror.write(object_type("refunds"), [answer], observed_at=observed_at)
    for model, key in ((Review, "reviews"), (EarlyFraudWarning, "early_fraud_warnings")):
        held = set(
            model.objects.filter(stripe_data__charge=decision.stripe_charge_id).values_list(
                "id", flat=True
            )
        )
        for stripe_id in sorted(held | {decision.stripe_object_id}):
            if stripe_id.startswith("prv_" if key == "reviews" else "issfr_"):
                mirror.refresh(object_type(key), stripe_id)


def radar_decisions_visible_to(user: User) -> QuerySet[RadarDecision]:
    """Every decision for finance; a manager's own accounts' for them."""
    decisions = RadarDecision.objects.all()
    if user.has_perm(VIEW_ALL_ACCOUNTS):
        return decisions
    return decisions.filter(account__account_manager=user)
