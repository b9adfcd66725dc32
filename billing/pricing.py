"""What a contract is worth: the expected charges for any billing period, ACV and TCV.

Pure functions of a contract's terms (plain dataclasses, no database, no Stripe), so that
invoice review can compare Stripe's drafts against them and the tests can try every case. The
same dataclasses are what the contract rules (billing.contracts.rules) check.

The rules, as finance would state them:
- Amounts are in the contract currency, per billing period (per month on a monthly contract,
  per quarter on a quarterly one, ...). Usage is priced per unit of its metric.
- Billing periods run from the billing anchor in steps of the billing frequency; a period that
  the contract (or a ramp phase) covers only in part is charged pro rata by day.
- Usage is billed in arrears for the whole period at the price of the phase in force on the
  last day the line is in force in that period; usage above the included units is charged.
- Graduated tiers charge each unit at the price of the tier it falls in; volume tiers charge
  every unit at the price of the tier the whole quantity falls in. A tier's flat amount is
  charged once the quantity reaches that tier.
- The minimum commit is an annual amount of usage spend; each period owes its share (by
  months, and by day where the contract covers the period in part), and usage charges below
  that share are topped up by a true-up charge.
- Each charge is rounded to the currency's precision (half away from zero) once, in
  billing.money.quantize; the total is the sum of the rounded charges, as on an invoice.
"""

import bisect
import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from billing.money import quantize

ZERO = Decimal(0)
MINIMUM_COMMIT_KEY = "minimum-commit"
# Usage Stripe's meter could no longer take, billed by finance as an invoice item.
LATE_USAGE_KEY = "late-usage"


class PricingModel(StrEnum):
    FLAT = "flat"
    PER_UNIT = "per_unit"
    GRADUATED = "graduated"
    VOLUME = "volume"
    USAGE = "usage"


def is_metered(metric: str) -> bool:
    """The one definition of a metered line, for pricing, the Stripe push, invoice review and
    the imports: a line priced on a usage metric (usage-based, or graduated or volume tiers on
    usage) bills what was measured of that metric in the period, and in Stripe a billing
    meter records it; any other line bills its committed quantity."""
    return bool(metric.strip())


@dataclass(frozen=True)
class Tier:
    up_to: int | None  # the tier's last unit, inclusive; None for the open-ended last tier
    unit_amount: Decimal = ZERO
    flat_amount: Decimal = ZERO


@dataclass(frozen=True)
class Phase:
    """A line's price over a stretch of the term; a line without a ramp has one phase."""

    start: date
    end: date  # inclusive
    unit_amount: Decimal = ZERO
    flat_amount: Decimal = ZERO
    quantity: int = 0  # committed units (seats) for per-unit and seat-tiered lines
    included_units: int = 0  # usage lines: units included before usage is charged
    tiers: tuple[Tier, ...] = ()


@dataclass(frozen=True)
class Line:
    key: str
    description: str
    model: PricingModel
    phases: tuple[Phase, ...]
    metric: str = ""  # set: the quantity is the usage measured for this metric
    item_id: int | None = None  # the catalog item sold (one product has one price at a time)

    @property
    def is_usage(self) -> bool:
        return is_metered(self.metric)


@dataclass(frozen=True)
class Terms:
    currency: str
    start: date
    end: date  # inclusive
    billing_months: int  # 1, 3, 6 or 12
    anchor: date
    lines: tuple[Line, ...]
    minimum_commit: Decimal | None = None  # annual usage spend committed


@dataclass(frozen=True)
class Charge:
    line_key: str
    description: str
    start: date  # the days of the period this charge covers
    end: date
    quantity: Decimal
    unit_amount: Decimal | None
    amount: Decimal  # rounded to the currency's precision


@dataclass(frozen=True)
class PeriodCharges:
    start: date
    end: date
    charges: tuple[Charge, ...]

    @property
    def total(self) -> Decimal:
        return sum((c.amount for c in self.charges), ZERO)


# --- Dates


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or that month's last day where it has fewer days."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def day_timestamp(day: date) -> int:
    """The day's first instant in UTC, in Unix seconds: how Stripe stamps periods and dates."""
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp())


def timestamp_day(timestamp: int) -> date:
    """The UTC day of a Stripe timestamp."""
    return datetime.fromtimestamp(timestamp, tz=UTC).date()


def stripe_moment(timestamp: Any) -> datetime | None:
    """A timestamp field of Stripe's JSON as an aware UTC datetime; None where Stripe sent
    none."""
    return datetime.fromtimestamp(int(timestamp), tz=UTC) if timestamp else None


def stripe_day(timestamp: Any) -> date | None:
    """The UTC day of a timestamp field of Stripe's JSON; None where Stripe sent none."""
    return timestamp_day(int(timestamp)) if timestamp else None


def invoice_due_day(invoice: Mapping[str, Any]) -> date | None:
    """When a finalized Stripe invoice is due, the one rule every page counts days past due
    from: its due date (an invoice sent for payment), else the day it was finalized (charged
    automatically: Stripe takes the payment then), else the day it was created."""
    return (
        stripe_day(invoice.get("due_date"))
        or stripe_day((invoice.get("status_transitions") or {}).get("finalized_at"))
        or stripe_day(invoice.get("created"))
    )


def days_between(start: date, end: date) -> int:
    """Days from start to end, both included (0 when end is before start)."""
    return max(0, (end - start).days + 1)


def _period_index(anchor: date, months: int, day: date) -> int:
    """Which period, counted in steps of `months` from the anchor, contains `day`."""
    k = 0
    while add_months(anchor, k * months) > day:
        k -= 1
    while add_months(anchor, (k + 1) * months) <= day:
        k += 1
    return k


def next_period_start(anchor: date, months: int, day: date) -> date:
    """The first day of the billing period after the one that contains `day`."""
    return add_months(anchor, (_period_index(anchor, months, day) + 1) * months)


def billing_periods(terms: Terms) -> list[tuple[date, date]]:
    """Every billing period that overlaps the term, whole (not clipped to the term)."""
    step = terms.billing_months
    k = _period_index(terms.anchor, step, terms.start)
    periods = []
    while (start := add_months(terms.anchor, k * step)) <= terms.end:
        periods.append((start, add_months(terms.anchor, (k + 1) * step) - timedelta(days=1)))
        k += 1
    return periods


def billing_period_of(terms: Terms, day: date) -> tuple[date, date]:
    """The whole billing period (anchor and frequency) that contains `day`, inside the term or
    not: invoice review places each line of a draft in its contract's own period."""
    step = terms.billing_months
    k = _period_index(terms.anchor, step, day)
    return add_months(terms.anchor, k * step), add_months(terms.anchor, (k + 1) * step) - timedelta(
        days=1
    )


def billing_period_containing(terms: Terms, day: date) -> tuple[date, date]:
    for period in billing_periods(terms):
        if period[0] <= day <= period[1]:
            return period
    raise ValueError(f"{day} is outside the contract term {terms.start} to {terms.end}")


# --- Tiers


def graduated_amount(quantity: int, tiers: Sequence[Tier]) -> Decimal:
    amount, floor = ZERO, 0
    for tier in tiers:
        if quantity <= floor:
            break
        top = quantity if tier.up_to is None else min(quantity, tier.up_to)
        amount += (top - floor) * tier.unit_amount + tier.flat_amount
        if tier.up_to is None:
            break
        floor = tier.up_to
    return amount


def volume_tier(quantity: int, tiers: Sequence[Tier]) -> Tier:
    for tier in tiers:
        if tier.up_to is None or quantity <= tier.up_to:
            return tier
    raise ValueError(f"no tier for a quantity of {quantity}")


def volume_amount(quantity: int, tiers: Sequence[Tier]) -> Decimal:
    if quantity == 0:
        return ZERO
    tier = volume_tier(quantity, tiers)
    return quantity * tier.unit_amount + tier.flat_amount


# --- Charges


def _overlap(*ranges: tuple[date, date]) -> tuple[date, date] | None:
    start, end = max(r[0] for r in ranges), min(r[1] for r in ranges)
    return (start, end) if start <= end else None


def _committed(line: Line, phase: Phase) -> int:
    """The quantity a fixed line bills each period: its committed units (seats), one fee."""
    return 1 if line.model == PricingModel.FLAT else phase.quantity


def _phase_amount(line: Line, phase: Phase, quantity: int) -> tuple[Decimal, Decimal | None]:
    """The undivided amount for a whole period at `quantity`, and the unit price shown."""
    match line.model:
        case PricingModel.FLAT:
            return phase.flat_amount, None
        case PricingModel.PER_UNIT:
            return quantity * phase.unit_amount, phase.unit_amount
        case PricingModel.GRADUATED:
            return graduated_amount(quantity, phase.tiers), None
        case PricingModel.VOLUME:
            tier = volume_tier(quantity, phase.tiers) if quantity else None
            return volume_amount(quantity, phase.tiers), tier.unit_amount if tier else None
        case PricingModel.USAGE:
            return max(0, quantity - phase.included_units) * phase.unit_amount, phase.unit_amount
    raise ValueError(f"unknown pricing model {line.model!r}")


def _line_charges(
    terms: Terms,
    line: Line,
    period: tuple[date, date],
    window: tuple[date, date],
    usage: Mapping[str, int],
) -> list[Charge]:
    period_days = days_between(*period)
    slices = [
        (phase, s)
        for phase in line.phases
        if (s := _overlap(period, window, (terms.start, terms.end), (phase.start, phase.end)))
    ]
    if not slices:
        return []
    if line.is_usage:
        # Usage is measured for the whole period and priced by the last phase in force.
        phase, (start, end) = slices[-1]
        quantity = usage.get(line.metric, 0)
        amount, unit = _phase_amount(line, phase, quantity)
        start = slices[0][1][0]
        return [_charge(terms, line, start, end, quantity, unit, amount)]
    charges = []
    for phase, (start, end) in slices:
        quantity = _committed(line, phase)
        amount, unit = _phase_amount(line, phase, quantity)
        days = days_between(start, end)
        if days != period_days:
            amount = amount * days / period_days
        charges.append(_charge(terms, line, start, end, quantity, unit, amount))
    return charges


def _charge(
    terms: Terms,
    line: Line,
    start: date,
    end: date,
    quantity: int,
    unit_amount: Decimal | None,
    amount: Decimal,
) -> Charge:
    return Charge(
        line_key=line.key,
        description=line.description,
        start=start,
        end=end,
        quantity=Decimal(quantity),
        unit_amount=unit_amount,
        amount=quantize(amount, terms.currency),
    )


def _commit_share(terms: Terms, period: tuple[date, date], window: tuple[date, date]) -> Decimal:
    """The part of the annual minimum commit that falls in this period (inside the window)."""
    if not terms.minimum_commit:
        return ZERO
    covered = _overlap(period, window, (terms.start, terms.end))
    if covered is None:
        return ZERO
    share = terms.minimum_commit * terms.billing_months / 12
    days, period_days = days_between(*covered), days_between(*period)
    return share if days == period_days else share * days / period_days


def expected_charges(
    terms: Terms,
    period: tuple[date, date],
    usage: Mapping[str, int] | None = None,
    *,
    window: tuple[date, date] | None = None,
) -> PeriodCharges:
    """The charges the contract says one billing period owes.

    `usage` maps each usage metric to the units used in the period (0 when absent).
    `window`, when given, counts only the days inside it (for ACV and TCV).
    """
    usage = usage or {}
    window = window or period
    charges = [
        charge
        for line in terms.lines
        for charge in _line_charges(terms, line, period, window, usage)
    ]
    commit = _commit_share(terms, period, window)
    covered = _overlap(period, window, (terms.start, terms.end))
    if commit and covered:
        usage_spend = sum((c.amount for c in charges if _is_usage_key(terms, c.line_key)), ZERO)
        if usage_spend < commit:
            charges.append(
                Charge(
                    line_key=MINIMUM_COMMIT_KEY,
                    description="Minimum commit true-up",
                    start=covered[0],
                    end=covered[1],
                    quantity=Decimal(1),
                    unit_amount=None,
                    amount=quantize(commit - usage_spend, terms.currency),
                )
            )
    return PeriodCharges(start=period[0], end=period[1], charges=tuple(charges))


def line_amount(terms: Terms, key: str, start: date, end: date, quantity: int) -> Decimal | None:
    """What the contract asks for line `key` billed over the days start to end, at the phase
    in force on `start`: for usage, the `quantity` used, priced whole; for a fixed line, its
    committed quantity (seats billed short are under-billed), a part of a period pro rata by
    day. None when the contract has no such line or no phase in force then. The reports
    compare what an invoice billed with it."""
    found = _line_phase(terms, key, start)
    if found is None:
        return None
    line, phase = found
    if line.is_usage:
        return quantize(_phase_amount(line, phase, quantity)[0], terms.currency)
    # A fixed line owes its committed quantity (seats), whatever quantity was billed.
    amount = _phase_amount(line, phase, _committed(line, phase))[0]
    period = billing_period_of(terms, start)
    days, period_days = days_between(start, min(end, period[1])), days_between(*period)
    if days != period_days:
        amount = amount * days / period_days
    return quantize(amount, terms.currency)


def line_priced_quantity(terms: Terms, key: str, start: date, quantity: int) -> int | None:
    """The quantity line_amount prices for line `key` at the phase in force on `start`: the
    quantity used for usage, the committed units for a fixed line (one for a flat fee),
    whatever quantity was billed. What the contract asks divided by it is the contract's rate
    per unit, which seats billed short of the commitment would otherwise inflate."""
    found = _line_phase(terms, key, start)
    if found is None:
        return None
    line, phase = found
    return quantity if line.is_usage else _committed(line, phase)


def _line_phase(terms: Terms, key: str, start: date) -> tuple[Line, Phase] | None:
    line = next((candidate for candidate in terms.lines if candidate.key == key), None)
    if line is None:
        return None
    phase = next((p for p in line.phases if p.start <= start <= p.end), None)
    return None if phase is None else (line, phase)


def monthly_recurring(terms: Terms, days: Sequence[date]) -> list[Decimal]:
    """The contract's recurring revenue a month (MRR) on each of `days` (in order): each fixed
    line at its phase in force that day, per month (a quarter's price divided by three).
    Usage is not recurring; nothing outside the term. Each phase is priced once, whatever the
    number of days."""
    totals = [ZERO] * len(days)
    for line in terms.lines:
        if line.is_usage:
            continue
        for phase in line.phases:
            first = bisect.bisect_left(days, max(phase.start, terms.start))
            last = bisect.bisect_right(days, min(phase.end, terms.end))
            if first >= last:
                continue
            amount = _phase_amount(line, phase, _committed(line, phase))[0]
            for index in range(first, last):
                totals[index] += amount
    return [quantize(total / terms.billing_months, terms.currency) for total in totals]


def _is_usage_key(terms: Terms, key: str) -> bool:
    return any(line.key == key and line.is_usage for line in terms.lines)


def committed_value(terms: Terms, start: date, end: date) -> Decimal:
    """What the contract is certain to bill between two dates: every fixed charge, plus the
    minimum commit for usage (usage itself is not known in advance)."""
    total = ZERO
    for period in billing_periods(terms):
        if _overlap(period, (start, end)) is None:
            continue
        charges = expected_charges(terms, period, {}, window=(start, end))
        total += charges.total
    return total


def annual_contract_value(terms: Terms) -> Decimal:
    """The committed value of the first twelve months of the term (the whole term if shorter)."""
    first_year_end = min(add_months(terms.start, 12) - timedelta(days=1), terms.end)
    return committed_value(terms, terms.start, first_year_end)


def total_contract_value(terms: Terms) -> Decimal:
    return committed_value(terms, terms.start, terms.end)


def annual_and_total_value(terms: Terms) -> tuple[Decimal, Decimal]:
    """Both values in one pass over the billing periods: a period inside the first twelve
    months counts the same for both, so it is priced once (imports value thousands)."""
    first_year_end = min(add_months(terms.start, 12) - timedelta(days=1), terms.end)
    annual = total = ZERO
    for period in billing_periods(terms):
        whole = expected_charges(terms, period, {}, window=(terms.start, terms.end)).total
        total += whole
        if period[1] <= first_year_end:
            annual += whole
        elif period[0] <= first_year_end:
            window = (terms.start, first_year_end)
            annual += expected_charges(terms, period, {}, window=window).total
    return annual, total
