"""The checks of a draft invoice against the signed contract, as pure functions.

`draft_from_stripe` reads Stripe's invoice (API 2026-08-26: a line's price is under
`pricing.price_details`, its taxes under `taxes`); `invoice_flags` compares it with what the
contract expects for the invoice's period and returns every difference as a named rule with a
sentence and both amounts. Nothing here reads the database: the selectors that gather a
contract's expectations and the services that hold, approve and finalize drafts call this.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from billing.money import decimal_places, format_minor, to_stripe_amount
from billing.pricing import (
    LATE_USAGE_KEY,
    MINIMUM_COMMIT_KEY,
    Charge,
    Terms,
    expected_charges,
    timestamp_day,
)


class Rule:
    """The rule codes (`check_invoices --json` prints them)."""

    NO_CONTRACT = "no_contract"
    CURRENCY = "currency"
    UNIT_PRICE = "unit_price"
    QUANTITY = "quantity"
    LINE_AMOUNT = "line_amount"
    UNEXPLAINED_LINE = "unexplained_line"
    MISSING_CHARGE = "missing_charge"
    MINIMUM_COMMIT = "minimum_commit"
    TOTAL = "total"
    TAX = "tax"
    COLLECTION_METHOD = "collection_method"
    DUE_DATE = "due_date"
    DUPLICATE = "duplicate"
    USAGE_NOT_RECORDED = "usage_not_recorded"
    USAGE_METER_MISMATCH = "usage_meter_mismatch"


@dataclass(frozen=True)
class Flag:
    rule: str
    message: str
    expected: str = ""
    actual: str = ""


@dataclass(frozen=True)
class DraftLine:
    id: str
    price_id: str | None
    description: str
    quantity: int
    unit_amount_decimal: Decimal | None  # minor units, as Stripe sends it
    amount: int  # minor units, before tax
    period_start: date
    period_end: date  # the last day covered
    tax_rate_ids: tuple[str, ...] = ()
    contract_line: str = ""  # metadata of a one-off line (the minimum-commit true-up)
    contract_number: str = ""  # and the contract it is for


@dataclass(frozen=True)
class DraftInvoice:
    id: str
    customer_id: str
    currency: str  # upper case, as ours
    collection_method: str
    created: date
    due_date: date | None
    subtotal: int  # minor units, before tax
    lines: tuple[DraftLine, ...]
    subscription_id: str | None = None

    @property
    def period(self) -> tuple[date, date] | None:
        if not self.lines:
            return None
        return min(line.period_start for line in self.lines), max(
            line.period_end for line in self.lines
        )


@dataclass(frozen=True)
class ContractExpectation:
    """What our side says the invoice should be: built by a selector from the contract."""

    contract: str  # number and version, for the messages: "C-2026-00001 v2"
    terms: Terms
    price_lines: Mapping[str, str]  # Stripe price id -> contract line key
    collection_method: str
    payment_terms_days: int
    tax_rate_ids: tuple[str, ...] = ()  # expected on every line; () when no tax is due
    tax_note: str = ""  # why (the rule, exemption, reverse charge, Stripe Tax)
    # Units recorded per usage metric for the period; a metric left out was not recorded.
    usage: Mapping[str, int] = field(default_factory=dict)
    stripe_tax: bool = False  # Stripe calculates the tax: the rates are not compared
    # What Stripe's billing meters hold per usage metric for the period (their event
    # summaries); None when they were not read (no Stripe account connected).
    meter_usage: Mapping[str, int] | None = None


def _day(timestamp: int | None) -> date | None:
    return timestamp_day(timestamp) if timestamp else None


def draft_from_stripe(
    invoice: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]
) -> DraftInvoice:
    """Stripe's invoice and all its lines (the mirror holds them as rows of their own)."""
    parsed = []
    for line in lines:
        pricing = line.get("pricing") or {}
        details = pricing.get("price_details") or {}
        price = details.get("price")
        price_id = price.get("id") if isinstance(price, dict) else price
        unit = pricing.get("unit_amount_decimal")
        period = line.get("period") or {}
        start = _day(period.get("start")) or date.min
        # Stripe's period end is the first instant after the period; ours is its last day.
        end = _day(period.get("end")) or start
        if period.get("end") and period.get("end") != period.get("start"):
            end -= timedelta(days=1)
        rates = tuple(
            str((tax.get("tax_rate_details") or {}).get("tax_rate"))
            for tax in line.get("taxes") or []
            if (tax.get("tax_rate_details") or {}).get("tax_rate")
        )
        parsed.append(
            DraftLine(
                id=str(line["id"]),
                price_id=str(price_id) if price_id else None,
                description=str(line.get("description") or ""),
                quantity=int(line.get("quantity") or 0),
                unit_amount_decimal=Decimal(str(unit)) if unit is not None else None,
                amount=int(line.get("amount") or 0),
                period_start=start,
                period_end=end,
                tax_rate_ids=rates,
                contract_line=str((line.get("metadata") or {}).get("contract_line") or ""),
                contract_number=str((line.get("metadata") or {}).get("contract") or ""),
            )
        )
    customer = invoice.get("customer")
    return DraftInvoice(
        id=str(invoice["id"]),
        customer_id=str(customer.get("id") if isinstance(customer, dict) else customer),
        currency=str(invoice.get("currency") or "").upper(),
        collection_method=str(invoice.get("collection_method") or ""),
        created=_day(invoice.get("created")) or date.min,
        due_date=_day(invoice.get("due_date")),
        subtotal=int(invoice.get("subtotal") or 0),
        lines=tuple(parsed),
        subscription_id=_subscription_of(invoice),
    )


def _subscription_of(invoice: Mapping[str, Any]) -> str | None:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    found = details.get("subscription") or invoice.get("subscription")
    return str(found) if found else None


@dataclass(frozen=True)
class LinePair:
    """A charge the contract expects and the invoice lines that bill it; either side may be
    missing (a charge not billed, a line the contract does not explain)."""

    key: str  # the contract line key; "" for a line no contract price explains
    charge: Charge | None
    lines: tuple[DraftLine, ...]

    # Several lines (a graduated price's tiers) bill one charge together.
    @property
    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def amount(self) -> int:
        return sum(line.amount for line in self.lines)


def _line_key(line: DraftLine, expected: ContractExpectation) -> str:
    key = expected.price_lines.get(line.price_id or "")
    if key is None and line.contract_line in (MINIMUM_COMMIT_KEY, LATE_USAGE_KEY):
        # A one-off item, not a price of the contract: recognised by its metadata
        # (`contract_line`, and `contract`: another contract's item is not this one's).
        number = expected.contract.split(" ")[0]
        if line.contract_line == LATE_USAGE_KEY and line.contract_number == number:
            return LATE_USAGE_KEY
        if line.contract_line == MINIMUM_COMMIT_KEY and line.contract_number in ("", number):
            return MINIMUM_COMMIT_KEY
    return key or ""


def true_up_owed(draft: DraftInvoice, expected: ContractExpectation) -> Charge | None:
    """The minimum-commit true-up the draft owes and does not bill yet, if any."""
    for pair in line_pairs(draft, expected):
        if pair.key == MINIMUM_COMMIT_KEY and pair.charge is not None and not pair.lines:
            return pair.charge
    return None


def usage_billed(draft: DraftInvoice, expected: ContractExpectation) -> dict[str, int]:
    """Units the invoice bills for each usage metric of the contract."""
    metric_of = {line.key: line.metric for line in expected.terms.lines if line.is_usage}
    billed = dict.fromkeys(metric_of.values(), 0)
    for line in draft.lines:
        metric = metric_of.get(_line_key(line, expected))
        if metric:
            billed[metric] += line.quantity
    return billed


@dataclass(frozen=True)
class UsageLegs:
    """The three figures of one usage metric for the period that must agree before a usage
    draft is approved: what we recorded, what Stripe's meter holds, what the draft bills.
    None: not known (nothing recorded, the meter not read)."""

    metric: str
    recorded: int | None
    meter: int | None
    billed: int

    def disagreement(self) -> str:
        """Which leg differs, in a sentence; "" when the three agree (or one is unknown)."""
        if self.recorded is None or self.meter is None:
            return ""
        recorded, meter, billed = self.recorded, self.meter, self.billed
        if recorded == meter == billed:
            return ""
        if recorded == meter:
            return (
                f"The draft bills {billed:,} units of {self.metric}; our usage and Stripe's "
                f"meter both say {recorded:,}."
            )
        if recorded == billed:
            return (
                f"Stripe's meter holds {meter:,} units of {self.metric}; our usage and the "
                f"draft both say {recorded:,} (usage changed after the draft was made?)."
            )
        if meter == billed:
            return (
                f"Our recorded usage of {self.metric} is {recorded:,}; Stripe's meter and the "
                f"draft both say {meter:,}: usage not (yet) sent to Stripe, or refused."
            )
        return (
            f"The three figures of {self.metric} differ: recorded {recorded:,}, Stripe's meter "
            f"{meter:,}, billed {billed:,}."
        )


def usage_legs(draft: DraftInvoice, expected: ContractExpectation) -> list[UsageLegs]:
    """Each metered metric of the contract with its three figures for the draft's period."""
    billed = usage_billed(draft, expected)
    meter = expected.meter_usage
    return [
        UsageLegs(
            metric,
            expected.usage.get(metric),
            None if meter is None else meter.get(metric, 0),
            billed[metric],
        )
        for metric in sorted(billed)
    ]


def line_pairs(draft: DraftInvoice, expected: ContractExpectation) -> list[LinePair]:
    """Each expected charge with the invoice lines billing it, then the lines left over.

    A line bills a charge when its price is one of the charge's contract line; of several
    (a ramp changing inside the period), the one starting on the charge's first day. Usage
    nobody recorded is taken as billed, so that its price and amount are still checked.
    """
    period = draft.period
    if period is None:
        return []
    usage = usage_billed(draft, expected) | dict(expected.usage)
    by_key: dict[str, list[DraftLine]] = {}
    for line in draft.lines:
        by_key.setdefault(_line_key(line, expected), []).append(line)
    pairs = []
    for charge in expected_charges(expected.terms, period, usage).charges:
        candidates = by_key.get(charge.line_key, [])
        same_start = [line for line in candidates if line.period_start == charge.start]
        first = (same_start or candidates)[:1]
        # Stripe bills a graduated price one line per tier reached: the lines of the same
        # price and period are one charge.
        matched = [
            line
            for line in candidates
            if first
            and (line.price_id, line.period_start, line.period_end)
            == (first[0].price_id, first[0].period_start, first[0].period_end)
        ]
        for line in matched:
            candidates.remove(line)
        pairs.append(LinePair(charge.line_key, charge, tuple(matched)))
    for key, lines in by_key.items():
        pairs.extend(LinePair(key, None, (line,)) for line in lines)
    return pairs


@dataclass(frozen=True)
class TaxAmount:
    """The tax of one rate on the invoice, in minor units."""

    rate_id: str  # the Stripe tax rate; "" when Stripe Tax calculated it without one
    taxable: int
    amount: int
    inclusive: bool
    reason: str  # Stripe's taxability reason: standard_rated, reverse_charge, ...


def tax_amounts(invoice: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> list[TaxAmount]:
    """The invoice's taxes by rate: Stripe's `total_taxes` when it sends them, otherwise the
    lines' taxes added up (a draft's totals may not be computed yet)."""
    taxes = invoice.get("total_taxes")
    if not taxes:
        taxes = [tax for line in lines for tax in line.get("taxes") or []]
    by_rate: dict[tuple[str, bool, str], list[int]] = {}
    for tax in taxes:
        rate = str((tax.get("tax_rate_details") or {}).get("tax_rate") or "")
        key = (
            rate,
            tax.get("tax_behavior") == "inclusive",
            str(tax.get("taxability_reason") or ""),
        )
        totals = by_rate.setdefault(key, [0, 0])
        totals[0] += int(tax.get("taxable_amount") or 0)
        totals[1] += int(tax.get("amount") or 0)
    return [
        TaxAmount(rate, taxable, amount, inclusive, reason)
        for (rate, inclusive, reason), (taxable, amount) in by_rate.items()
    ]


@dataclass(frozen=True)
class ComparedLine:
    """One row of the invoice page: what Stripe bills next to what the contract says, as text
    (quantity, unit price, amount, tax); a cell differing from its pair is a difference."""

    description: str
    start: date
    end: date
    key: str
    billed: tuple[str, str, str, str]
    expected: tuple[str, str, str, str]

    def differences(self) -> tuple[bool, ...]:
        """Per column, whether the two sides differ; a blank side (a flat fee has no unit
        price in the contract) is not compared."""
        return tuple(
            a != b and bool(a) and bool(b) for a, b in zip(self.billed, self.expected, strict=True)
        )


def compare_lines(
    draft: DraftInvoice, expected: ContractExpectation, rate_names: Mapping[str, str]
) -> list[ComparedLine]:
    currency = expected.terms.currency

    money = partial(format_minor, currency=currency)

    def taxes(ids: Sequence[str]) -> str:
        if expected.stripe_tax:
            return "Stripe Tax"
        return ", ".join(rate_names.get(i, i) for i in ids) or "none"

    rows = []
    for pair in line_pairs(draft, expected):
        charge, billed = pair.charge, (pair.lines[0] if pair.lines else None)
        wanted = ("", "", "not charged", "")
        if pair.key == LATE_USAGE_KEY:
            wanted = ("", "", "late usage billed by finance", "")
        if charge is not None:
            unit = charge.unit_amount
            wanted = (
                f"{charge.quantity:f}",
                unit_price_text(unit.scaleb(decimal_places(currency)), currency) if unit else "",
                money(to_stripe_amount(charge.amount, currency)),
                taxes(expected.tax_rate_ids),
            )
        got = ("", "", "not billed", "")
        if billed is not None:
            # Several lines (a graduated price's tiers) are shown as their sum, without a
            # unit price of their own.
            unit_billed = billed.unit_amount_decimal if len(pair.lines) == 1 else None
            got = (
                str(pair.quantity),
                unit_price_text(unit_billed, currency) if unit_billed is not None else "",
                money(pair.amount),
                taxes(billed.tax_rate_ids),
            )
        if charge is not None:
            what, start, end = charge.description, charge.start, charge.end
        elif billed is not None:
            what, start, end = billed.description, billed.period_start, billed.period_end
        else:
            continue  # a pair always has a charge, a line or both
        rows.append(ComparedLine(what, start, end, pair.key, got, wanted))
    return rows


def invoice_flags(
    draft: DraftInvoice,
    expected: ContractExpectation | None,
    *,
    other_invoices_for_period: Sequence[str] = (),
) -> list[Flag]:
    """Every way `draft` differs from what the contract says; empty when it is clean."""
    if expected is None:
        return [
            Flag(
                Rule.NO_CONTRACT,
                "No active contract of this customer covers the invoice period.",
                expected="an active contract",
                actual="none",
            )
        ]
    flags: list[Flag] = []
    currency = expected.terms.currency
    if draft.currency != currency:
        flags.append(
            Flag(
                Rule.CURRENCY,
                f"The invoice is in {draft.currency}; contract {expected.contract} is in "
                f"{currency}.",
                expected=currency,
                actual=draft.currency,
            )
        )
        return flags  # amounts in another currency cannot be compared
    if other_invoices_for_period:
        flags.append(
            Flag(
                Rule.DUPLICATE,
                f"Another invoice already bills this contract for the same period: "
                f"{', '.join(other_invoices_for_period)}.",
                expected="one invoice per period",
                actual=", ".join(other_invoices_for_period),
            )
        )
    period = draft.period
    if period is None:
        return flags

    money = partial(format_minor, currency=currency)

    billed_usage = usage_billed(draft, expected)
    for metric in sorted(set(billed_usage) - set(expected.usage)):
        billed = billed_usage[metric]
        flags.append(
            Flag(
                Rule.USAGE_NOT_RECORDED,
                f"No usage of {metric} is recorded for {period[0]} to {period[1]}, so the "
                f"{billed:,} units billed cannot be checked (their price and amount were); "
                "import the usage figures.",
                expected="recorded usage",
                actual=f"{billed:,} units billed",
            )
        )
    for legs in usage_legs(draft, expected):
        if why := legs.disagreement():
            flags.append(
                Flag(
                    Rule.USAGE_METER_MISMATCH,
                    why,
                    expected=f"recorded {legs.recorded:,}, meter {legs.meter:,}",
                    actual=f"{legs.billed:,} billed",
                )
            )
    expected_total = 0
    for pair in line_pairs(draft, expected):
        charge = pair.charge
        if charge is None and pair.key == LATE_USAGE_KEY:
            # Priced by us when finance decided to bill it (billing.usage.late_usage).
            expected_total += pair.amount
            continue
        if charge is None:
            for line in pair.lines:
                what = (
                    f"(contract line {pair.key}) is billed, but the contract charges nothing "
                    "for it in this period."
                    if pair.key
                    else f"({money(line.amount)}) is not a price of contract {expected.contract}."
                )
                flags.append(
                    Flag(
                        Rule.UNEXPLAINED_LINE,
                        f"Line '{line.description or line.id}' {what}",
                        expected="no charge" if pair.key else "no such line",
                        actual=money(line.amount),
                    )
                )
            continue
        amount = to_stripe_amount(charge.amount, currency)
        expected_total += amount
        if not pair.lines:
            is_true_up = charge.line_key == MINIMUM_COMMIT_KEY
            what = "The minimum-commit true-up" if is_true_up else f"Charge '{charge.description}'"
            flags.append(
                Flag(
                    Rule.MINIMUM_COMMIT if is_true_up else Rule.MISSING_CHARGE,
                    f"{what} of {money(amount)} for {charge.start} to {charge.end} is not on "
                    "the invoice.",
                    expected=money(amount),
                    actual="missing",
                )
            )
            continue
        line = pair.lines[0]
        quantity, billed_amount = pair.quantity, pair.amount
        # Tier lines each have their tier's price; their amounts together are what counts.
        one_price = len(pair.lines) == 1
        if one_price and charge.unit_amount is not None and line.unit_amount_decimal is not None:
            unit_minor = charge.unit_amount.scaleb(decimal_places(currency))
            if unit_minor != line.unit_amount_decimal:
                flags.append(
                    Flag(
                        Rule.UNIT_PRICE,
                        f"'{charge.description}' is priced at "
                        f"{unit_price_text(line.unit_amount_decimal, currency)} a unit; the "
                        f"contract says {unit_price_text(unit_minor, currency)} for this period.",
                        expected=unit_price_text(unit_minor, currency),
                        actual=unit_price_text(line.unit_amount_decimal, currency),
                    )
                )
        if Decimal(quantity) != charge.quantity:
            flags.append(
                Flag(
                    Rule.QUANTITY,
                    f"'{charge.description}' bills {quantity} units; the contract says "
                    f"{charge.quantity:f}.",
                    expected=f"{charge.quantity:f}",
                    actual=str(quantity),
                )
            )
        if billed_amount != amount:
            flags.append(
                Flag(
                    Rule.LINE_AMOUNT,
                    f"'{charge.description}' comes to {money(billed_amount)}; the contract says "
                    f"{money(amount)}.",
                    expected=money(amount),
                    actual=money(billed_amount),
                )
            )
        for billed_line in pair.lines:
            flags.extend(_tax_flags(billed_line, expected))
    if draft.subtotal != expected_total:
        flags.append(
            Flag(
                Rule.TOTAL,
                f"The invoice comes to {money(draft.subtotal)} before tax; contract "
                f"{expected.contract} says {money(expected_total)}.",
                expected=money(expected_total),
                actual=money(draft.subtotal),
            )
        )
    flags.extend(_terms_flags(draft, expected))
    return flags


def unit_price_text(minor: Decimal, currency: str) -> str:
    major = minor.scaleb(-decimal_places(currency)).normalize()
    return f"{major:f} {currency}"


def _tax_flags(line: DraftLine, expected: ContractExpectation) -> list[Flag]:
    if expected.stripe_tax:
        return []
    if set(line.tax_rate_ids) == set(expected.tax_rate_ids):
        return []
    want = ", ".join(expected.tax_rate_ids) or "no tax"
    have = ", ".join(line.tax_rate_ids) or "no tax"
    return [
        Flag(
            Rule.TAX,
            f"Line '{line.description or line.id}' is taxed with {have}; the tax settings say "
            f"{want}{f' ({expected.tax_note})' if expected.tax_note else ''}.",
            expected=want,
            actual=have,
        )
    ]


def _terms_flags(draft: DraftInvoice, expected: ContractExpectation) -> list[Flag]:
    flags = []
    if draft.collection_method != expected.collection_method:
        flags.append(
            Flag(
                Rule.COLLECTION_METHOD,
                f"The invoice is set to {draft.collection_method.replace('_', ' ')}; the "
                f"contract says {expected.collection_method.replace('_', ' ')}.",
                expected=expected.collection_method,
                actual=draft.collection_method,
            )
        )
    if expected.collection_method == "send_invoice":
        due = draft.created + timedelta(days=expected.payment_terms_days)
        if draft.due_date != due:
            flags.append(
                Flag(
                    Rule.DUE_DATE,
                    f"The invoice is due {draft.due_date or 'on no date'}; net "
                    f"{expected.payment_terms_days} from {draft.created} is {due}.",
                    expected=due.isoformat(),
                    actual=draft.due_date.isoformat() if draft.due_date else "none",
                )
            )
    return flags
