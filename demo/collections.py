"""The demo's payments for collections, disputes and acceptance rates, written to the mirror
as Stripe would hold them on the demo's "today" (3 December 2026):

- charges in November 2026 of four accounts in four countries, by card and by their local
  debits (ACH in the US, SEPA in Germany, Bacs in the UK, iDEAL in the Netherlands), some
  declined and one ACH debit still pending (not counted until it settles): the acceptance-rate
  report adds them up (payments/tests/test_demo_collections.py counts them by hand);
- a failed payment: Northwind's open invoice of 12,500.00 USD, collected automatically, tried
  twice and declined for insufficient funds, the next automatic attempt on 6 December;
- a dispute: Thames Analytics disputes a card charge of 2,400.00 GBP as fraudulent, evidence
  due by 10 December 2026.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from djstripe.models import Customer

from customers.models import Account
from demo.invoices import _mirror
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type

OBSERVED_AT = datetime(2026, 12, 3, tzinfo=UTC)
FAILED_INVOICE = "in_demo_failed_payment_northwind"
FAILED_INTENT = "pi_demo_failed_payment_northwind"
DISPUTE = "dp_demo_thames_fraudulent"
DISPUTED_CHARGE = "ch_demo_gb_card_1"

# (account, payment method type, outcome, amount in minor units, day of November 2026); the
# charge id is ch_demo_<country>_<method>_<n>. Outcome: succeeded, failed (a decline code) or
# pending.
CHARGES: tuple[tuple[str, str, str, int, int], ...] = (
    ("CRM-0001", "card", "succeeded", 1250000, 2),
    ("CRM-0001", "card", "succeeded", 480000, 5),
    ("CRM-0001", "card", "insufficient_funds", 1250000, 9),
    ("CRM-0001", "card", "succeeded", 99000, 12),
    ("CRM-0001", "us_bank_account", "succeeded", 2500000, 3),
    ("CRM-0001", "us_bank_account", "succeeded", 2500000, 17),
    ("CRM-0001", "us_bank_account", "pending", 2500000, 28),
    ("CRM-0002", "card", "succeeded", 320000, 4),
    ("CRM-0002", "card", "do_not_honor", 320000, 6),
    ("CRM-0002", "sepa_debit", "succeeded", 1800000, 1),
    ("CRM-0002", "sepa_debit", "succeeded", 1800000, 15),
    ("CRM-0002", "sepa_debit", "insufficient_funds", 600000, 20),
    ("CRM-0002", "sepa_debit", "succeeded", 600000, 24),
    ("CRM-0004", "card", "succeeded", 240000, 7),
    ("CRM-0004", "card", "succeeded", 150000, 11),
    ("CRM-0004", "card", "expired_card", 150000, 13),
    ("CRM-0004", "bacs_debit", "succeeded", 900000, 2),
    ("CRM-0004", "bacs_debit", "succeeded", 900000, 16),
    ("CRM-0009", "ideal", "succeeded", 75000, 8),
    ("CRM-0009", "ideal", "succeeded", 75000, 22),
    ("CRM-0009", "card", "generic_decline", 410000, 10),
)
_CURRENCY = {"CRM-0001": "usd", "CRM-0002": "eur", "CRM-0004": "gbp", "CRM-0009": "eur"}
_DECLINES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "do_not_honor": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "generic_decline": "Your card was declined.",
}


def _stamp(day: datetime) -> int:
    return int(day.timestamp())


def _november(day: int, hour: int = 10) -> int:
    return _stamp(datetime(2026, 11, day, hour, tzinfo=UTC))


def _customers(mirror: Mirror) -> dict[str, str]:
    """The Stripe customer of each demo account charged here (made if the demo has none)."""
    ids = {}
    for ref in _CURRENCY:
        account = Account.objects.get(external_ref=ref)
        customer_id = account.stripe_customer_id or f"cus_demo_{ref.lower().replace('-', '')}"  # type: ignore[attr-defined]
        if not Customer.objects.filter(id=customer_id).exists():
            mirror.write(
                object_type("customers"),
                [
                    {
                        "id": customer_id,
                        "object": "customer",
                        "name": account.legal_name,
                        "created": _november(1, 0),
                        "metadata": {},
                    }
                ],
                observed_at=OBSERVED_AT,
            )
        Account.objects.filter(pk=account.pk, stripe_customer__isnull=True).update(
            stripe_customer_id=customer_id
        )
        ids[ref] = customer_id
    return ids


def demo_charge_id(ref: str, method: str, n: int) -> str:
    country = {"CRM-0001": "us", "CRM-0002": "de", "CRM-0004": "gb", "CRM-0009": "nl"}[ref]
    return f"ch_demo_{country}_{method}_{n}"


def _charge(
    ref: str, method: str, outcome: str, amount: int, day: int, n: int, customer: str
) -> dict[str, Any]:
    declined = outcome not in ("succeeded", "pending")
    return {
        "id": demo_charge_id(ref, method, n),
        "object": "charge",
        "amount": amount,
        "amount_captured": 0 if declined else amount,
        "amount_refunded": 0,
        "balance_transaction": None,
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "captured": not declined,
        "created": _november(day),
        "currency": _CURRENCY[ref],
        "customer": customer,
        "description": None,
        "disputed": demo_charge_id(ref, method, n) == DISPUTED_CHARGE,
        "failure_code": "card_declined" if declined and method == "card" else None,
        "failure_message": _DECLINES.get(outcome) if declined else None,
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "outcome": {
            "type": "issuer_declined" if declined else "authorized",
            "reason": outcome if declined else None,
            "network_status": "declined_by_network" if declined else "approved_by_network",
            "seller_message": "The bank declined the payment." if declined else "Approved.",
        },
        "paid": outcome == "succeeded",
        "payment_intent": None,
        "payment_method": None,
        "payment_method_details": {"type": method, method: {}},
        "refunded": False,
        "status": "failed" if declined else outcome,
    }


def demo_charges() -> list[tuple[str, str, str, int, int, int]]:
    """CHARGES with each one's number among its account's charges by that method."""
    seen: dict[tuple[str, str], int] = {}
    numbered = []
    for ref, method, outcome, amount, day in CHARGES:
        seen[(ref, method)] = seen.get((ref, method), 0) + 1
        numbered.append((ref, method, outcome, amount, day, seen[(ref, method)]))
    return numbered


def _failed_payment(customer: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Northwind's invoice, declined twice; its payment intent with the last decline."""
    finalized = _november(25, 9)
    error = {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
        "charge": "ch_demo_us_card_3",
    }
    intent = {
        "id": FAILED_INTENT,
        "object": "payment_intent",
        "amount": 1250000,
        "amount_received": 0,
        "capture_method": "automatic",
        "confirmation_method": "automatic",
        "created": finalized,
        "currency": "usd",
        "customer": customer,
        "description": "Payment for Invoice",
        "last_payment_error": error,
        "latest_charge": None,
        "livemode": False,
        "metadata": {},
        "payment_method": None,
        "payment_method_types": ["card"],
        "status": "requires_payment_method",
    }
    invoice = {
        "id": FAILED_INVOICE,
        "object": "invoice",
        "account_country": "US",
        "amount_due": 1250000,
        "amount_paid": 0,
        "amount_remaining": 1250000,
        "attempt_count": 2,
        "attempted": True,
        "auto_advance": True,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": finalized,
        "currency": "usd",
        "customer": customer,
        "discounts": [],
        "due_date": None,
        "lines": {"object": "list", "data": [], "has_more": False, "url": ""},
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": _stamp(_ahead(datetime(2026, 12, 6, 9, tzinfo=UTC), days=3)),
        "number": "NW-2026-0011",
        "payment_intent": FAILED_INTENT,
        "period_end": finalized,
        "period_start": finalized,
        "status": "open",
        "status_transitions": {"finalized_at": finalized, "paid_at": None, "voided_at": None},
        "subtotal": 1250000,
        "total": 1250000,
    }
    return invoice, intent


def _ahead(moment: datetime, *, days: int) -> datetime:
    """`moment`, or the same time of day `days` ahead of today when the demo is loaded later:
    the dispute still takes evidence and Stripe's next attempt is still to come."""
    today = timezone.now().date()
    if moment.date() >= today + timedelta(days=days):
        return moment
    return datetime.combine(today + timedelta(days=days), moment.timetz())


def _dispute() -> dict[str, Any]:
    return {
        "id": DISPUTE,
        "object": "dispute",
        "amount": 240000,
        "balance_transactions": [],
        "charge": DISPUTED_CHARGE,
        "created": _november(30),
        "currency": "gbp",
        "evidence": {},
        "evidence_details": {
            "due_by": _stamp(_ahead(datetime(2026, 12, 10, 23, 59, 59, tzinfo=UTC), days=7)),
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": None,
        "reason": "fraudulent",
        "status": "needs_response",
    }


def _write_new(mirror: Mirror, type_key: str, objects: list[dict[str, Any]]) -> int:
    ot = object_type(type_key)
    known = set(
        ot.model.objects.filter(id__in=[o["id"] for o in objects]).values_list("id", flat=True)
    )
    new = [o for o in objects if o["id"] not in known]
    mirror.write(ot, new, observed_at=OBSERVED_AT)
    return len(new)


@transaction.atomic
def demo_collections_ensure() -> int:
    """Write what the mirror lacks of the above; how many objects were written."""
    mirror = _mirror()
    customers = _customers(mirror)
    charges = [
        _charge(ref, method, outcome, amount, day, n, customers[ref])
        for ref, method, outcome, amount, day, n in demo_charges()
    ]
    invoice, intent = _failed_payment(customers["CRM-0001"])
    written = _write_new(mirror, "charges", charges)
    written += _write_new(mirror, "payment_intents", [intent])
    written += _write_new(mirror, "invoices", [invoice])
    written += _write_new(mirror, "disputes", [_dispute()])
    return written
