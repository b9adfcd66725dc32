"""Demo payments: an account paying by card (with a declined charge), one by ACH and one by
SEPA Direct Debit with their mandates, their charges; mirrored as Stripe would send them (the
demo has no Stripe to ask). Accounts that accept a debit without a mandate stay so: their page
shows it under payment readiness."""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction

from customers.models import Account
from demo.invoices import _mirror, _write_once
from stripe_sync.mirror import Mirror

# The demo's moment: charges are dated back from it.
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

# external_ref -> (methods accepted, saved payment method type, charges as
# (days back, amount in minor units, failure code or "")).
PAYERS: dict[str, tuple[list[str], str, list[tuple[int, int, str]]]] = {
    # Thames Analytics pays by card; one renewal was declined, then retried.
    "CRM-0004": (
        ["card"],
        "card",
        [(58, 1250000, ""), (28, 1250000, "card_declined"), (27, 1250000, "")],
    ),
    # Northwind pays US invoices by ACH Direct Debit, under a mandate.
    "CRM-0001": (
        ["card", "us_bank_account"],
        "us_bank_account",
        [(60, 2400000, ""), (30, 2400000, "")],
    ),
    # Bergmann pays by SEPA Direct Debit; one debit came back (insufficient funds).
    "CRM-0002": (
        ["card", "sepa_debit"],
        "sepa_debit",
        [(61, 980000, ""), (31, 980000, "insufficient_funds"), (24, 980000, "")],
    ),
}


def _stamp(days_back: int) -> int:
    return int((NOW - timedelta(days=days_back)).timestamp())


def _payment_method(pm_id: str, customer: str, kind: str, account: Account) -> dict[str, Any]:
    details: dict[str, Any]
    if kind == "card":
        details = {
            "brand": "visa",
            "display_brand": "visa",
            "last4": "4242",
            "exp_month": 8,
            "exp_year": 2028,
            "country": str(account.billing_country),
            "funding": "credit",
        }
    elif kind == "us_bank_account":
        details = {
            "bank_name": "STRIPE TEST BANK",
            "last4": "6789",
            "account_type": "checking",
            "account_holder_type": "company",
            "routing_number": "110000000",
        }
    else:
        details = {
            "bank_code": "37040044",
            "country": str(account.billing_country),
            "last4": "3000",
            "fingerprint": "demo",
        }
    return {
        "id": pm_id,
        "object": "payment_method",
        "type": kind,
        kind: details,
        "customer": customer,
        "created": _stamp(90),
        "livemode": False,
        "metadata": {},
        "billing_details": {"name": account.legal_name, "email": account.billing_email},
    }


def _charge(
    n: int, customer: str, pm_id: str, kind: str, currency: str, spec: tuple[int, int, str]
) -> dict[str, Any]:
    days_back, amount, failure = spec
    failed = bool(failure)
    return {
        "id": f"ch_demo_{customer.removeprefix('cus_demo_')}_{n}",
        "object": "charge",
        "amount": amount,
        "amount_captured": 0 if failed else amount,
        "amount_refunded": 0,
        "currency": currency.lower(),
        "customer": customer,
        "created": _stamp(days_back),
        "status": "failed" if failed else "succeeded",
        "paid": not failed,
        "captured": not failed,
        "refunded": False,
        "disputed": False,
        "livemode": False,
        "metadata": {},
        "payment_method": pm_id,
        "payment_method_details": {"type": kind, kind: {}},
        "failure_code": failure or None,
        "failure_message": {
            "card_declined": "Your card was declined.",
            "insufficient_funds": "The account has insufficient funds to cover the debit.",
        }.get(failure),
        "outcome": {
            "type": "issuer_declined" if failed else "authorized",
            "seller_message": "The bank did not return any further details with this decline."
            if failed
            else "Payment complete.",
            "network_status": "declined_by_network" if failed else "approved_by_network",
            "reason": "generic_decline" if failure == "card_declined" else None,
            "risk_level": "normal",
        },
    }


@transaction.atomic
def demo_payments_ensure() -> None:
    """Accounts paying by card, ACH and SEPA, their saved methods, mandates and charges."""
    mirror: Mirror = _mirror()
    for ref, (accepted, kind, charges) in PAYERS.items():
        account = Account.objects.filter(external_ref=ref).first()
        if account is None:
            continue
        Account.objects.filter(pk=account.pk).update(accepted_payment_methods=accepted)
        customer = account.stripe_customer_id  # type: ignore[attr-defined]
        if not customer:
            continue  # not in the demo's Stripe: no contract
        slug = customer.removeprefix("cus_demo_")
        pm_id = f"pm_demo_{slug}"
        _write_once(mirror, "payment_methods", _payment_method(pm_id, customer, kind, account))
        if kind != "card":
            _write_once(
                mirror,
                "mandates",
                {
                    "id": f"mandate_demo_{slug}",
                    "object": "mandate",
                    "payment_method": pm_id,
                    "status": "active",
                    "type": "multi_use",
                    "multi_use": {},
                    "livemode": False,
                    "customer_acceptance": {
                        "type": "online",
                        "accepted_at": _stamp(90),
                        "online": {"ip_address": "203.0.113.7", "user_agent": "demo"},
                    },
                    "payment_method_details": {"type": kind, kind: {}},
                },
            )
        for n, spec in enumerate(charges, start=1):
            _write_once(
                mirror,
                "charges",
                _charge(n, customer, pm_id, kind, account.default_currency, spec),
            )
