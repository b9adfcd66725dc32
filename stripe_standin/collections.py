"""Collections in the stand-in: paying an open invoice now (and the card that declines), and
answering a dispute with evidence, as Stripe does them and refuses them.

- `POST /v1/invoices/{id}/pay`: localstripe answers a declined payment with the invoice as if
  nothing happened; Stripe answers `402 card_error` (`code: card_declined`, a `decline_code`,
  the failed `charge` and the `payment_intent`), counts the attempt (`attempt_count`) and
  schedules its next automatic retry (`next_payment_attempt`). The customer's default payment
  method decides: `pm_card_chargeCustomerFail` (Stripe's test card 4000000000000341, which
  attaches and then fails every charge) declines, `pm_card_visa` pays. A paid invoice is
  refused ("Invoice is already paid"), and so is a void or draft one.
- `POST /v1/disputes/{id}`: evidence (Stripe's text fields; files are not kept here) staged
  with `submit=false`, or submitted (`submit=true`, the default in Stripe): the dispute moves to
  `under_review` / `warning_under_review`, `evidence_details.submission_count` grows. Refused
  after `evidence_details.due_by` (by the stand-in's clock) and once submitted, as Stripe
  refuses them, naming why.
"""

import re
import time
from typing import Any

from aiohttp import web
from localstripe import resources, server
from localstripe.webhooks import schedule_webhook

from stripe_standin import store as standin
from stripe_standin.store import StripeError

Obj = dict[str, Any]

# Stripe's Smart Retries pick the moment; the stand-in retries three days after a decline.
NEXT_ATTEMPT_AFTER_SECONDS = 3 * 24 * 3600
# Stripe's decline for its test card 4000000000000341 ("charge_customer_fail").
TEST_DECLINE_CODE = "generic_decline"

_PAY = re.compile(r"^/v1/invoices/(?P<id>in_\w+)/pay$")
_PAY_PARAMS = frozenset({"expand", "off_session", "payment_method"})
_PAY_UNSUPPORTED = frozenset(
    {"forgive", "mandate", "paid_out_of_band", "source", "metadata", "payment_method_data"}
)


@web.middleware
async def invoice_payments(request: web.Request, handler: Any) -> web.StreamResponse:
    """Inside localstripe's error and authentication middlewares: `POST /v1/invoices/{id}/pay`
    as Stripe does it; every other request goes on to localstripe."""
    found = _PAY.match(request.path)
    if request.method != "POST" or not found:
        return await handler(request)
    params = dict(await server.get_post_data(request) or {})
    return web.json_response(invoice_pay(found["id"], params))


def _next_payment_attempt(self: Any) -> int | None:
    if self.status != "open":
        return None
    return getattr(self, "_next_attempt", None) or (self.date if self.status == "draft" else None)


def _amount_remaining(self: Any) -> int:
    return max(0, int(self.amount_due) - int(self.amount_paid))


def collections_accept_payments() -> None:
    """An invoice's next automatic attempt is what the last decline scheduled (localstripe
    has it always the invoice's date), and it says what is still owed (`amount_remaining`,
    which localstripe lacks)."""
    resources.Invoice.next_payment_attempt = property(_next_payment_attempt)  # type: ignore[assignment,method-assign]
    resources.Invoice.amount_remaining = property(_amount_remaining)  # type: ignore[attr-defined]


def invoice_pay(invoice_id: str, params: Obj) -> Obj:
    params.pop("expand", None)
    standin._check_params(params, _PAY_PARAMS, unsupported=_PAY_UNSUPPORTED)
    invoice = resources.Invoice._api_retrieve(invoice_id)
    if invoice.status == "paid":
        raise StripeError(400, "Invoice is already paid", code="invoice_already_paid")
    if invoice.status != "open":
        raise StripeError(
            400,
            f"This invoice is {invoice.status}: only an open invoice can be paid.",
            param="id",
        )
    customer = resources.Customer._api_retrieve(invoice.customer)
    method = (
        resources.PaymentMethod._api_retrieve(params["payment_method"])
        if params.get("payment_method")
        else customer._get_default_payment_method_or_source()
    )
    if method is None:
        raise StripeError(
            400,
            "This customer has no attached payment source or default payment method. Please "
            "consider adding a default payment method.",
            code="invoice_no_customer_payment_method",  # unverified code name, see README
        )
    intent = resources.PaymentIntent(
        amount=invoice.amount_due,
        currency=invoice.currency,
        customer=invoice.customer,
        payment_method=method.id,
    )
    intent.invoice = invoice.id
    invoice.payment_intent = intent.id
    invoice.attempt_count = (invoice.attempt_count or 0) + 1
    invoice.attempted = True
    intent._confirm(on_failure_now=lambda: None)
    charge = intent.latest_charge
    if charge is not None and charge.status == "failed":
        invoice._next_attempt = standin._now() + NEXT_ATTEMPT_AFTER_SECONDS
        schedule_webhook(resources.Event("invoice.payment_failed", invoice))
        error = StripeError(
            402,
            charge.failure_message or "Your card was declined.",
            code="card_declined",
            error_type="card_error",
        )
        error.body["error"].update(
            decline_code=TEST_DECLINE_CODE,
            charge=charge.id,
            payment_intent=standin.stripe_shape(intent._export()),
        )
        raise error
    invoice._next_attempt = None
    if invoice.status == "paid" and not invoice.status_transitions.get("paid_at"):
        invoice.status_transitions["paid_at"] = int(time.time())
        schedule_webhook(resources.Event("invoice.paid", invoice))
    return standin.stripe_shape(invoice._export())


# --- Disputes -------------------------------------------------------------------------------

EVIDENCE_TEXT_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_tracking_number",
    "uncategorized_text",
)
# File ids (file_...): Stripe takes them; the stand-in keeps no files.
EVIDENCE_FILE_FIELDS = (
    "cancellation_policy",
    "customer_communication_file",
    "customer_signature",
    "duplicate_charge_documentation",
    "receipt",
    "refund_policy",
    "service_documentation",
    "shipping_documentation",
    "uncategorized_file",
)
EVIDENCE_TEXT_LIMIT = 20000  # characters, Stripe's limit on the evidence's text in all
_UNDER_REVIEW = {"needs_response": "under_review", "warning_needs_response": "warning_under_review"}


def dispute_update(dispute_id: str, params: Obj) -> Obj:
    """`POST /v1/disputes/{id}`: stage or submit evidence, and metadata."""
    standin._check_params(params, {"evidence", "submit", "metadata", "expand"})
    dispute = standin.STORE.get("dispute", dispute_id)
    evidence = params.get("evidence") or {}
    if not isinstance(evidence, dict):
        raise StripeError(400, "Invalid hash", param="evidence")
    for key in evidence:
        if key in EVIDENCE_FILE_FIELDS:
            raise StripeError(
                400,
                f"The test stand-in keeps no files: evidence[{key}] (real Stripe takes a file "
                "id here).",
                param=f"evidence[{key}]",
            )
        if key not in EVIDENCE_TEXT_FIELDS:
            raise StripeError(
                400, f"Received unknown parameter: evidence[{key}]", param=f"evidence[{key}]"
            )
    if sum(len(str(v)) for v in evidence.values()) > EVIDENCE_TEXT_LIMIT:
        raise StripeError(
            400,
            f"The evidence's text may be at most {EVIDENCE_TEXT_LIMIT} characters in all.",
            param="evidence",
        )
    submit = resources.try_convert_to_bool(params.get("submit", True))
    details = dispute["evidence_details"]
    status = dispute["status"]
    if evidence or submit:
        if status not in _UNDER_REVIEW:
            raise StripeError(
                400,
                f"This dispute is {status}: evidence can no longer be changed or submitted "
                "(it is taken once, while the dispute needs a response).",
                param="evidence",
            )
        if details.get("due_by") and standin._now() > int(details["due_by"]):
            raise StripeError(
                400,
                "The evidence for this dispute was due by "
                f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(int(details['due_by'])))}; "
                "it can no longer be changed or submitted.",
                param="evidence",
            )
    before = {"evidence": dict(dispute["evidence"]), "status": status}
    dispute["evidence"].update({k: str(v) for k, v in evidence.items()})
    if evidence:
        details["has_evidence"] = True
    if submit:
        details["submission_count"] = int(details.get("submission_count") or 0) + 1
        dispute["status"] = _UNDER_REVIEW[status]
    if "metadata" in params:
        dispute["metadata"] = dict(params["metadata"] or {})
    standin.emit_event("charge.dispute.updated", dispute, before)
    return standin.export(dispute)
