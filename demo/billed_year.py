"""Demo: a year of billing for the finance reports, December 2025 to November 2026, as Stripe
holds it on the demo's "today", 3 December 2026.

Every demo contract that was in force bills its periods (per its billing frequency, from its
start, never past its end) on finalized invoices shaped like Stripe's: fees in advance when a
period begins, usage and the minimum-commit true-up in arrears on the next period's invoice,
taxed by the demo's rules, due the contract's payment terms after finalization. Most are paid
a few days to weeks after; the rest are the receivables of an aging report (open, overdue in
each bucket, partly paid, uncollectible, one voided and reissued) and two credit notes. A few
lines are over- or under-billed on purpose (`MISBILLED`), and one contract's true-ups were
never billed (`TRUE_UP_NEVER_BILLED`).

The contracts whose invoices wait in the review queue (demo/invoices.py's drafts) are left to
it: a finalized invoice for a draft's price and days would make the draft a duplicate, and
fees finalized for some months and in review for others would make their billed revenue stop
and start again. Those billing usage alone are billed up to their first draft. Finalized
invoices never enter the review queue (only drafts are reviewed when the mirror writes them).
Written through the mirror in one batch; loading the demo again writes nothing new.
"""

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from djstripe.models import Invoice, LineItem

from billing.contracts.models import Contract, PricePhase
from billing.contracts.selectors import contract_validity
from billing.invoices.checks import ContractExpectation
from billing.invoices.models import CreditNote
from billing.invoices.selectors import WAS_IN_FORCE, contract_expectation
from billing.money import (
    from_stripe_amount,
    quantize,
    to_stripe_amount,
    to_stripe_charge,
    to_stripe_unit_amount_decimal,
)
from billing.pricing import (
    MINIMUM_COMMIT_KEY,
    Charge,
    PricingModel,
    add_months,
    billing_periods,
    day_timestamp,
    expected_charges,
    graduated_amount,
    timestamp_day,
    volume_amount,
)
from billing.tax.models import TaxRate
from billing.usage.models import UsageQuantity
from demo.invoices import (
    DRAFTS,
    _link_stripe_ids,
    _mirror,
    _tax,
    demo_usage_ensure,
)
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type

D = Decimal
DAY = 86400
# The demo's "today": what is paid, open or overdue is as of this day.
AS_OF = date(2026, 12, 3)
# The invoices made in these days (the first and last included) are the demo's year.
YEAR = (date(2025, 12, 1), date(2026, 11, 30))
# Stamped with one moment, so that loading the demo again writes nothing new.
BILLED_OBSERVED_AT = datetime(2026, 12, 3, tzinfo=UTC)
# Stripe finalizes a subscription's draft about an hour after making it.
FINALIZED_AFTER = 3600

OVER, UNDER = "over", "under"
UNIT_PRICE, QUANTITY, DISCOUNT = "unit_price", "quantity", "discount"


def billed_invoice_id(contract: str, made: date, reissue: int = 0) -> str:
    """The demo's finalized invoice of a contract made on `made` (its month names it); a
    reissued one (after a void) is numbered after it."""
    tail = f"_{reissue + 1}" if reissue else ""
    return f"in_demo_billed_{contract.replace('-', '').lower()}_{made:%Y_%m}{tail}"


@dataclass(frozen=True)
class Misbilled:
    """A line of the year billed otherwise than the contract in force says."""

    contract: str
    month: str  # the month the invoice was made, "2026-05"
    line: str  # the contract line (key), as the line's metadata `contract_line` says
    kind: str  # OVER or UNDER
    change: str  # UNIT_PRICE (the rate billed), QUANTITY (seats billed), DISCOUNT (percent off)
    billed: Decimal  # the unit price (contract currency), the seats, or the percentage off

    @property
    def invoice_id(self) -> str:
        return billed_invoice_id(self.contract, date.fromisoformat(f"{self.month}-01"))


MISBILLED: list[Misbilled] = [
    # Northwind Traders (USD): the renewal's 10% uplift applied to May's seats, a year early:
    # 27.50 a seat where the contract says 25.00.
    Misbilled("C-2026-00001", "2026-05", "seats", OVER, UNIT_PRICE, D("27.50")),
    # Kansai Trading (JPY): August's seats at 3,850 yen, 10% above the 3,500 of the ramp's
    # first year.
    Misbilled("C-2026-00010", "2026-08", "seats", OVER, UNIT_PRICE, D("3850")),
    # Gulf Pearl Trading (BHD): September's seats at 3.4375 dinars, 10% above the 3.125 signed
    # (a three-decimal currency: the amount still lands on a whole fils).
    Misbilled("C-2025-00001", "2026-09", "seats", OVER, UNIT_PRICE, D("3.4375")),
    # Bergmann Logistik (EUR): July's seats still billed at 800, though the amendment in force
    # from 1 July commits 1,000 (the expansion reached Stripe a month late).
    Misbilled("C-2026-00002", "2026-07", "seats", UNDER, QUANTITY, D(800)),
    # Alpenrose Versicherung (CHF): the second half-year's seats with a 15% coupon that no
    # contract grants.
    Misbilled("C-2026-00014", "2026-07", "seats", UNDER, DISCOUNT, D(15)),
    # Pacific Coast Media (USD): June billed 100 seats where 120 are committed.
    Misbilled("C-2026-00009", "2026-06", "seats", UNDER, QUANTITY, D(100)),
]

# Thames Analytics (GBP): its usage stayed below the minimum commit every quarter, and the
# true-up the contract owes was never billed (each usage invoice lacks it).
TRUE_UP_NEVER_BILLED = ("C-2026-00004",)


@dataclass(frozen=True)
class Outcome:
    """What became of an invoice, when not paid in the usual few days to weeks."""

    status: str  # Stripe's: open, uncollectible or void
    on: date | None = None  # the day it was voided or marked uncollectible
    paid_share: Decimal = Decimal(0)  # of an open invoice, the part already paid

    @property
    def at(self) -> int:
        """When it was voided or marked uncollectible: that morning, as a Stripe timestamp."""
        if self.on is None:
            raise ValueError(f"An invoice {self.status} says on which day.")
        return day_timestamp(self.on) + 9 * 3600


# (contract, month the invoice was made) -> its outcome: the receivables of the aging report
# as of AS_OF, with net 30 unless said (an invoice made on the 1st is due 30 days later).
RECEIVABLES: dict[tuple[str, str], Outcome] = {
    # Toronto Learning, net 45: November's invoice is due on 16 December, not yet due.
    ("C-2026-00016", "2026-11"): Outcome("open"),
    # Northwind: November's, due 1 December, 1-30 days overdue (with a credit note before
    # payment, below).
    ("C-2026-00001", "2026-11"): Outcome("open"),
    # Tanaka Seimitsu (JPY): the third quarter's storage, due 31 October, half paid: 31-60.
    ("C-2026-00003", "2026-10"): Outcome("open", paid_share=D("0.5")),
    # Gulf Pearl Trading (BHD): October's, due 31 October: 31-60.
    ("C-2025-00001", "2026-10"): Outcome("open"),
    # Bergmann Logistik (EUR): September's, due 1 October: 61-90.
    ("C-2026-00002", "2026-09"): Outcome("open"),
    # Kansai Trading (JPY): August's, over-billed (MISBILLED) and disputed: over 90.
    ("C-2026-00010", "2026-08"): Outcome("open"),
    # Pacific Coast Media (USD), acquired and gone: its last invoice written off.
    ("C-2026-00009", "2026-09"): Outcome("uncollectible", on=date(2026, 11, 20)),
    # Northwind: April's went out without the customer's PO number; voided the next day and
    # reissued.
    ("C-2026-00001", "2026-04"): Outcome("void", on=date(2026, 4, 2)),
}


@dataclass(frozen=True)
class DemoCreditNote:
    id: str
    contract: str
    month: str  # of the invoice credited
    line: str  # the contract line credited
    amount: Decimal  # before tax, in the invoice's currency
    reason: str
    memo: str
    days_after: int  # after the invoice was paid (or, open, finalized)


BILLED_CREDIT_NOTES = [
    # On a paid invoice: Bergmann's March seats, an outage credited after payment (to the
    # customer's balance).
    DemoCreditNote(
        "cn_demo_billed_bergmann_outage",
        "C-2026-00002",
        "2026-03",
        "seats",
        D("500.00"),
        "product_unsatisfactory",
        "Reporting outage of 9 to 11 March: three days of seats credited.",
        days_after=6,
    ),
    # Before payment: Northwind's November seats, 20 seats not in use credited.
    DemoCreditNote(
        "cn_demo_billed_northwind_seats",
        "C-2026-00001",
        "2026-11",
        "seats",
        D("500.00"),
        "order_change",
        "20 seats removed from 1 November, credited before payment.",
        days_after=9,
    ),
]

# Units measured per month of 2026, for the usage contracts' months demo/invoices.py does not
# record (those it records are kept as they are). Rising over the year, as usage does.
BILLED_USAGE: dict[tuple[str, str], dict[int, int]] = {
    ("C-2026-00003", "storage_gb"): {
        1: 9_800,
        2: 10_400,
        3: 10_900,
        4: 11_300,
        5: 11_800,
        6: 12_100,
        7: 12_300,
        11: 12_900,
    },
    ("C-2026-00004", "api_calls"): {
        1: 1_050_000,
        2: 1_120_000,
        3: 1_240_000,
        4: 1_280_000,
        5: 1_330_000,
        6: 1_390_000,
        7: 1_420_000,
        11: 1_480_000,
    },
    ("C-2026-00012", "api_calls"): {
        1: 2_600_000,
        2: 2_750_000,
        3: 3_100_000,
        4: 3_300_000,
        5: 3_500_000,
        6: 3_800_000,
        7: 4_000_000,
        11: 4_400_000,
    },
    # (its months from March are the review queue's drafts; August stays unmeasured there)
    ("C-2026-00904", "storage_gb"): {1: 700, 2: 850},
}


def _month(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    return first, add_months(first, 1) - timedelta(days=1)


def _usage_ensure() -> None:
    """The usage of BILLED_USAGE, recorded once (a month already recorded is kept)."""
    accounts = dict(
        Contract.objects.filter(number__in={number for number, _ in BILLED_USAGE}).values_list(
            "number", "account_id"
        )
    )
    have = set(
        UsageQuantity.objects.filter(account_id__in=accounts.values()).values_list(
            "account_id", "metric", "period_start"
        )
    )
    new = []
    for (number, metric), months in BILLED_USAGE.items():
        for month, units in months.items():
            start, end = _month(2026, month)
            if (accounts[number], metric, start) not in have:
                new.append(
                    UsageQuantity(
                        account_id=accounts[number],
                        metric=metric,
                        period_start=start,
                        period_end=end,
                        quantity=units,
                        source="demo usage export",
                    )
                )
    UsageQuantity.objects.bulk_create(new)


@dataclass(frozen=True)
class _Phase:
    contract_id: int
    key: str
    start: date
    end: date
    model: str
    metered: bool
    price: str
    flat: Decimal


def _phases(versions: Iterable[Contract]) -> list[_Phase]:
    by_pk = {c.pk: c for c in versions}
    return [
        _Phase(
            contract_id,
            key,
            start or by_pk[contract_id].start_date,
            end or by_pk[contract_id].end_date,
            model,
            bool(metric),
            price,
            flat,
        )
        for contract_id, key, start, end, model, metric, price, flat in PricePhase.objects.filter(
            line__contract__in=by_pk
        ).values_list(
            "line__contract_id",
            "line__key",
            "start_date",
            "end_date",
            "line__pricing_model",
            "line__metric",
            "stripe_price_id",
            "flat_amount",
        )
    ]


@dataclass
class _Version:
    contract: Contract
    expectation: ContractExpectation
    phases: list[_Phase]

    def phase_of(self, key: str, day: date) -> _Phase | None:
        return next((p for p in self.phases if p.key == key and p.start <= day <= p.end), None)

    def amount_at(self, charge: Charge, quantity: int) -> Decimal:
        """What the charge's whole period comes to at another quantity, at the contract's
        prices."""
        line = next(x for x in self.expectation.terms.lines if x.key == charge.line_key)
        phase = next(p for p in line.phases if p.start <= charge.start <= p.end)
        match line.model:
            case PricingModel.GRADUATED:
                amount = graduated_amount(quantity, phase.tiers)
            case PricingModel.VOLUME:
                amount = volume_amount(quantity, phase.tiers)
            case _:
                amount = quantity * phase.unit_amount
        return quantize(amount, self.contract.currency)


class _Builder:
    """Stripe's invoices for the year, from the contracts and the usage recorded."""

    def __init__(self) -> None:
        self.percentages = {
            str(rate): percentage
            for rate, percentage in TaxRate.objects.filter(
                stripe_tax_rate__isnull=False
            ).values_list("stripe_tax_rate_id", "percentage")
        }
        self.misbilled = {(m.contract, m.month, m.line): m for m in MISBILLED}
        self.invoices: list[dict[str, Any]] = []
        # per customer, the invoices made before the year (numbers continue from them)
        self.earlier: dict[str, int] = {}

    # --- lines

    def line(
        self,
        version: _Version,
        invoice_id: str,
        n: int,
        charge: Charge,
        month: str,
    ) -> dict[str, Any]:
        """The line Stripe bills for one charge of the contract, as the contract says it or
        as MISBILLED says it went wrong on the invoice of `month`."""
        contract = version.contract
        currency = contract.currency
        phase = version.phase_of(charge.line_key, charge.start)
        quantity, unit = int(charge.quantity), charge.unit_amount
        amount = to_stripe_amount(charge.amount, currency)
        one_off = charge.line_key == MINIMUM_COMMIT_KEY
        if one_off:
            # an invoice item of its own: Stripe moves it in whole steps (BHD: ten fils)
            amount = to_stripe_charge(charge.amount, currency)
        discount = 0
        wrong = self.misbilled.get((contract.number, month, charge.line_key))
        if wrong and wrong.change == UNIT_PRICE:
            unit = wrong.billed
            amount = to_stripe_amount(quantize(unit * quantity, currency), currency)
        elif wrong and wrong.change == QUANTITY:
            quantity = int(wrong.billed)
            amount = to_stripe_amount(version.amount_at(charge, quantity), currency)
        elif wrong and wrong.change == DISCOUNT:
            discount = to_stripe_amount(
                quantize(from_stripe_amount(amount, currency) * wrong.billed / 100, currency),
                currency,
            )
        if unit is not None:
            unit_decimal: str | None = to_stripe_unit_amount_decimal(unit, currency)
        elif phase and phase.model == PricingModel.FLAT:
            unit_decimal = to_stripe_unit_amount_decimal(phase.flat, currency)
        elif one_off:
            unit_decimal = str(amount)
        else:
            unit_decimal = None  # a graduated price: the amount is its tiers' together
        taxes = [
            _tax(rate, amount - discount, self.percentages[rate])
            for rate in version.expectation.tax_rate_ids
        ]
        line: dict[str, Any] = {
            "id": f"il_{invoice_id[3:]}_{n}",
            "object": "line_item",
            "invoice": invoice_id,
            "amount": amount,
            "currency": currency.lower(),
            "description": charge.description,
            "discountable": True,
            "discount_amounts": [{"amount": discount, "discount": _COUPON}] if discount else [],
            "discounts": [_COUPON] if discount else [],
            "livemode": False,
            "metadata": {"contract": contract.number, "contract_line": charge.line_key},
            "period": {
                "start": day_timestamp(charge.start),
                "end": day_timestamp(charge.end + timedelta(days=1)),
            },
            "pretax_credit_amounts": [],
            "quantity": quantity,
            "pricing": {
                "type": "price_details",
                "price_details": {"price": None if one_off else (phase.price if phase else None)},
                "unit_amount_decimal": unit_decimal,
            },
            "subscription": None,
            "taxes": taxes,
        }
        if one_off:
            line["parent"] = {
                "type": "invoice_item_details",
                "invoice_item_details": {
                    "invoice_item": f"ii_{invoice_id[3:]}_{n}",
                    "proration": False,
                    "subscription": None,
                },
            }
        return line

    # --- invoices

    def contract_invoices(self, versions: list[_Version]) -> None:
        """Each invoice a contract's periods make in the year: a period's fees when it begins
        and, on the same invoice, the usage of the period before."""
        latest = versions[-1].contract
        # The whole term's periods (every version has the same anchor and frequency).
        terms = replace(
            versions[-1].expectation.terms, start=latest.start_date, end=latest.end_date
        )
        periods = billing_periods(terms)
        periods.append((add_months(periods[-1][0], terms.billing_months), date.max))
        customer = str(latest.account.stripe_customer_id)  # type: ignore[attr-defined]
        for before, period in zip([None, *periods], periods, strict=False):
            made = max(period[0], terms.start)
            if made > YEAR[1]:
                break
            fees = [
                (v, c)
                for v in versions
                if period[0] <= terms.end
                for c in expected_charges(v.expectation.terms, period).charges
                if not v.expectation.is_usage_key(c.line_key)
            ]
            usage = [] if before is None else self._usage_charges(versions, before)
            if not fees and not usage:
                continue
            if made < YEAR[0]:
                self.earlier[customer] = self.earlier.get(customer, 0) + 1
                continue
            reason = "subscription_create" if made == terms.start else "subscription_cycle"
            self.invoices.append(self._invoice(latest, made, [*fees, *usage], reason))

    def _usage_charges(
        self, versions: list[_Version], period: tuple[date, date]
    ) -> list[tuple[_Version, Charge]]:
        """The usage charges (and the true-up) of a period whose usage was measured."""
        found = []
        for v in versions:
            e = v.expectation
            used = e.recorded(period)
            metrics = {line.metric for line in e.terms.lines if line.is_usage}
            if not metrics or not metrics <= set(used):
                continue
            for charge in expected_charges(e.terms, period, used).charges:
                if not e.is_usage_key(charge.line_key):
                    continue
                if charge.line_key == MINIMUM_COMMIT_KEY and e.number in TRUE_UP_NEVER_BILLED:
                    continue
                found.append((v, charge))
        return found

    def _invoice(
        self,
        contract: Contract,
        made: date,
        charges: list[tuple[_Version, Charge]],
        billing_reason: str,
    ) -> dict[str, Any]:
        invoice_id = billed_invoice_id(contract.number, made)
        month = f"{made:%Y-%m}"
        lines = [
            self.line(version, invoice_id, n, charge, month)
            for n, (version, charge) in enumerate(charges)
        ]
        created = day_timestamp(made)
        account = contract.account
        return {
            "id": invoice_id,
            "object": "invoice",
            "customer": account.stripe_customer_id,  # type: ignore[attr-defined]
            "customer_name": account.legal_name,
            "customer_email": account.billing_email or None,
            "customer_tax_exempt": account.tax_exemption,
            "currency": contract.currency.lower(),
            "collection_method": contract.collection_method,
            "billing_reason": billing_reason,
            "created": created,
            "period_start": day_timestamp(add_months(made, -contract.billing_frequency)),
            "period_end": created,
            "due_date": day_timestamp(made + timedelta(days=contract.payment_terms_days)),
            "effective_at": created + FINALIZED_AFTER,
            "webhooks_delivered_at": created,
            "status_transitions": {
                "finalized_at": created + FINALIZED_AFTER,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            "automatic_tax": {
                "enabled": contract.tax_mode == Contract.TaxMode.STRIPE_TAX,
                "status": "complete" if contract.tax_mode == Contract.TaxMode.STRIPE_TAX else None,
            },
            "auto_advance": True,
            "automatically_finalizes_at": None,
            "next_payment_attempt": None,
            "attempt_count": 0,
            "attempted": False,
            "discounts": sorted({d for line in lines for d in line["discounts"]}),
            "footer": None,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "last_finalization_error": None,
            "livemode": False,
            "metadata": {},
            "number": None,  # given once every invoice of the customer is known
            "receipt_number": None,
            "starting_balance": 0,
            "ending_balance": 0,
            "amount_overpaid": 0,
            "amount_shipping": 0,
            "pre_payment_credit_notes_amount": 0,
            "post_payment_credit_notes_amount": 0,
            "subscription": None,
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
        }


_COUPON = "di_demo_unsigned_15_off"


def _add_up(invoice: dict[str, Any]) -> None:
    """Subtotal, discounts, tax and total from the lines, as Stripe computes them: the tax as
    API 2026-08-26 sends it (`total_taxes`) and as older versions did (`tax`,
    `total_tax_amounts`)."""
    lines = invoice["lines"]["data"]
    subtotal = sum(line["amount"] for line in lines)
    discounted = sum(d["amount"] for line in lines for d in line["discount_amounts"])
    by_rate: dict[str, dict[str, Any]] = {}
    for tax in (t for line in lines for t in line["taxes"]):
        rate = tax["tax_rate_details"]["tax_rate"]
        total = by_rate.setdefault(rate, {**tax, "amount": 0, "taxable_amount": 0})
        total["amount"] += tax["amount"]
        total["taxable_amount"] += tax["taxable_amount"]
    exclusive = sum(t["amount"] for t in by_rate.values() if t["tax_behavior"] == "exclusive")
    invoice["subtotal"] = invoice["subtotal_excluding_tax"] = subtotal
    invoice["total_discount_amounts"] = (
        [{"amount": discounted, "discount": _COUPON}] if discounted else []
    )
    invoice["total_excluding_tax"] = subtotal - discounted
    invoice["total_taxes"] = list(by_rate.values())
    invoice["tax"] = exclusive
    invoice["total_tax_amounts"] = [
        {
            "amount": t["amount"],
            "inclusive": t["tax_behavior"] == "inclusive",
            "tax_rate": t["tax_rate_details"]["tax_rate"],
            "taxability_reason": t["taxability_reason"],
            "taxable_amount": t["taxable_amount"],
        }
        for t in by_rate.values()
    ]
    invoice["total"] = invoice["amount_due"] = subtotal - discounted + exclusive
    invoice["amount_remaining"] = invoice["amount_due"]
    invoice["amount_paid"] = 0


def _seed(text: str) -> int:
    """A fixed number from a text: the same invoice pays on the same day on every load."""
    return zlib.crc32(text.encode())


def _settle(invoice: dict[str, Any], outcome: Outcome | None) -> None:
    """Status, payment and the dates of each, as of AS_OF: paid 3 to 40 days after
    finalization unless its outcome says otherwise (and open when that day is still to come)."""
    finalized = invoice["status_transitions"]["finalized_at"]
    transitions = invoice["status_transitions"]
    today = day_timestamp(AS_OF)
    if outcome is None:
        seed = _seed(invoice["id"])
        paid_at = finalized + (3 + seed % 38) * DAY + (seed % 9) * 3600
        status = "paid" if paid_at < today else "open"
    else:
        status, paid_at = outcome.status, 0
    invoice["status"] = status
    due = invoice["amount_due"]
    if status == "paid":
        transitions["paid_at"] = paid_at
        invoice.update(amount_paid=due, amount_remaining=0, attempted=True, attempt_count=1)
        invoice["auto_advance"] = False
    elif status == "open" and outcome and outcome.paid_share:
        paid = int(due * outcome.paid_share)
        invoice.update(amount_paid=paid, amount_remaining=due - paid, attempted=True)
        invoice["attempt_count"] = 1
    elif outcome and status == "void":
        transitions["voided_at"] = outcome.at
        invoice.update(amount_remaining=0, auto_advance=False)
    elif outcome and status == "uncollectible":
        transitions["marked_uncollectible_at"] = outcome.at
        invoice["auto_advance"] = False


def _reissued(invoice: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
    """The invoice made again the day the first was voided: the same lines, new ids."""
    number = invoice["lines"]["data"][0]["metadata"]["contract"]
    new_id = billed_invoice_id(number, timestamp_day(invoice["created"]), reissue=1)
    made = outcome.at - 9 * 3600
    lines = [
        {**line, "id": line["id"].replace(invoice["id"][3:], new_id[3:]), "invoice": new_id}
        for line in invoice["lines"]["data"]
    ]
    terms = invoice["due_date"] - invoice["created"]
    return {
        **invoice,
        "id": new_id,
        "created": made,
        "due_date": made + terms,
        "effective_at": made + FINALIZED_AFTER,
        "webhooks_delivered_at": made,
        "billing_reason": "manual",
        "status_transitions": {
            "finalized_at": made + FINALIZED_AFTER,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "lines": {**invoice["lines"], "data": lines, "url": f"/v1/invoices/{new_id}/lines"},
    }


def _number(invoices: list[dict[str, Any]], earlier: dict[str, int]) -> None:
    """Each customer's invoices numbered in the order they were finalized, after those made
    before the year: "CRM0001-0005"."""
    seen = dict(earlier)
    for invoice in sorted(invoices, key=lambda i: (i["created"], i["id"])):
        customer = invoice["customer"]
        seen[customer] = seen.get(customer, 0) + 1
        prefix = customer.removeprefix("cus_demo_").upper()
        invoice["number"] = f"{prefix}-{seen[customer]:04d}"


def _credit_note(
    note: DemoCreditNote, invoice: dict[str, Any], percentages: dict[str, Decimal]
) -> dict[str, Any]:
    """The credit note, and what it changes on its invoice: paid, it is credited to the
    customer's balance; open, it lowers what is due. Its tax is the line's rate on the amount
    credited."""
    currency = invoice["currency"].upper()
    line = next(x for x in invoice["lines"]["data"] if x["metadata"]["contract_line"] == note.line)
    amount = to_stripe_charge(note.amount, currency)
    taxes = [
        _tax(rate, amount, percentages[rate])
        for rate in (t["tax_rate_details"]["tax_rate"] for t in line["taxes"])
    ]
    total = amount + sum(t["amount"] for t in taxes if t["tax_behavior"] == "exclusive")
    paid = invoice["status"] == "paid"
    since = invoice["status_transitions"]["paid_at" if paid else "finalized_at"]
    created = since + note.days_after * DAY
    if paid:
        invoice["post_payment_credit_notes_amount"] = total
    else:
        invoice["pre_payment_credit_notes_amount"] = total
        invoice["amount_due"] -= total
        invoice["amount_remaining"] = invoice["amount_due"] - invoice["amount_paid"]
    return {
        "id": note.id,
        "object": "credit_note",
        "invoice": invoice["id"],
        "customer": invoice["customer"],
        "currency": invoice["currency"],
        "amount": total,
        "amount_shipping": 0,
        "subtotal": amount,
        "subtotal_excluding_tax": amount,
        "total": total,
        "total_excluding_tax": amount,
        "total_taxes": taxes,
        "discount_amount": 0,
        "discount_amounts": [],
        "created": created,
        "effective_at": created,
        "customer_balance_transaction": f"cbtxn_{note.id[3:]}" if paid else None,
        "livemode": False,
        "memo": note.memo,
        "metadata": {},
        "number": f"{invoice['number']}-CN-01",
        "out_of_band_amount": None,
        "pdf": None,
        "post_payment_amount": total if paid else 0,
        "pre_payment_amount": 0 if paid else total,
        "reason": note.reason,
        "refunds": [],
        "status": "issued",
        "type": "post_payment" if paid else "pre_payment",
        "voided_at": None,
        "lines": {
            "object": "list",
            "has_more": False,
            "url": f"/v1/credit_notes/{note.id}/lines",
            "data": [
                {
                    "id": f"cnli_{note.id[3:]}",
                    "object": "credit_note_line_item",
                    "type": "invoice_line_item",
                    "invoice_line_item": line["id"],
                    "description": line["description"],
                    "amount": amount,
                    "discount_amount": 0,
                    "discount_amounts": [],
                    "quantity": 1,
                    "livemode": False,
                    "taxes": taxes,
                    "unit_amount": None,
                    "unit_amount_decimal": None,
                    "metadata": {},
                }
            ],
        },
    }


def _in_review(by_number: dict[str, list[_Version]]) -> dict[str, int | None]:
    """The contracts the review queue's drafts bill: None for those whose fees are drafted
    (left out of the year), else the moment their first drafted usage begins (billed up to
    it), as a Stripe timestamp."""
    phases = {
        p.price: (n, p) for n, versions in by_number.items() for v in versions for p in v.phases
    }
    fees: set[str] = set()
    usage: dict[str, int] = {}
    for price, period in LineItem.objects.filter(
        stripe_data__invoice__in=[d.invoice_id for d in DRAFTS]
    ).values_list("stripe_data__pricing__price_details__price", "stripe_data__period"):
        if price in phases:
            number, phase = phases[price]
            if phase.metered:
                usage[number] = min(usage.get(number, period["start"]), period["start"])
            else:
                fees.add(number)
    return {**usage, **dict.fromkeys(fees)}


def _versions_linked(mirror: Mirror) -> dict[str, list[_Version]]:
    """Every version in force on some day, by contract number, with Stripe ids for its
    customer and prices (as demo/invoices.py gives the contracts of its drafts)."""
    versions = list(
        Contract.objects.filter(status__in=WAS_IN_FORCE)
        .select_related("account")
        .order_by("number", "version")
    )
    unlinked = set(
        PricePhase.objects.filter(line__contract__in=versions, stripe_price_id="").values_list(
            "line__contract_id", flat=True
        )
    )
    unlinked |= {c.pk for c in versions if not c.account.stripe_customer_id}  # type: ignore[attr-defined]
    if unlinked:
        _link_stripe_ids(mirror, {str(c.pk): c for c in versions if c.pk in unlinked})
        for contract in versions:
            contract.account.refresh_from_db(fields=["stripe_customer"])
    phases = _phases(versions)
    by_number: dict[str, list[_Version]] = {}
    for contract in versions:
        start, end = contract_validity(contract)
        if start > end:
            continue  # superseded before it began
        by_number.setdefault(contract.number, []).append(
            _Version(
                contract,
                contract_expectation(contract, YEAR),
                [p for p in phases if p.contract_id == contract.pk],
            )
        )
    return by_number


def billed_year() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The year's invoices and credit notes, as Stripe holds them on AS_OF (nothing written)."""
    mirror = _mirror()
    by_number = _versions_linked(mirror)
    in_review = _in_review(by_number)
    builder = _Builder()
    for number, versions in by_number.items():
        if number not in in_review or in_review[number] is not None:
            builder.contract_invoices(versions)
    invoices = []
    for invoice in builder.invoices:
        lines = invoice["lines"]["data"]
        drafted = in_review.get(lines[0]["metadata"]["contract"])
        if drafted is not None and any(line["period"]["end"] > drafted for line in lines):
            continue  # its usage is the review queue's from here
        _add_up(invoice)
        contract = invoice["lines"]["data"][0]["metadata"]["contract"]
        outcome = RECEIVABLES.get(
            (contract, datetime.fromtimestamp(invoice["created"], UTC).strftime("%Y-%m"))
        )
        invoices.append(invoice)
        if outcome and outcome.status == "void":
            reissued = _reissued(invoice, outcome)
            _settle(reissued, None)
            invoices.append(reissued)
        _settle(invoice, outcome)
    _number(invoices, builder.earlier)
    by_id = {i["id"]: i for i in invoices}
    notes = [
        _credit_note(
            note,
            by_id[billed_invoice_id(note.contract, date.fromisoformat(f"{note.month}-01"))],
            builder.percentages,
        )
        for note in BILLED_CREDIT_NOTES
    ]
    return invoices, notes


@dataclass(frozen=True)
class BilledYearWritten:
    invoices: int
    credit_notes: int


@transaction.atomic
def demo_billed_year_ensure() -> BilledYearWritten:
    """Record the year's usage, then write its invoices and credit notes to the mirror: those
    it lacks, and those an older demo wrote otherwise (written again, winning the tie of the
    demo's one moment). How many were written."""
    mirror = _mirror()
    _usage_ensure()
    demo_usage_ensure(mirror)  # sent to the demo's meters, as the rest of the demo's usage
    invoices, notes = billed_year()
    mirrored = dict(
        Invoice.objects.filter(id__in=[i["id"] for i in invoices]).values_list("id", "stripe_data")
    )
    new = [i for i in invoices if i["id"] not in mirrored]
    changed = [i for i in invoices if i["id"] in mirrored and mirrored[i["id"]] != i]
    invoices_type = object_type("invoices")
    mirror.write(invoices_type, new, observed_at=BILLED_OBSERVED_AT)
    mirror.write(invoices_type, changed, observed_at=BILLED_OBSERVED_AT, wins_ties=True)
    # Credit notes reach billing through the mirror's hook, as Stripe's own would.
    mirrored_notes = dict(
        CreditNote.objects.filter(stripe_credit_note_id__in=[n["id"] for n in notes]).values_list(
            "stripe_credit_note_id", "stripe_data"
        )
    )
    new_notes = [n for n in notes if n["id"] not in mirrored_notes]
    changed_notes = [n for n in notes if n["id"] in mirrored_notes and mirrored_notes[n["id"]] != n]
    notes_type = object_type("credit_notes")
    mirror.write(notes_type, new_notes, observed_at=BILLED_OBSERVED_AT)
    mirror.write(notes_type, changed_notes, observed_at=BILLED_OBSERVED_AT, wins_ties=True)
    return BilledYearWritten(len(new) + len(changed), len(new_notes) + len(changed_notes))
