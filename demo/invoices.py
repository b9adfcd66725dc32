"""Demo draft invoices for the review queue: 49 drafts shaped like Stripe's, each right or wrong
in one known way, written to the Stripe mirror as if Stripe had sent them (no Stripe account is
connected in the demo), then reviewed.

Seven demo contracts are billed: EUR (a seat ramp and a platform fee), JPY and BHD (rounding
in zero- and three-decimal currencies), EUR usage with a minimum commit (the true-up), and the
shapes a correct draft takes that a naive check mistakes for errors: a contract signed
mid-month (partial first and last months), a second contract of the same customer billing a
fee in advance and usage in arrears on one draft, and a terminated contract.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from djstripe.models import Account as StripeAccount
from djstripe.models import Invoice

from billing.contracts.models import Contract, PricePhase
from billing.invoices.models import CreditNote, InvoiceReview
from billing.invoices.selectors import contract_expectation, mirrored_invoice
from billing.invoices.services import invoice_review_run
from billing.money import ROUNDING, to_stripe_amount, to_stripe_unit_amount_decimal
from billing.pricing import MINIMUM_COMMIT_KEY, day_timestamp, expected_charges
from billing.tax.models import TaxRate
from billing.usage.models import MeterEvent, MeterStatus, UsageQuantity
from customers.models import Account
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type

DEMO_STRIPE_ACCOUNT = "acct_demo_backoffice"
# Stamped with one moment, so that loading the demo again writes nothing new.
OBSERVED_AT = datetime(2026, 11, 1, tzinfo=UTC)
SENT_INVOICE = "in_demo_eur_2027_07_sent"  # the one invoice of the demo already sent
REVIEW_CONTRACTS = {
    "eur": "C-2026-00901",
    "jpy": "C-2026-00902",
    "bhd": "C-2026-00903",
    "usage": "C-2026-00904",
    "partial": "C-2026-00905",  # starts 15 March 2026, billed from the 1st
    "arrears": "C-2026-00906",  # the same customer: a fee in advance, usage in arrears
    "terminated": "C-2026-00907",  # terminated at the end of September 2026
    "stripe_tax": "C-2026-00012",  # INR usage on graduated tiers, taxed by Stripe Tax
    "exempt_expired": "C-2026-00908",  # exempt, the evidence ran out at the end of 2025
    "exempt_stripe_tax": "C-2026-00909",  # exempt (valid evidence), taxed by Stripe Tax
}


def demo_price_id(contract_number: str, line_key: str, year: str) -> str:
    """The made-up Stripe price of a demo contract's line in a ramp year ("_all": no ramp)."""
    return f"price_demo_{contract_number.replace('-', '').lower()}_{line_key}{year}"


def _month(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    nxt = date(year + month // 12, month % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


@dataclass(frozen=True)
class DemoDraft:
    invoice_id: str
    contract: str  # key of REVIEW_CONTRACTS
    period: tuple[date, date]
    wrong: str  # "" for a correct draft, else the rule it must trip
    change: Callable[[dict[str, Any]], None] | None = None
    status: str = "draft"
    billed_usage: int | None = None  # usage Stripe bills, when not what the product recorded
    # The period whose usage the draft bills, when not its own (usage in arrears).
    usage_period: tuple[date, date] | None = None
    also: tuple["DemoDraft", ...] = ()  # what another contract of the customer adds to it
    # A change made once Stripe's totals are added up (a figure of the invoice itself wrong).
    after: Callable[[dict[str, Any]], None] | None = None


def _bump_seat_price(inv: dict[str, Any]) -> None:
    line = inv["lines"]["data"][0]
    unit = Decimal(line["pricing"]["unit_amount_decimal"]) + 100
    line["pricing"]["unit_amount_decimal"] = f"{unit.normalize():f}"
    line["amount"] = int(unit * line["quantity"])


def _drop_last_line(inv: dict[str, Any]) -> None:
    inv["lines"]["data"].pop()


def _extra_line(inv: dict[str, Any]) -> None:
    extra = dict(inv["lines"]["data"][-1])
    extra.update(id=extra["id"] + "_x", description="Consulting day (not in the contract)")
    extra["pricing"] = {**extra["pricing"], "price_details": {"price": "price_demo_unknown"}}
    inv["lines"]["data"].append(extra)


# A reduced rate no rule of the demo's applies to these customers.
REDUCED_RATE = "txr_demo_reduced"


def _wrong_tax(inv: dict[str, Any]) -> None:
    for line in inv["lines"]["data"]:
        line["taxes"] = [_tax(REDUCED_RATE, line["amount"], Decimal(7))]


def _usd(inv: dict[str, Any]) -> None:
    inv["currency"] = "usd"


def _late_due_date(inv: dict[str, Any]) -> None:
    inv["due_date"] += 15 * 86400


def _one_minor_unit_more(inv: dict[str, Any]) -> None:
    inv["lines"]["data"][-1]["amount"] += 1


def _previous_ramp_phase(inv: dict[str, Any]) -> None:
    # 2027's seats billed at 2026's price, from 2026's price.
    line = inv["lines"]["data"][0]
    line["pricing"]["price_details"]["price"] = demo_price_id(
        REVIEW_CONTRACTS["eur"], "seats", "_2026"
    )
    line["pricing"]["unit_amount_decimal"] = "2000"
    line["quantity"] = 100
    line["amount"] = 200000


def _billed_whole(inv: dict[str, Any]) -> None:
    # the last, partial month billed as a whole one
    for line in inv["lines"]["data"]:
        unit = Decimal(line["pricing"]["unit_amount_decimal"])
        line["amount"] = int(unit * line["quantity"])


def _shifted_two_weeks(inv: dict[str, Any]) -> None:
    # the right amounts, for the 15th to the 14th: not one of the contract's periods (made on
    # the 15th, when that period begins)
    for line in inv["lines"]["data"]:
        line["period"] = {k: v + 14 * 86400 for k, v in line["period"].items()}
    _made_later(inv, 14 * 86400)


def _made_later(inv: dict[str, Any], seconds: int) -> None:
    """The draft made `seconds` later, and due as much later."""
    inv["created"] += seconds
    inv["due_date"] += seconds


def _billed_for_october(inv: dict[str, Any]) -> None:
    # September's seats billed again for October, after the contract's last day (made when
    # October begins)
    october = _month(2026, 10)
    for line in inv["lines"]["data"]:
        line["period"] = {
            "start": day_timestamp(october[0]),
            "end": day_timestamp(october[1] + timedelta(days=1)),
        }
    _made_later(inv, day_timestamp(october[0]) - inv["created"])


def _loyalty_coupon(inv: dict[str, Any]) -> None:
    # 10% off every line: a coupon no contract grants
    inv["discounts"] = ["di_demo_loyalty_10"]
    for line in inv["lines"]["data"]:
        line["discount_amounts"] = [
            {"amount": line["amount"] // 10, "discount": "di_demo_loyalty_10"}
        ]


def _tax_miscalculated(inv: dict[str, Any]) -> None:
    # 95.00 of tax too many on the seats, the totals following it
    inv["lines"]["data"][0]["taxes"][0]["amount"] += 9500
    inv["total"] += 9500
    inv["amount_due"] += 9500


def _asks_more_than_its_total(inv: dict[str, Any]) -> None:
    # the amount due is 100.00 above the total, with no balance owed by the customer
    inv["amount_due"] += 10000


def _taxed_though_exempt(inv: dict[str, Any]) -> None:
    # Stripe Tax charged New York's sales tax (4%) to a customer with a valid exemption
    for line in inv["lines"]["data"]:
        line["taxes"] = [_tax("txr_stripe_tax_us_ny", line["amount"], Decimal(4))]
        inv["total"] += line["taxes"][0]["amount"]
        inv["amount_due"] += line["taxes"][0]["amount"]


def _stripe_tax_off(inv: dict[str, Any]) -> None:
    inv["automatic_tax"] = {"enabled": False, "status": None}


def _usage_dropped(inv: dict[str, Any]) -> None:
    inv["lines"]["data"] = [
        line
        for line in inv["lines"]["data"]
        if "storage" not in line["pricing"]["price_details"]["price"]
    ]


DRAFTS: list[DemoDraft] = [
    *[DemoDraft(f"in_demo_eur_2026_{m:02d}", "eur", _month(2026, m), "") for m in range(3, 11)],
    DemoDraft("in_demo_eur_2027_01", "eur", _month(2027, 1), ""),
    DemoDraft("in_demo_eur_price", "eur", _month(2026, 11), "unit_price", _bump_seat_price),
    DemoDraft("in_demo_eur_ramp", "eur", _month(2027, 2), "unit_price", _previous_ramp_phase),
    DemoDraft("in_demo_eur_missing", "eur", _month(2026, 12), "missing_charge", _drop_last_line),
    DemoDraft("in_demo_eur_extra", "eur", _month(2027, 3), "unexplained_line", _extra_line),
    DemoDraft("in_demo_eur_tax", "eur", _month(2027, 4), "tax", _wrong_tax),
    DemoDraft("in_demo_eur_usd", "eur", _month(2027, 5), "currency", _usd),
    DemoDraft("in_demo_eur_due", "eur", _month(2027, 6), "due_date", _late_due_date),
    # An invoice for July 2027 went out already; a second one for July is a duplicate.
    DemoDraft(SENT_INVOICE, "eur", _month(2027, 7), "", status="open"),
    DemoDraft("in_demo_eur_2027_07_again", "eur", _month(2027, 7), "duplicate"),
    *[DemoDraft(f"in_demo_jpy_2026_{m:02d}", "jpy", _month(2026, m), "") for m in range(3, 7)],
    DemoDraft("in_demo_jpy_rounding", "jpy", _month(2026, 7), "line_amount", _one_minor_unit_more),
    *[DemoDraft(f"in_demo_bhd_2026_{m:02d}", "bhd", _month(2026, m), "") for m in range(3, 7)],
    DemoDraft("in_demo_bhd_rounding", "bhd", _month(2026, 7), "line_amount", _one_minor_unit_more),
    *[DemoDraft(f"in_demo_usage_2026_{m:02d}", "usage", _month(2026, m), "") for m in range(3, 6)],
    DemoDraft(
        "in_demo_usage_no_true_up", "usage", _month(2026, 6), "minimum_commit", _drop_last_line
    ),
    DemoDraft("in_demo_usage_overbilled", "usage", _month(2026, 7), "quantity", billed_usage=2300),
    DemoDraft(
        "in_demo_usage_unmeasured", "usage", _month(2026, 8), "usage_not_recorded", billed_usage=900
    ),
    # Stripe's meter missed a day of September: it holds, and bills, less than was measured.
    DemoDraft(
        "in_demo_usage_meter_missed_a_day",
        "usage",
        _month(2026, 9),
        "usage_meter_mismatch",
        billed_usage=2_900,
    ),
    # A first month the contract covers from the 15th: 17/31 of it, as Stripe prorates it.
    DemoDraft("in_demo_partial_first_month", "partial", _month(2026, 3), ""),
    # The last month, to the 14th, billed whole.
    DemoDraft(
        "in_demo_partial_last_billed_whole",
        "partial",
        _month(2027, 3),
        "line_amount",
        _billed_whole,
    ),
    # This month's fee and last month's usage, as Stripe bills a subscription's renewal.
    DemoDraft(
        "in_demo_fee_and_last_months_usage",
        "arrears",
        _month(2026, 4),
        "",
        usage_period=_month(2026, 3),
    ),
    DemoDraft(
        "in_demo_last_months_usage_missing",
        "arrears",
        _month(2026, 5),
        "missing_charge",
        _usage_dropped,
        usage_period=_month(2026, 4),
    ),
    # One invoice for both contracts of the customer.
    DemoDraft(
        "in_demo_two_contracts",
        "partial",
        _month(2026, 6),
        "",
        also=(DemoDraft("", "arrears", _month(2026, 6), "", usage_period=_month(2026, 5)),),
    ),
    DemoDraft(
        "in_demo_eur_mid_month_period", "eur", _month(2027, 8), "billing_period", _shifted_two_weeks
    ),
    # What the invoice says of itself: a coupon, its tax, what it asks for.
    DemoDraft("in_demo_eur_coupon", "eur", _month(2027, 9), "discount", _loyalty_coupon),
    DemoDraft(
        "in_demo_eur_tax_miscalculated",
        "eur",
        _month(2027, 10),
        "tax_amount",
        after=_tax_miscalculated,
    ),
    DemoDraft(
        "in_demo_eur_amount_due_too_high",
        "eur",
        _month(2027, 11),
        "invoice_totals",
        after=_asks_more_than_its_total,
    ),
    # Taxed by Stripe Tax: right with automatic tax on, wrong with it off.
    DemoDraft("in_demo_stripe_tax_2026_09", "stripe_tax", _month(2026, 9), ""),
    DemoDraft(
        "in_demo_stripe_tax_off", "stripe_tax", _month(2026, 10), "automatic_tax", _stripe_tax_off
    ),
    # Exempt customers: one whose evidence ran out, one that Stripe Tax taxed all the same.
    DemoDraft("in_demo_exemption_expired", "exempt_expired", _month(2026, 3), "exemption_evidence"),
    DemoDraft("in_demo_exempt_stripe_tax_2026_03", "exempt_stripe_tax", _month(2026, 3), ""),
    DemoDraft(
        "in_demo_exempt_but_taxed",
        "exempt_stripe_tax",
        _month(2026, 4),
        "taxability",
        after=_taxed_though_exempt,
    ),
    # A terminated contract's last month is checked against it; a month after it is flagged.
    DemoDraft("in_demo_terminated_last_month", "terminated", _month(2026, 9), ""),
    DemoDraft(
        "in_demo_after_termination",
        "terminated",
        _month(2026, 9),
        "after_contract_end",
        _billed_for_october,
    ),
]

# GB of storage the product measured for the usage contract's customer, by month; August's
# figures never arrived.
DEMO_USAGE = {3: 14_000, 4: 9_500, 5: 600, 6: 300, 7: 2_000, 9: 3_000}
# The storage the second contract of Rotterdam Port Systems bills in arrears, by month.
DEMO_ARREARS_USAGE = {3: 1_000, 4: 2_000, 5: 1_500}
# What Stripe's meter holds where it differs from what was measured and sent: September less
# one day's 100 GB.
DEMO_METER_MISSED = {9: 2_900}


def _tax(rate_id: str, amount: int, percentage: Decimal) -> dict[str, Any]:
    return {
        "amount": int((amount * percentage / 100).quantize(Decimal(1), rounding=ROUNDING)),
        "tax_behavior": "exclusive",
        "tax_rate_details": {"tax_rate": rate_id},
        "taxability_reason": "standard_rated",
        "taxable_amount": amount,
        "type": "tax_rate_details",
    }


def _correct_lines(draft: DemoDraft, contract: Contract, invoice_id: str) -> list[dict[str, Any]]:
    """The lines Stripe should bill for the draft's period (and, in arrears, the usage of the
    period before), from the contract's expected charges."""
    currency = contract.currency
    expectation = contract_expectation(contract, draft.period)
    by_key = {
        key: price
        for price, key in expectation.price_lines.items()
        if f"_{draft.period[0]:%Y}" in price
    } | {key: price for price, key in expectation.price_lines.items() if "_all" in price}
    percentages = {
        str(rate): percentage
        for rate, percentage in TaxRate.objects.filter(
            stripe_tax_rate_id__in=expectation.tax_rate_ids
        ).values_list("stripe_tax_rate_id", "percentage")
    }

    def usage_in(period: tuple[date, date]) -> dict[str, int]:
        if draft.billed_usage is not None:
            metrics = [line.metric for line in expectation.terms.lines if line.metric]
            return dict.fromkeys(metrics, draft.billed_usage)
        return expectation.recorded(period)

    charges = list(
        expected_charges(expectation.terms, draft.period, usage_in(draft.period)).charges
    )
    if draft.usage_period:
        charges = [c for c in charges if not expectation.is_usage_key(c.line_key)] + [
            c
            for c in expected_charges(
                expectation.terms, draft.usage_period, usage_in(draft.usage_period)
            ).charges
            if expectation.is_usage_key(c.line_key)
        ]
    lines = []
    for n, charge in enumerate(charges):
        amount = to_stripe_amount(charge.amount, currency)
        line: dict[str, Any] = {
            "id": f"il_{invoice_id}_{contract.number[-3:]}_{n}",
            "object": "line_item",
            "invoice": invoice_id,
            "amount": amount,
            "currency": currency.lower(),
            "description": charge.description,
            "quantity": int(charge.quantity),
            "period": {
                "start": day_timestamp(charge.start),
                "end": day_timestamp(charge.end + timedelta(days=1)),
            },
            "pricing": {
                "type": "price_details",
                "price_details": {"price": by_key.get(charge.line_key)},
                "unit_amount_decimal": (
                    to_stripe_unit_amount_decimal(charge.unit_amount, currency)
                    if charge.unit_amount is not None
                    else str(amount)
                ),
            },
            "taxes": [_tax(rate, amount, percentages[rate]) for rate in expectation.tax_rate_ids],
            "metadata": {"contract_line": charge.line_key}
            if charge.line_key == MINIMUM_COMMIT_KEY
            else {},
            "discounts": [],
            "livemode": False,
            "subscription": None,
        }
        lines.append(line)
    return lines


def _correct_invoice(draft: DemoDraft, contract: Contract) -> dict[str, Any]:
    """The draft Stripe should make, with what the customer's other contracts add to it."""
    currency = contract.currency
    customer = contract.account.stripe_customer_id  # type: ignore[attr-defined]
    lines = _correct_lines(draft, contract, draft.invoice_id)
    for other in draft.also:
        other_contract = Contract.objects.select_related("account").get(
            number=REVIEW_CONTRACTS[other.contract], version=1
        )
        lines += _correct_lines(other, other_contract, draft.invoice_id)
    # As Stripe bills a subscription in advance: made when the period begins (a first, partial
    # period when the contract does), due the contract's payment terms later.
    created = max(draft.period[0], contract.start_date)
    return {
        "id": draft.invoice_id,
        "object": "invoice",
        "customer": customer,
        "currency": currency.lower(),
        "status": draft.status,
        "collection_method": contract.collection_method,
        "created": day_timestamp(created),
        "due_date": day_timestamp(created + timedelta(days=contract.payment_terms_days)),
        "amount_paid": 0,
        # What Stripe sends on every invoice (dj-stripe's pages read them).
        "attempt_count": 0,
        "attempted": False,
        "billing_reason": "subscription_cycle",
        "footer": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "number": None if draft.status == "draft" else f"DEMO-{draft.invoice_id[-8:].upper()}",
        "auto_advance": False,
        "automatically_finalizes_at": None,
        "livemode": False,
        "metadata": {},
        "discounts": [],
        "automatic_tax": {
            "enabled": contract.tax_mode == Contract.TaxMode.STRIPE_TAX,
            "status": "complete" if contract.tax_mode == Contract.TaxMode.STRIPE_TAX else None,
        },
        "lines": {"object": "list", "data": lines, "has_more": False, "url": ""},
    }


def _add_up(invoice: dict[str, Any], percentages: dict[str, Decimal]) -> None:
    """Each line's tax, then subtotal, tax and total from the lines, as Stripe computes them
    (a draft made wrong in its price is still taxed on what it bills)."""
    lines = invoice["lines"]["data"]
    for line in lines:
        off = sum(d["amount"] for d in line.get("discount_amounts") or [])
        line["taxes"] = [
            _tax(rate, line["amount"] - off, percentages[rate])
            for rate in (t["tax_rate_details"]["tax_rate"] for t in line["taxes"])
        ]
    subtotal = sum(line["amount"] for line in lines)
    discounted = sum(d["amount"] for line in lines for d in line.get("discount_amounts") or [])
    tax = sum(t["amount"] for line in lines for t in line["taxes"])
    invoice["subtotal"] = subtotal
    invoice["total_discount_amounts"] = (
        [{"amount": discounted, "discount": invoice["discounts"][0]}] if discounted else []
    )
    invoice["total"] = invoice["amount_due"] = subtotal - discounted + tax
    invoice["total_excluding_tax"] = invoice["subtotal_excluding_tax"] = subtotal - discounted


def _mirror() -> Mirror:
    StripeAccount.objects.get_or_create(
        id=DEMO_STRIPE_ACCOUNT,
        defaults={"stripe_data": {"id": DEMO_STRIPE_ACCOUNT, "object": "account"}},
    )
    mirror = Mirror()
    mirror._owner_account_id = DEMO_STRIPE_ACCOUNT  # no Stripe to ask in the demo
    return mirror


def _write_once(mirror: Mirror, type_key: str, data: dict[str, Any]) -> None:
    """Write a made-up Stripe object unless the mirror has it: written again, it would be a
    same-second state that the mirror settles by asking Stripe, which the demo has not."""
    ot = object_type(type_key)
    if not ot.model.objects.filter(id=data["id"]).exists():
        mirror.write(ot, [data], observed_at=OBSERVED_AT)


def _write_current(
    mirror: Mirror, type_key: str, data: dict[str, Any], mirrored: dict[str, Any] | None
) -> bool:
    """Write a made-up Stripe object unless the mirror holds it as it is (`mirrored`, its
    payload there, None when absent). One an older demo wrote differently (a draft whose
    figures or dates were made another way) is written again, winning the tie of the demo's
    one moment as Stripe's own answer would: the demo is the Stripe here. Whether written."""
    if mirrored is not None and mirrored == json.loads(json.dumps(data)):
        return False
    mirror.write(
        object_type(type_key), [data], observed_at=OBSERVED_AT, wins_ties=mirrored is not None
    )
    return True


def _link_stripe_ids(mirror: Mirror, contracts: dict[str, Contract]) -> None:
    """Stripe ids for what the demo contracts and their customers would have in Stripe."""
    for contract in contracts.values():
        account = contract.account
        customer_id = f"cus_demo_{account.external_ref.lower().replace('-', '')}"
        # Made in Stripe when the customer's first contract was signed.
        signed = min(
            filter(
                None, Contract.objects.filter(account=account).values_list("signed_date", flat=True)
            ),
            default=None,
        )
        _write_once(
            mirror,
            "customers",
            {
                "id": customer_id,
                "object": "customer",
                "name": account.legal_name,
                "created": day_timestamp(signed) if signed else None,
                "metadata": {},
            },
        )
        Account.objects.filter(pk=account.pk).update(stripe_customer_id=customer_id)
        for phase in PricePhase.objects.filter(line__contract=contract).select_related("line"):
            year = f"_{phase.start_date:%Y}" if phase.start_date else "_all"
            PricePhase.objects.filter(pk=phase.pk).update(
                stripe_price_id=demo_price_id(contract.number, phase.line.key, year)
            )
        contract.refresh_from_db()
    for rate in TaxRate.objects.filter(stripe_tax_rate__isnull=True, active=True):
        rate_id = f"txr_demo_{rate.pk}"
        mirror.write(
            object_type("tax_rates"),
            [
                {
                    "id": rate_id,
                    "object": "tax_rate",
                    "display_name": rate.display_name,
                    "percentage": float(rate.percentage),
                    "inclusive": rate.inclusive,
                    "country": str(rate.country),
                    "jurisdiction": rate.jurisdiction,
                    "metadata": {"backoffice_tax_rate_id": str(rate.pk)},
                }
            ],
            observed_at=OBSERVED_AT,
        )
        TaxRate.objects.filter(pk=rate.pk).update(stripe_tax_rate_id=rate_id)


@transaction.atomic
def demo_invoices_ensure() -> list[InvoiceReview]:
    contracts = {
        key: Contract.objects.select_related("account").get(number=number, version=1)
        for key, number in REVIEW_CONTRACTS.items()
    }
    mirror = _mirror()
    _link_stripe_ids(mirror, contracts)
    for month, gigabytes in DEMO_USAGE.items():
        start, end = _month(2026, month)
        UsageQuantity.objects.get_or_create(
            account=contracts["usage"].account,
            metric="storage_gb",
            period_start=start,
            defaults={"period_end": end, "quantity": gigabytes, "source": "demo usage export"},
        )
    for month, gigabytes in DEMO_ARREARS_USAGE.items():
        start, end = _month(2026, month)
        UsageQuantity.objects.get_or_create(
            account=contracts["arrears"].account,
            metric="storage_gb",
            period_start=start,
            defaults={"period_end": end, "quantity": gigabytes, "source": "demo usage export"},
        )
    demo_usage_ensure(mirror)
    percentages = {
        str(rate): percentage
        for rate, percentage in TaxRate.objects.filter(stripe_tax_rate__isnull=False).values_list(
            "stripe_tax_rate_id", "percentage"
        )
    } | {REDUCED_RATE: Decimal(7)}
    mirrored = dict(
        Invoice.objects.filter(id__in=[d.invoice_id for d in DRAFTS]).values_list(
            "id", "stripe_data"
        )
    )
    written = set()
    for draft in DRAFTS:
        contract = Contract.objects.select_related("account").get(pk=contracts[draft.contract].pk)
        invoice = _correct_invoice(draft, contract)
        if draft.change:
            draft.change(invoice)
        _add_up(invoice, percentages)
        if draft.after:
            draft.after(invoice)
        if _write_current(mirror, "invoices", invoice, mirrored.get(draft.invoice_id)):
            written.add(draft.invoice_id)
    # A draft written again is checked again.
    reviewed = set(InvoiceReview.objects.values_list("stripe_invoice_id", flat=True)) - written
    # The invoice already sent is in the queue too, finalized: its page is where a credit
    # note is previewed and issued.
    reviews = [
        invoice_review_run(stripe_invoice_id=d.invoice_id, meters=demo_meters)
        for d in DRAFTS
        if d.invoice_id not in reviewed
    ]
    _credit_note_from_the_dashboard(mirror)
    return reviews


DASHBOARD_CREDIT_NOTE = "cn_demo_dashboard_outage"


def _credit_note_from_the_dashboard(mirror: Mirror) -> None:
    """A credit note support made in Stripe's Dashboard on the invoice already sent (an outage
    credited): it reaches the back-office through the mirror, as any would."""
    data, lines = mirrored_invoice(SENT_INVOICE, missing_ok=False)
    line = min(lines, key=lambda x: str(x["id"]))
    amount = min(5000, int(line.get("amount") or 0))
    # The day after the outage, two weeks after the invoice was made on the 1st.
    created = int(data.get("created") or OBSERVED_AT.timestamp()) + 14 * 86400
    note = {
        "id": DASHBOARD_CREDIT_NOTE,
        "object": "credit_note",
        "invoice": SENT_INVOICE,
        "customer": data.get("customer"),
        "currency": data.get("currency"),
        "amount": amount,
        "subtotal": amount,
        "subtotal_excluding_tax": amount,
        "total": amount,
        "total_excluding_tax": amount,
        "created": created,
        "effective_at": created,
        "livemode": False,
        "memo": "Platform outage of 14 July: one day credited (made by support in Stripe).",
        "metadata": {},
        "number": "DEMO-0907-CN-01",
        "reason": "product_unsatisfactory",
        "status": "issued",
        "type": "pre_payment",
        "voided_at": None,
        "lines": {
            "object": "list",
            "has_more": False,
            "data": [
                {
                    "id": "cnli_demo_dashboard_outage",
                    "object": "credit_note_line_item",
                    "type": "invoice_line_item",
                    "invoice_line_item": line["id"],
                    "description": line.get("description"),
                    "amount": amount,
                    "quantity": 1,
                    "taxes": [],
                }
            ],
        },
    }
    mirrored = (
        CreditNote.objects.filter(stripe_credit_note_id=DASHBOARD_CREDIT_NOTE)
        .values_list("stripe_data", flat=True)
        .first()
    )
    _write_current(mirror, "credit_notes", note, mirrored)


# Usage of the other demo contracts that bill it, measured for the months before the demo's
# "today": (contract, metric) -> units a month.
OTHER_USAGE = {
    ("C-2026-00003", "storage_gb"): 12_500,
    ("C-2026-00004", "api_calls"): 1_450_000,
    ("C-2026-00012", "api_calls"): 4_200_000,
}
OTHER_USAGE_MONTHS = (8, 9, 10)


def demo_usage_ensure(mirror: Mirror) -> None:
    """Usage for every demo contract that bills it, as if sent to Stripe's meters: each figure
    with the meter event it became (the demo has no Stripe to send to)."""
    others = {
        number: Contract.objects.select_related("account").get(number=number, version=1)
        for number, _ in OTHER_USAGE
    }
    _link_stripe_ids(mirror, others)
    for (number, metric), units in OTHER_USAGE.items():
        contract = others[number]
        for month in OTHER_USAGE_MONTHS:
            start, end = _month(2026, month)
            if contract.start_date <= start and end <= contract.end_date:
                UsageQuantity.objects.get_or_create(
                    account=contract.account,
                    metric=metric,
                    period_start=start,
                    defaults={"period_end": end, "quantity": units, "source": "demo usage export"},
                )
    unsent = UsageQuantity.objects.filter(
        account__contracts__number__in=[
            *others,
            REVIEW_CONTRACTS["usage"],
            REVIEW_CONTRACTS["arrears"],
        ],
        meter_events=None,
    ).distinct()
    unsent_ids = list(unsent.values_list("pk", flat=True))
    for usage in UsageQuantity.objects.filter(pk__in=unsent_ids):
        MeterEvent.objects.create(
            usage=usage,
            identifier=f"usage-{usage.pk}-1",
            value=usage.quantity,
            timestamp=datetime.combine(usage.period_end, time(12), tzinfo=UTC),
            status=MeterEvent.Status.SENT,
            sent_at=OBSERVED_AT,
        )
    UsageQuantity.objects.filter(pk__in=unsent_ids).update(
        stripe_status=MeterStatus.SENT, sent_quantity=F("quantity")
    )


def demo_meters(customer_id: str, metrics: set[str], period: tuple[date, date]) -> dict[str, int]:
    """What the demo's Stripe meters hold: what was sent, but for the day September missed on
    the usage contract's meter."""
    held: dict[str, int] = {}
    missed_a_day = Contract.objects.filter(
        number=REVIEW_CONTRACTS["usage"], account__stripe_customer_id=customer_id
    ).exists()
    for metric, quantity, start in UsageQuantity.objects.filter(
        account__stripe_customer_id=customer_id,
        metric__in=metrics,
        period_start__gte=period[0],
        period_end__lte=period[1],
    ).values_list("metric", "sent_quantity", "period_start"):
        if missed_a_day and start.year == 2026 and start.month in DEMO_METER_MISSED:
            quantity = DEMO_METER_MISSED[start.month]
        held[metric] = held.get(metric, 0) + quantity
    return held
