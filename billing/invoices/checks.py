"""The checks of a draft invoice against the signed contract, as pure functions.

`draft_from_stripe` reads Stripe's invoice (API 2026-08-26: a line's price is under
`pricing.price_details`, its taxes under `taxes`); `invoice_flags` compares it with what the
contract expects for the invoice's period and returns every difference as a named rule with a
sentence and both amounts. Nothing here reads the database: the selectors that gather a
contract's expectations and the services that hold, approve and finalize drafts call this.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from billing.money import (
    format_minor,
    format_unit_price,
    stripe_exponent,
    to_stripe_amount,
    to_stripe_charge,
)
from billing.pricing import (
    LATE_USAGE_KEY,
    MINIMUM_COMMIT_KEY,
    Charge,
    Terms,
    billing_period_of,
    expected_charges,
    stripe_day,
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
    BILLING_PERIOD = "billing_period"
    DISCOUNT = "discount"
    TAX_AMOUNT = "tax_amount"
    INVOICE_TOTALS = "invoice_totals"
    AUTOMATIC_TAX = "automatic_tax"
    TAXABILITY = "taxability"
    EXEMPTION_EVIDENCE = "exemption_evidence"
    AFTER_CONTRACT_END = "after_contract_end"
    BEFORE_CONTRACT_START = "before_contract_start"


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
    taxes: tuple["TaxAmount", ...] = ()
    # A correction finance added from the admin: the line it corrects (metadata correction_of).
    corrects: str = ""
    invoice_item: str = ""  # the invoice item behind the line (none: a subscription's line)
    discount_amount: int = 0  # minor units taken off this line before tax (discounts, credits)


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
    status: str = "draft"  # Stripe's: draft, open, paid, uncollectible, void
    # The invoice's own figures, checked against its lines (None: Stripe did not send them).
    total: int | None = None
    amount_due: int | None = None
    starting_balance: int = 0  # the customer's balance: negative is credit applied
    pre_payment_credits: int = 0  # credit notes issued before payment
    pretax_credits: int = 0  # billing credits taken off before tax
    discount_amount: int = 0  # minor units taken off by discounts, all lines together
    discounts: tuple[str, ...] = ()  # the discounts' (or coupons') ids
    automatic_tax: bool = False  # Stripe Tax calculates the invoice's tax

    @property
    def exclusive_tax(self) -> int:
        return sum(t.amount for line in self.lines for t in line.taxes if not t.inclusive)

    @property
    def period(self) -> tuple[date, date] | None:
        if not self.lines:
            return None
        return min(line.period_start for line in self.lines), max(
            line.period_end for line in self.lines
        )


@dataclass(frozen=True)
class RecordedUsage:
    """Units of a metric our side recorded for some days (a usage figure)."""

    metric: str
    start: date
    end: date
    quantity: int


@dataclass(frozen=True)
class ContractExpectation:
    """What one contract version says its invoices hold: built by a selector from the
    contract. A draft may bill several (versions of an amended contract, or several contracts
    of one customer); each line is checked against the version it bills."""

    number: str  # the contract number, as Stripe's metadata carries it
    version: int
    terms: Terms  # start..end: the days this version is in force
    price_lines: Mapping[str, str]  # Stripe price id -> contract line key
    collection_method: str
    payment_terms_days: int
    tax_rate_ids: tuple[str, ...] = ()  # expected on every line; () when no tax is due
    tax_note: str = ""  # why (the rule, exemption, reverse charge, Stripe Tax)
    # The usage figures recorded for the metrics it bills; a period with none of a metric's
    # figures inside it is unknown, not zero.
    usage: Sequence[RecordedUsage] = ()
    stripe_tax: bool = False  # Stripe calculates the tax: the rates are not compared
    # What Stripe's billing meters hold per billing period and usage metric (their event
    # summaries); None when they were not read (no Stripe account connected).
    meter_usage: Mapping[tuple[date, date], Mapping[str, int]] | None = None
    contract_id: int | None = None  # our record, for the services
    ended: str = ""  # why the version stops at terms.end: terminated, expired, superseded
    # Which tax applies (billing.tax.decide's treatment: exempt, reverse_charge, stripe_tax,
    # rule, no_rule), and for an exempt customer the evidence: its reference and the days it
    # is valid (None: no limit on that side).
    tax_treatment: str = ""
    exemption_evidence: str = ""
    exemption_valid: tuple[date | None, date | None] = (None, None)

    @property
    def contract(self) -> str:
        """Number and version, for the messages: "C-2026-00001 v2"."""
        return f"{self.number} v{self.version}"

    def recorded(self, period: tuple[date, date]) -> dict[str, int]:
        """Units recorded per metric by the figures inside the period."""
        used: dict[str, int] = {}
        for figure in self.usage:
            if period[0] <= figure.start and figure.end <= period[1]:
                used[figure.metric] = used.get(figure.metric, 0) + figure.quantity
        return used

    def is_usage_key(self, key: str) -> bool:
        """Whether a contract line is billed in arrears with the usage of its period (usage
        lines, the minimum-commit true-up, late usage) rather than as a fee."""
        if key in (MINIMUM_COMMIT_KEY, LATE_USAGE_KEY):
            return True
        return any(line.key == key and line.is_usage for line in self.terms.lines)

    @property
    def bills_usage(self) -> bool:
        return bool(self.terms.minimum_commit) or any(line.is_usage for line in self.terms.lines)


# What invoice review compares a draft with: one contract version, several, or none found.
Expectations = ContractExpectation | Sequence[ContractExpectation] | None


def expectations_of(expected: Expectations) -> list[ContractExpectation]:
    """As a list in one order (number, then version), whatever order they were read in."""
    if expected is None:
        return []
    if isinstance(expected, ContractExpectation):
        return [expected]
    return sorted(expected, key=lambda e: (e.number, e.version))


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
        start = stripe_day(period.get("start")) or date.min
        # Stripe's period end is the first instant after the period; ours is its last day.
        end = stripe_day(period.get("end")) or start
        if period.get("end") and period.get("end") != period.get("start"):
            end -= timedelta(days=1)
        taxes = tuple(line_tax(tax) for tax in line.get("taxes") or [])
        rates = tuple(tax.rate_id for tax in taxes if tax.rate_id)
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
                taxes=taxes,
                corrects=str((line.get("metadata") or {}).get("correction_of") or ""),
                invoice_item=_invoice_item_of(line),
                discount_amount=_amounts(line.get("discount_amounts"))
                + _amounts(line.get("pretax_credit_amounts")),
            )
        )
    customer = invoice.get("customer")
    return DraftInvoice(
        id=str(invoice["id"]),
        customer_id=str(customer.get("id") if isinstance(customer, dict) else customer),
        currency=str(invoice.get("currency") or "").upper(),
        collection_method=str(invoice.get("collection_method") or ""),
        created=stripe_day(invoice.get("created")) or date.min,
        due_date=stripe_day(invoice.get("due_date")),
        subtotal=int(invoice.get("subtotal") or 0),
        lines=tuple(parsed),
        subscription_id=_subscription_of(invoice),
        status=str(invoice.get("status") or "draft"),
        total=_int_or_none(invoice.get("total")),
        amount_due=_int_or_none(invoice.get("amount_due")),
        starting_balance=int(invoice.get("starting_balance") or 0),
        pre_payment_credits=int(invoice.get("pre_payment_credit_notes_amount") or 0),
        pretax_credits=_amounts(invoice.get("total_pretax_credit_amounts")),
        discount_amount=(
            _amounts(invoice.get("total_discount_amounts"))
            if invoice.get("total_discount_amounts") is not None
            else sum(line.discount_amount for line in parsed)
        ),
        discounts=tuple(_discount_name(d) for d in invoice.get("discounts") or []),
        automatic_tax=bool((invoice.get("automatic_tax") or {}).get("enabled")),
    )


def _invoice_item_of(line: Mapping[str, Any]) -> str:
    details = (line.get("parent") or {}).get("invoice_item_details") or {}
    found = details.get("invoice_item") or line.get("invoice_item")
    return str(found) if found else ""


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _amounts(entries: Any) -> int:
    """The sum of a list of Stripe's `{amount, ...}` (discount or credit amounts)."""
    return sum(int(e.get("amount") or 0) for e in entries or [] if isinstance(e, dict))


def _discount_name(discount: Any) -> str:
    if isinstance(discount, dict):
        coupon = (discount.get("source") or {}).get("coupon") or discount.get("coupon")
        if isinstance(coupon, dict):
            return str(coupon.get("name") or coupon.get("id"))
        return str(coupon or discount.get("id"))
    return str(discount)


def line_tax(tax: Mapping[str, Any]) -> "TaxAmount":
    """One of Stripe's tax objects of a line (`taxes[]`), read."""
    return TaxAmount(
        rate_id=str((tax.get("tax_rate_details") or {}).get("tax_rate") or ""),
        amount=int(tax.get("amount") or 0),
        taxable=int(tax.get("taxable_amount") or 0),
        inclusive=tax.get("tax_behavior") == "inclusive",
        reason=str(tax.get("taxability_reason") or ""),
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
    # The contract version the charge or line is of (None: no contract explains the line),
    # and the contract's own billing period it falls in (None: outside the version's days).
    expected: ContractExpectation | None = None
    period: tuple[date, date] | None = None

    # Several lines (a graduated price's tiers) bill one charge together.
    @property
    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines if not line.corrects)

    @property
    def corrected(self) -> bool:
        """Finance added a correction to the line: its amount is what counts."""
        return any(line.corrects for line in self.lines)

    @property
    def priced(self) -> bool:
        """A line billed at a Stripe price (not an amount-only item added by finance)."""
        return any(line.price_id for line in self.lines)

    @property
    def amount(self) -> int:
        return sum(line.amount for line in self.lines)


def _line_key(line: DraftLine, expected: ContractExpectation) -> str:
    key = expected.price_lines.get(line.price_id or "")
    if key is None and line.contract_line:
        # A one-off item, not a price of the contract: recognised by its metadata
        # (`contract_line`, and `contract`: another contract's item is not this one's). The
        # true-up, late usage, or a charge finance added to a draft.
        number = expected.number
        if line.contract_line == MINIMUM_COMMIT_KEY and line.contract_number in ("", number):
            return MINIMUM_COMMIT_KEY
        known = {LATE_USAGE_KEY, *(term.key for term in expected.terms.lines)}
        if line.contract_line in known and line.contract_number == number:
            return line.contract_line
    return key or ""


def _owner(
    line: DraftLine, expectations: Sequence[ContractExpectation]
) -> tuple[ContractExpectation, str] | None:
    """The contract version a line bills, and its contract line: of the versions whose price
    (or metadata) it carries, the one in force on the line's first day; else the one that
    ended last before it (a charge after the end); else the first to start."""
    owners = [(e, key) for e in expectations if (key := _line_key(line, e))]
    if not owners:
        return None
    day = line.period_start
    inside = [o for o in owners if o[0].terms.start <= day <= o[0].terms.end]
    if inside:
        return inside[-1]
    before = [o for o in owners if o[0].terms.end < day]
    if before:
        return max(before, key=lambda o: o[0].terms.end)
    return min(owners, key=lambda o: o[0].terms.start)


@dataclass(frozen=True)
class Bill:
    """What one contract version bills on the draft for one of its own billing periods: its
    fees, or its usage (with the true-up), each compared with that period's charges. A
    draft made at a period's start carries this period's fees and the last period's usage."""

    expected: ContractExpectation
    period: tuple[date, date]  # the contract's whole billing period (anchor and frequency)
    usage: bool
    pairs: tuple[LinePair, ...]

    def billed_units(self) -> dict[str, int]:
        """Units billed of each usage metric of the version."""
        metric_of = {line.key: line.metric for line in self.expected.terms.lines if line.is_usage}
        billed = dict.fromkeys(metric_of.values(), 0)
        for pair in self.pairs:
            if pair.key in metric_of:
                billed[metric_of[pair.key]] += pair.quantity
        return billed


def _bill(
    expected: ContractExpectation,
    period: tuple[date, date],
    usage: bool,
    lines: list[DraftLine],
    corrections: Mapping[str, list[DraftLine]],
) -> Bill:
    """Each expected charge of the bill with the lines billing it, then the lines left over.

    A line bills a charge when its price is one of the charge's contract line; of several
    (a ramp changing inside the period), the one starting on the charge's first day. Usage
    nobody recorded is taken as billed, so that its price and amount are still checked.
    """
    metric_of = {line.key: line.metric for line in expected.terms.lines if line.is_usage}
    by_key: dict[str, list[DraftLine]] = {}
    billed: dict[str, int] = {}
    for line in lines:
        key = _line_key(line, expected)
        by_key.setdefault(key, []).append(line)
        if key in metric_of:
            billed[metric_of[key]] = billed.get(metric_of[key], 0) + line.quantity
    units = billed | expected.recorded(period)
    pairs = []
    for charge in expected_charges(expected.terms, period, units).charges:
        if expected.is_usage_key(charge.line_key) != usage:
            continue
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
        matched += [c for line in matched for c in corrections.get(line.id, ())]
        pairs.append(LinePair(charge.line_key, charge, tuple(matched), expected, period))
    for key, left in by_key.items():
        pairs.extend(
            LinePair(key, None, (line, *corrections.get(line.id, ())), expected, period)
            for line in left
        )
    return Bill(expected, period, usage, tuple(pairs))


def draft_bills(draft: DraftInvoice, expected: Expectations) -> tuple[list[Bill], list[LinePair]]:
    """The draft's lines placed in the bills of their contract versions and periods, and the
    lines that fit none: a price of no contract, or a day the version is not in force.

    A draft that bills a version's fees for a period and none of its usage owes the usage of
    the period before (Stripe bills usage in arrears on the next period's invoice)."""
    expectations = expectations_of(expected)
    groups: dict[tuple[int, tuple[date, date], bool], list[DraftLine]] = {}
    strays: list[LinePair] = []
    ids = {line.id for line in draft.lines}
    # Corrections finance added go with the line they correct.
    corrections: dict[str, list[DraftLine]] = {}
    for line in draft.lines:
        if line.corrects in ids:
            corrections.setdefault(line.corrects, []).append(line)
    for line in draft.lines:
        if line.corrects in ids:
            continue
        with_corrections = (line, *corrections.get(line.id, ()))
        owner = _owner(line, expectations)
        if owner is None:
            strays.append(LinePair("", None, with_corrections))
            continue
        version, key = owner
        if not version.terms.start <= line.period_start <= version.terms.end:
            strays.append(LinePair(key, None, with_corrections, version))
            continue
        index = expectations.index(version)
        period = billing_period_of(version.terms, line.period_start)
        groups.setdefault((index, period, version.is_usage_key(key)), []).append(line)
    for index, period, usage in list(groups):
        version = expectations[index]
        if usage or not version.bills_usage or any(g[0] == index and g[2] for g in groups):
            continue
        previous = billing_period_of(version.terms, period[0] - timedelta(days=1))
        if previous[1] >= version.terms.start:
            groups[(index, previous, True)] = []
    bills = [
        _bill(expectations[index], period, usage, lines, corrections)
        for (index, period, usage), lines in sorted(
            groups.items(), key=lambda g: (g[0][1], g[0][2], g[0][0])
        )
    ]
    return bills, strays


def line_pairs(draft: DraftInvoice, expected: Expectations) -> list[LinePair]:
    """Every expected charge with the lines billing it, then the lines no charge explains."""
    bills, strays = draft_bills(draft, expected)
    return [pair for bill in bills for pair in bill.pairs] + strays


def main_expectation(draft: DraftInvoice, expected: Expectations) -> ContractExpectation | None:
    """The contract version the draft is mostly for (most lines; the later version on a tie):
    its currency and payment terms are the invoice's."""
    expectations = expectations_of(expected)
    if not expectations:
        return None
    owned = [owner[0] for line in draft.lines if (owner := _owner(line, expectations))]
    return max(
        expectations,
        key=lambda e: (sum(o is e for o in owned), e.terms.start, e.number, e.version),
    )


def true_up_owed(
    draft: DraftInvoice, expected: Expectations
) -> tuple[ContractExpectation, Charge] | None:
    """The minimum-commit true-up the draft owes and does not bill yet, and its contract."""
    for pair in line_pairs(draft, expected):
        if pair.key == MINIMUM_COMMIT_KEY and pair.charge and not pair.lines and pair.expected:
            return pair.expected, pair.charge
    return None


@dataclass(frozen=True)
class UsageLegs:
    """The three figures of one usage metric for a period that must agree before a usage
    draft is approved: what we recorded, what Stripe's meter holds, what the draft bills.
    None: not known (nothing recorded, the meter not read)."""

    metric: str
    recorded: int | None
    meter: int | None
    billed: int
    period: str = ""  # "2026-03-01 to 2026-03-31"

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


def usage_periods(
    draft: DraftInvoice, expected: Expectations
) -> list[tuple[ContractExpectation, tuple[date, date]]]:
    """The billing periods whose usage the draft bills, with their contract version."""
    bills, _ = draft_bills(draft, expected)
    return [(bill.expected, bill.period) for bill in bills if bill.usage]


def usage_legs(draft: DraftInvoice, expected: Expectations) -> list[UsageLegs]:
    """Each metered metric of each usage period the draft bills, with its three figures."""
    return _legs_of(draft_bills(draft, expected)[0])


@dataclass(frozen=True)
class TaxAmount:
    """A tax of a line as Stripe sends it, or of one rate over the invoice, in minor units."""

    rate_id: str  # the Stripe tax rate; "" when Stripe Tax calculated it without one
    amount: int
    taxable: int
    inclusive: bool
    reason: str  # Stripe's taxability reason: standard_rated, reverse_charge, customer_exempt...


def tax_amounts(invoice: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> list[TaxAmount]:
    """The invoice's taxes by rate: Stripe's `total_taxes` when it sends them, otherwise the
    lines' taxes added up (a draft's totals may not be computed yet)."""
    taxes = invoice.get("total_taxes")
    if not taxes:
        taxes = [tax for line in lines for tax in line.get("taxes") or []]
    by_rate: dict[tuple[str, bool, str], list[int]] = {}
    for tax in map(line_tax, taxes):
        totals = by_rate.setdefault((tax.rate_id, tax.inclusive, tax.reason), [0, 0])
        totals[0] += tax.taxable
        totals[1] += tax.amount
    return [
        TaxAmount(rate, amount, taxable, inclusive, reason)
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
    draft: DraftInvoice, expected: Expectations, rate_names: Mapping[str, str]
) -> list[ComparedLine]:
    main = main_expectation(draft, expected)
    if main is None:
        return []
    currency = main.terms.currency

    money = partial(format_minor, currency=currency)

    def taxes(ids: Sequence[str], version: ContractExpectation) -> str:
        if version.stripe_tax:
            return "Stripe Tax"
        return ", ".join(rate_names.get(i, i) for i in ids) or "none"

    rows = []
    for pair in line_pairs(draft, expected):
        version = pair.expected or main
        charge, billed = pair.charge, (pair.lines[0] if pair.lines else None)
        wanted = ("", "", "not charged", "")
        if pair.key == LATE_USAGE_KEY:
            wanted = ("", "", "late usage billed by finance", "")
        elif pair.key and pair.period is None:
            wanted = ("", "", f"not in force (to {version.terms.end})", "")
        if charge is not None:
            if not pair.lines and not charge.amount:
                continue  # nothing owed and nothing billed: not worth a row
            unit = charge.unit_amount
            wanted = (
                f"{charge.quantity:f}",
                unit_price_text(unit.scaleb(stripe_exponent(currency)), currency) if unit else "",
                money(charge_minor(pair, charge, currency)),
                taxes(version.tax_rate_ids, version),
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
                taxes(billed.tax_rate_ids, version),
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
    expected: Expectations,
    *,
    other_invoices_for_period: Sequence[str] = (),
    rate_percentages: Mapping[str, Decimal] | None = None,
) -> list[Flag]:
    """Every way `draft` differs from what its contracts say; empty when it is clean.
    `rate_percentages`: the Stripe tax rates' percentages, for the tax amounts."""
    main = main_expectation(draft, expected)
    if main is None:
        return [
            Flag(
                Rule.NO_CONTRACT,
                "No contract of this customer was in force for the invoice period.",
                expected="a contract in force",
                actual="none",
            )
        ]
    flags: list[Flag] = []
    currency = main.terms.currency
    if draft.currency != currency:
        flags.append(
            Flag(
                Rule.CURRENCY,
                f"The invoice is in {draft.currency}; contract {main.contract} is in {currency}.",
                expected=currency,
                actual=draft.currency,
            )
        )
        return flags  # amounts in another currency cannot be compared
    if other_invoices_for_period:
        flags.append(
            Flag(
                Rule.DUPLICATE,
                f"Another invoice already bills the same prices for the same days: "
                f"{', '.join(other_invoices_for_period)}.",
                expected="one invoice per period",
                actual=", ".join(other_invoices_for_period),
            )
        )
    if not draft.lines:
        return flags

    money = partial(format_minor, currency=currency)
    bills, strays = draft_bills(draft, expected)
    flags.extend(_usage_flags(bills))
    expected_total = 0
    for bill in bills:
        for pair in bill.pairs:
            expected_total += _pair_expected(pair, currency)
            flags.extend(_pair_flags(pair, bill, money))
    for pair in strays:
        flags.extend(_stray_flags(pair, main, money))
    if draft.subtotal != expected_total:
        names = sorted({bill.expected.contract for bill in bills}) or [main.contract]
        flags.append(
            Flag(
                Rule.TOTAL,
                f"The invoice comes to {money(draft.subtotal)} before tax; contract "
                f"{' and '.join(names)} says {money(expected_total)}.",
                expected=money(expected_total),
                actual=money(draft.subtotal),
            )
        )
    flags.extend(_discount_flags(draft, main, money))
    flags.extend(_tax_amount_flags(draft, rate_percentages or {}, money))
    flags.extend(_totals_flags(draft, money))
    flags.extend(_tax_treatment_flags(draft, main, money))
    flags.extend(_terms_flags(draft, main))
    return flags


def _discount_flags(
    draft: DraftInvoice, main: ContractExpectation, money: Callable[[int], str]
) -> list[Flag]:
    """Contracts grant no discount or coupon: their prices are the negotiated ones."""
    if not (draft.discount_amount or draft.discounts):
        return []
    names = ", ".join(draft.discounts) or "a discount"
    return [
        Flag(
            Rule.DISCOUNT,
            f"The invoice takes {money(draft.discount_amount)} off ({names}); contract "
            f"{main.contract} grants no discount or coupon: its prices are the agreed ones.",
            expected="no discount",
            actual=f"{money(draft.discount_amount)} off ({names})",
        )
    ]


# The taxability reasons under which a line is taxed at its rate (our rates send none).
TAXED = {"standard_rated", "reduced_rated", ""}


def _tax_amount_flags(
    draft: DraftInvoice, percentages: Mapping[str, Decimal], money: Callable[[int], str]
) -> list[Flag]:
    """Each line's tax is its rate times its taxable amount (within rounding: Stripe rounds
    each line's tax to the minor unit), and the taxable amount is what the line bills after
    discounts (before tax where the price includes it)."""
    flags = []
    for line in draft.lines:
        net = line.amount - line.discount_amount
        for tax in line.taxes:
            if tax.reason not in TAXED:
                continue  # exempt, reverse charge, zero rated...: the treatment's checks
            what = f"Line '{line.description or line.id}'"
            taxable = net - tax.amount if tax.inclusive else net
            if tax.taxable != taxable:
                flags.append(
                    Flag(
                        Rule.TAX_AMOUNT,
                        f"{what} is taxed on {money(tax.taxable)}; it bills {money(taxable)}"
                        f"{' before tax' if tax.inclusive else ''}.",
                        expected=money(taxable),
                        actual=money(tax.taxable),
                    )
                )
                continue
            percentage = percentages.get(tax.rate_id)
            if percentage is None:
                continue  # Stripe Tax's own rates carry no percentage of ours to compare
            exact = Decimal(tax.taxable) * percentage / 100
            if abs(tax.amount - exact) >= 1:
                flags.append(
                    Flag(
                        Rule.TAX_AMOUNT,
                        f"{what}: {percentage.normalize():f}% of {money(tax.taxable)} is "
                        f"{money(round(exact))}; the invoice says {money(tax.amount)}.",
                        expected=money(round(exact)),
                        actual=money(tax.amount),
                    )
                )
    return flags


def _totals_flags(draft: DraftInvoice, money: Callable[[int], str]) -> list[Flag]:
    """The invoice's total and amount due, against its lines: the subtotal less discounts and
    credits, plus the tax added; then the customer's balance and credit notes applied."""
    flags = []
    lines_subtotal = sum(line.amount for line in draft.lines)
    if draft.lines and draft.subtotal != lines_subtotal:
        flags.append(
            Flag(
                Rule.INVOICE_TOTALS,
                f"The invoice's subtotal is {money(draft.subtotal)}; its lines add up to "
                f"{money(lines_subtotal)}.",
                expected=money(lines_subtotal),
                actual=money(draft.subtotal),
            )
        )
    total = draft.subtotal - draft.discount_amount - draft.pretax_credits + draft.exclusive_tax
    if draft.total is not None and draft.total != total:
        flags.append(
            Flag(
                Rule.INVOICE_TOTALS,
                f"The invoice's total is {money(draft.total)}; {money(draft.subtotal)} less "
                f"{money(draft.discount_amount + draft.pretax_credits)} of discounts and "
                f"credits plus {money(draft.exclusive_tax)} of tax is {money(total)}.",
                expected=money(total),
                actual=money(draft.total),
            )
        )
    if draft.amount_due is not None and draft.total is not None:
        due = max(0, draft.total + draft.starting_balance - draft.pre_payment_credits)
        # The customer's balance is applied when the invoice is finalized: a draft may not
        # count it yet.
        before_balance = max(0, draft.total - draft.pre_payment_credits)
        if draft.amount_due != due and not (
            draft.status == "draft" and draft.amount_due == before_balance
        ):
            credit = -draft.starting_balance + draft.pre_payment_credits
            flags.append(
                Flag(
                    Rule.INVOICE_TOTALS,
                    f"The invoice asks for {money(draft.amount_due)}; its total of "
                    f"{money(draft.total)} less {money(credit)} of the customer's credit "
                    f"(balance and credit notes) is {money(due)}.",
                    expected=money(due),
                    actual=money(draft.amount_due),
                )
            )
    return flags


# What Stripe Tax must say of each line of a customer we treat as exempt or reverse charge.
TAXABILITY = {"exempt": "customer_exempt", "reverse_charge": "reverse_charge"}


def _tax_treatment_flags(
    draft: DraftInvoice, main: ContractExpectation, money: Callable[[int], str]
) -> list[Flag]:
    flags = []
    treatment = main.tax_treatment
    if treatment == "stripe_tax" and not draft.automatic_tax:
        flags.append(
            Flag(
                Rule.AUTOMATIC_TAX,
                f"Stripe Tax is off on this invoice; contract {main.contract} is taxed by "
                "Stripe Tax, so no tax would be calculated.",
                expected="automatic tax on",
                actual="off",
            )
        )
    reason = TAXABILITY.get(treatment)
    if reason and draft.automatic_tax:
        for line in draft.lines:
            wrong = [t for t in line.taxes if t.reason != reason or t.amount]
            if wrong:
                said = ", ".join(
                    f"{t.reason.replace('_', ' ') or 'no reason'} ({money(t.amount)})"
                    for t in wrong
                )
                flags.append(
                    Flag(
                        Rule.TAXABILITY,
                        f"Stripe Tax treats line '{line.description or line.id}' as {said}; "
                        f"the customer is {treatment.replace('_', ' ')} "
                        f"({main.tax_note or treatment}).",
                        expected=reason.replace("_", " "),
                        actual=said,
                    )
                )
    if treatment == "exempt":
        start, until = main.exemption_valid
        day = draft.created
        valid = (start is None or start <= day) and (until is None or day <= until)
        if not main.exemption_evidence or not valid:
            held = (
                f"evidence {main.exemption_evidence} valid from {start or 'any day'} until "
                f"{until or 'no end'}"
                if main.exemption_evidence
                else "no evidence on file"
            )
            flags.append(
                Flag(
                    Rule.EXEMPTION_EVIDENCE,
                    f"The invoice of {day} carries no tax because the customer is exempt, but "
                    f"the exemption's {held}: tax is due unless the evidence is renewed.",
                    expected=f"evidence valid on {day}",
                    actual=held,
                )
            )
    return flags


def charge_minor(pair: LinePair, charge: Charge, currency: str) -> int:
    """What the contract's charge comes to in Stripe's minor units: exactly, on a price's
    line (Stripe prices it); in the step Stripe moves money in, for an amount-only invoice
    item (a true-up, an added charge: 1.235 BHD is billed 1.240)."""
    if pair.priced:
        return to_stripe_amount(charge.amount, currency)
    return to_stripe_charge(charge.amount, currency)


def _pair_expected(pair: LinePair, currency: str) -> int:
    """What the contract says the pair comes to, in minor units."""
    if pair.charge is not None:
        return charge_minor(pair, pair.charge, currency)
    if pair.key == LATE_USAGE_KEY:
        return pair.amount  # priced by us when finance billed it (billing.usage.late_usage)
    return 0


def _usage_flags(bills: Sequence[Bill]) -> list[Flag]:
    flags = []
    for bill in bills:
        if not bill.usage:
            continue
        start, end = bill.period
        recorded = bill.expected.recorded(bill.period)
        billed = bill.billed_units()
        on_lines = {
            line.metric
            for line in bill.expected.terms.lines
            if line.is_usage and any(p.key == line.key and p.lines for p in bill.pairs)
        }
        for metric in sorted(on_lines - set(recorded)):
            flags.append(
                Flag(
                    Rule.USAGE_NOT_RECORDED,
                    f"No usage of {metric} is recorded for {start} to {end}, so the "
                    f"{billed[metric]:,} units billed cannot be checked (their price and amount "
                    "were); import the usage figures.",
                    expected="recorded usage",
                    actual=f"{billed[metric]:,} units billed",
                )
            )
    for legs in _legs_of(bills):
        if why := legs.disagreement():
            flags.append(
                Flag(
                    Rule.USAGE_METER_MISMATCH,
                    why,
                    expected=f"recorded {legs.recorded:,}, meter {legs.meter:,}",
                    actual=f"{legs.billed:,} billed",
                )
            )
    return flags


def _legs_of(bills: Sequence[Bill]) -> list[UsageLegs]:
    legs: list[UsageLegs] = []
    for bill in bills:
        if not bill.usage:
            continue
        billed = bill.billed_units()
        recorded = bill.expected.recorded(bill.period)
        meters = bill.expected.meter_usage
        meter = None if meters is None else meters.get(bill.period, {})
        legs.extend(
            UsageLegs(
                metric,
                recorded.get(metric),
                None if meter is None else meter.get(metric, 0),
                billed[metric],
                f"{bill.period[0]} to {bill.period[1]}",
            )
            for metric in sorted(billed)
        )
    return legs


def _pair_flags(pair: LinePair, bill: Bill, money: Callable[[int], str]) -> list[Flag]:
    version, charge = bill.expected, pair.charge
    currency = version.terms.currency
    if charge is None:
        if pair.key == LATE_USAGE_KEY or (pair.corrected and not pair.amount):
            return []  # priced by us; or a line finance cancelled with a correction
        return [
            Flag(
                Rule.UNEXPLAINED_LINE,
                f"Line '{line.description or line.id}' (contract line {pair.key}) is billed, "
                f"but contract {version.contract} charges nothing for it in "
                f"{bill.period[0]} to {bill.period[1]}.",
                expected="no charge",
                actual=money(line.amount),
            )
            for line in pair.lines
            if not line.corrects
        ]
    amount = charge_minor(pair, charge, currency)
    if not pair.lines:
        if not amount:
            return []  # nothing owed: Stripe may leave a zero line out
        is_true_up = charge.line_key == MINIMUM_COMMIT_KEY
        what = "The minimum-commit true-up" if is_true_up else f"Charge '{charge.description}'"
        return [
            Flag(
                Rule.MINIMUM_COMMIT if is_true_up else Rule.MISSING_CHARGE,
                f"{what} of {money(amount)} for {charge.start} to {charge.end} is not on "
                "the invoice.",
                expected=money(amount),
                actual="missing",
            )
        ]
    flags = []
    line = pair.lines[0]
    if (line.period_start, line.period_end) != (charge.start, charge.end):
        terms = version.terms
        flags.append(
            Flag(
                Rule.BILLING_PERIOD,
                f"'{charge.description}' is billed for {line.period_start} to "
                f"{line.period_end}; contract {version.contract} bills it for {charge.start} "
                f"to {charge.end} (every {terms.billing_months} month(s) from "
                f"{terms.anchor}).",
                expected=f"{charge.start} to {charge.end}",
                actual=f"{line.period_start} to {line.period_end}",
            )
        )
    # Tier lines each have their tier's price; their amounts together are what counts (and
    # with a correction, the amount is what the customer pays). An amount-only item has no
    # unit price: its amount is checked.
    one_price = len(pair.lines) == 1 and pair.priced
    if one_price and charge.unit_amount is not None and line.unit_amount_decimal is not None:
        unit_minor = charge.unit_amount.scaleb(stripe_exponent(currency))
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
    if pair.priced and Decimal(pair.quantity) != charge.quantity:
        flags.append(
            Flag(
                Rule.QUANTITY,
                f"'{charge.description}' bills {pair.quantity} units; the contract says "
                f"{charge.quantity:f}.",
                expected=f"{charge.quantity:f}",
                actual=str(pair.quantity),
            )
        )
    if pair.amount != amount:
        flags.append(
            Flag(
                Rule.LINE_AMOUNT,
                f"'{charge.description}' comes to {money(pair.amount)}; the contract says "
                f"{money(amount)}.",
                expected=money(amount),
                actual=money(pair.amount),
            )
        )
    for billed_line in pair.lines:
        flags.extend(_tax_flags(billed_line, version))
    return flags


def _stray_flags(
    pair: LinePair, main: ContractExpectation, money: Callable[[int], str]
) -> list[Flag]:
    """A line of no contract's price, or billed on days its contract version is not in
    force."""
    line = pair.lines[0]
    if pair.corrected and not pair.amount:
        return []  # finance cancelled the line with a correction
    version = pair.expected
    if version is None:
        return [
            Flag(
                Rule.UNEXPLAINED_LINE,
                f"Line '{line.description or line.id}' ({money(line.amount)}) is not a price "
                f"of contract {main.contract}.",
                expected="no such line",
                actual=money(line.amount),
            )
        ]
    terms = version.terms
    days = f"{line.period_start} to {line.period_end}"
    if line.period_start < terms.start:
        return [
            Flag(
                Rule.BEFORE_CONTRACT_START,
                f"Line '{line.description or line.id}' bills {days}, before contract "
                f"{version.contract} is in force (from {terms.start}).",
                expected=f"from {terms.start}",
                actual=days,
            )
        ]
    why = f", {version.ended}" if version.ended else ""
    return [
        Flag(
            Rule.AFTER_CONTRACT_END,
            f"Line '{line.description or line.id}' ({money(line.amount)}) bills {days}, after "
            f"the last day of contract {version.contract} ({terms.end}{why}): nothing is owed "
            "for those days.",
            expected=f"nothing after {terms.end}",
            actual=money(line.amount),
        )
    ]


def unit_price_text(minor: Decimal, currency: str) -> str:
    """A unit price in Stripe's minor units (unit_amount_decimal), for people."""
    return format_unit_price(minor.scaleb(-stripe_exponent(currency)), currency)


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
