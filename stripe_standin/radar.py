"""Radar in the stand-in: approving a review, and refunds as Stripe takes them.

Reviews and early fraud warnings are objects only Stripe makes: the tests seed them with
`POST /_config/objects` (`{"object": "review", "charge": "ch_..."}`, shaped like Stripe's
example in fixtures3.json) and read them through `GET /v1/reviews[/{id}]` and
`GET /v1/radar/early_fraud_warnings[/{id}]` (server.py). This module adds what acts on them:

- `POST /v1/reviews/{id}/approve` (Stripe's API reference, "Approve a review": "Approves a
  Review object, closing it and removing it from the list of reviews"; no parameters): the
  review closes with `closed_reason: approved` and `review.closed` goes to the webhooks. A
  review already closed is refused (400), naming how it was closed. Stripe documents no exact
  wording for this refusal; the message here says what happened in Stripe's style.
- `POST /v1/refunds` (localstripe's route) with Stripe's `reason` (`duplicate`, `fraudulent`,
  `requested_by_customer`), which localstripe refuses as unexpected; refused as Stripe refuses
  them: a charge refunded in full already (`Charge ch_... has already been refunded.`, code
  `charge_already_refunded`), an amount above what is left (code `amount_too_large`). A refund
  as `fraudulent` closes the charge's open review as `refunded_as_fraud` (Stripe closes a
  review when its payment is refunded) and records the report on the charge's
  `fraud_details.user_report`; a charge refunded in full leaves its early fraud warnings no
  longer `actionable` (Stripe: "An EFW is actionable if it has not received a dispute and has
  not been fully refunded").
"""

import copy
from typing import Any

from localstripe import resources

from stripe_standin import store
from stripe_standin.store import STORE, Obj, StripeError, emit_event

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def review_approve(review_id: str, params: Obj) -> Obj:
    """`POST /v1/reviews/{id}/approve`."""
    store._check_params(params, {"expand"})
    review = STORE.get("review", review_id)
    if not review.get("open"):
        raise StripeError(
            400,
            f"Review {review_id} is already closed ({review.get('closed_reason') or 'closed'}); "
            "only an open review can be approved.",
            param="review",
        )
    _close(review, "approved")
    return store.public_copy(review)


def _close(review: Obj, closed_reason: str) -> None:
    before = copy.deepcopy(review)
    review["open"] = False
    review["closed_reason"] = closed_reason
    emit_event("review.closed", review, store._changes(before, review))


def _charge_id(value: Any) -> str:
    return str(value.get("id") if isinstance(value, dict) else value or "")


def _after_refund(charge: Any, reason: str | None) -> None:
    """What Stripe changes on the charge's Radar objects once it is refunded."""
    if reason == "fraudulent":
        charge.fraud_details = {"user_report": "fraudulent"}
        for review in STORE.all("review"):
            if review.get("open") and _charge_id(review.get("charge")) == charge.id:
                _close(review, "refunded_as_fraud")
    if charge.refunded:
        for warning in STORE.all("radar.early_fraud_warning"):
            if warning.get("actionable") and _charge_id(warning.get("charge")) == charge.id:
                before = copy.deepcopy(warning)
                warning["actionable"] = False
                emit_event(
                    "radar.early_fraud_warning.updated", warning, store._changes(before, warning)
                )


def accept_refunds_as_stripe() -> None:
    """Refunds with Stripe's `reason`, refused as Stripe refuses them (wired in by server.py:
    localstripe's own route for `POST /v1/refunds` builds a `Refund`)."""
    if getattr(resources.Refund.__init__, "stripe_shaped", False):
        return
    refund_init = resources.Refund.__init__

    def refund(
        self: Any,
        charge: Any = None,
        payment_intent: Any = None,
        amount: Any = None,
        metadata: Any = None,
        reason: Any = None,
        **kwargs: Any,
    ) -> None:
        if reason is not None and reason not in REFUND_REASONS:
            raise StripeError(
                400,
                f"Invalid reason: must be one of {', '.join(REFUND_REASONS)}",
                param="reason",
            )
        charge_obj = None
        if isinstance(charge, str) and charge.startswith("ch_"):
            charge_obj = resources.Charge._api_retrieve(charge)
        if charge_obj is not None and not kwargs:
            if charge_obj.refunded:
                raise StripeError(
                    400,
                    f"Charge {charge_obj.id} has already been refunded.",
                    code="charge_already_refunded",
                )
            left = charge_obj.amount - charge_obj.amount_refunded
            asked = resources.try_convert_to_int(amount)
            if isinstance(asked, int) and asked > left:
                raise StripeError(
                    400,
                    f"Refund amount ({asked}) is greater than unrefunded amount on charge ({left})",
                    param="amount",
                    code="amount_too_large",
                )
            if amount is None:
                amount = left  # Stripe refunds what is left, not the whole charge again
        refund_init(
            self,
            charge=charge,
            payment_intent=payment_intent,
            amount=amount,
            metadata=metadata,
            **kwargs,
        )
        self.reason = reason
        _after_refund(resources.Charge._api_retrieve(self.charge), reason)

    refund.stripe_shaped = True  # type: ignore[attr-defined]
    resources.Refund.__init__ = refund
