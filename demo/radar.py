"""The demo's Radar queue: an open review and an early fraud warning on card payments of two
demo customers, written into the Stripe mirror as Stripe would send them (the demo has no
Stripe to ask). Safe to run again: what the mirror holds is left as it is."""

from datetime import UTC, datetime
from typing import Any

from customers.models import Account
from demo.invoices import _mirror, _write_once

# Their own moment, a few days before the demo's "now": the queue shows their age.
REVIEW_OPENED = int(datetime(2026, 11, 28, 9, 30, tzinfo=UTC).timestamp())
WARNING_OPENED = int(datetime(2026, 11, 30, 16, 5, tzinfo=UTC).timestamp())


def _charge(
    charge_id: str, customer: str, amount: int, currency: str, created: int
) -> dict[str, Any]:
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "captured": True,
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": "Card payment",
        "disputed": False,
        "fraud_details": {},
        "livemode": False,
        "metadata": {},
        "outcome": {
            "network_status": "approved_by_network",
            "risk_level": "elevated",
            "type": "manual_review" if charge_id.endswith("review") else "authorized",
        },
        "paid": True,
        "payment_method_details": {"type": "card", "card": {"brand": "visa", "last4": "4242"}},
        "refunded": False,
        "status": "succeeded",
    }


def demo_radar_ensure() -> list[str]:
    """The review and the warning, on the first two demo customers in Stripe; their ids."""
    accounts = list(
        Account.objects.filter(stripe_customer_id__isnull=False).order_by("external_ref")[:2]
    )
    if len(accounts) < 2:
        return []  # the demo's customers are not in the mirror yet (demo_invoices_ensure)
    mirror = _mirror()
    reviewed, warned = accounts
    customer_reviewed = reviewed.stripe_customer_id  # type: ignore[attr-defined]
    customer_warned = warned.stripe_customer_id  # type: ignore[attr-defined]
    _write_once(
        mirror,
        "charges",
        _charge("ch_demo_radar_review", customer_reviewed, 348000, "eur", REVIEW_OPENED),
    )
    _write_once(
        mirror,
        "charges",
        _charge("ch_demo_radar_warning", customer_warned, 129900, "eur", WARNING_OPENED),
    )
    _write_once(
        mirror,
        "reviews",
        {
            "id": "prv_demo_radar_review",
            "object": "review",
            "billing_zip": None,
            "charge": "ch_demo_radar_review",
            "closed_reason": None,
            "created": REVIEW_OPENED,
            "ip_address": "203.0.113.7",
            "livemode": False,
            "open": True,
            "opened_reason": "rule",
            "payment_intent": None,
            "reason": "rule",
            "session": None,
        },
    )
    _write_once(
        mirror,
        "early_fraud_warnings",
        {
            "id": "issfr_demo_radar_warning",
            "object": "radar.early_fraud_warning",
            "actionable": True,
            "charge": "ch_demo_radar_warning",
            "created": WARNING_OPENED,
            "fraud_type": "made_with_stolen_card",
            "livemode": False,
            "payment_intent": None,
        },
    )
    return ["prv_demo_radar_review", "issfr_demo_radar_warning"]
