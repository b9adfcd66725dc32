"""The rules a contract's prices must follow, as pure functions over the pricing engine's own
dataclasses (billing.pricing: Line, Phase, Tier, with a phase's blank dates already read as the
contract's start and end).

The admin's forms, the services and the CSV imports all call these, so a contract is refused
for the same reasons, in the same words, whichever way it arrives. Each message names the
line (`Line seats`), phase or tier and the field, and says what is wrong; as a RuleError it
also carries them, so the contract page shows it on that row and field.
"""

import itertools
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from billing.money import decimal_places, is_exact
from billing.pricing import Line, Phase, PricingModel, Tier

TIERED = {PricingModel.GRADUATED, PricingModel.VOLUME}
METRIC_ALLOWED = TIERED | {PricingModel.USAGE}


class RuleError(str):
    """A rule's message, and what it is about: the line, phase and tier (the pricing engine's
    objects that were checked) and the field. Anywhere else it is just its text."""

    line: Line | None = None
    phase: Phase | None = None
    tier: Tier | None = None
    field: str | None = None

    def at(self, **where: Any) -> "RuleError":
        """The same message, placed within what encloses it (a tier's error within its phase
        and line); what it already names stays."""
        error = RuleError(self)
        error.__dict__.update(where)
        error.__dict__.update(self.__dict__)
        return error


def _error(message: str, **where: Any) -> RuleError:
    error = RuleError(message)
    error.__dict__.update(where)
    return error


def line_label(line: Line) -> str:
    """How messages name a line: by its key."""
    return f"Line {line.key}"


def _precision_error(amount: Decimal, currency: str, what: str, **where: Any) -> RuleError | None:
    if is_exact(amount, currency):
        return None
    places = decimal_places(currency)
    has = {0: "no decimals", 2: "two decimals", 3: "three decimals"}[places]
    return _error(f"{what} {amount} has too many decimals: {currency} amounts have {has}.", **where)


def tier_errors(
    tiers: Sequence[Tier], *, currency: str, prefix: str = "", per_unit_exact: bool = True
) -> list[RuleError]:
    errors: list[RuleError] = []
    if not tiers:
        return [_error(f"{prefix}a tiered price needs at least one tier.")]
    for n, tier in enumerate(tiers, start=1):
        name = f"{prefix}tier {n}"
        if tier.unit_amount < 0 or tier.flat_amount < 0:
            field = "unit_amount" if tier.unit_amount < 0 else "flat_amount"
            errors.append(_error(f"{name}: amounts cannot be negative.", tier=tier, field=field))
        if e := _precision_error(
            tier.flat_amount, currency, f"{name}: flat amount", tier=tier, field="flat_amount"
        ):
            errors.append(e)
        if per_unit_exact and (
            e := _precision_error(
                tier.unit_amount, currency, f"{name}: unit amount", tier=tier, field="unit_amount"
            )
        ):
            errors.append(e)
        if tier.up_to is None and n != len(tiers):
            errors.append(
                _error(
                    f"{name}: only the last tier can be open-ended ('up to' blank).",
                    tier=tier,
                    field="up_to",
                )
            )
    if tiers[-1].up_to is not None:
        errors.append(
            _error(
                f"{prefix}tier {len(tiers)}: the last tier must be open-ended (leave 'up to' "
                "blank), so every quantity has a price.",
                tier=tiers[-1],
                field="up_to",
            )
        )
    bounded = [(t.up_to, t) for t in tiers if t.up_to is not None]
    for n, ((low, _), (high, tier)) in enumerate(itertools.pairwise(bounded), start=2):
        if high <= low:
            errors.append(
                _error(
                    f"{prefix}tier {n}: 'up to' ({high}) must be greater than the tier "
                    f"before's ({low}); tiers go in ascending order.",
                    tier=tier,
                    field="up_to",
                )
            )
    return errors


def phase_errors(
    phases: Sequence[Phase], *, term: tuple[date, date], prefix: str = ""
) -> list[RuleError]:
    """Ramp phases: inside the term, no gaps, no overlaps."""
    errors: list[RuleError] = []
    if not phases:
        return [_error(f"{prefix}a line needs at least one price phase.")]
    spans = []
    for n, phase in enumerate(phases, start=1):
        start, end = phase.start, phase.end
        name = f"{prefix}phase {n}"
        if end < start:
            errors.append(
                _error(
                    f"{name}: ends {end}, before it starts {start}.", phase=phase, field="end_date"
                )
            )
        if start < term[0] or end > term[1]:
            errors.append(
                _error(
                    f"{name}: {start} to {end} is outside the contract term {term[0]} to "
                    f"{term[1]}.",
                    phase=phase,
                    field="start_date" if start < term[0] else "end_date",
                )
            )
        spans.append((start, end, n))
    spans.sort()
    for (_, end, n), (next_start, _, m) in itertools.pairwise(spans):
        if next_start <= end:
            errors.append(
                _error(
                    f"{prefix}phase {m} starts {next_start}, before phase {n} ends {end}: "
                    "phases cannot overlap.",
                    phase=phases[m - 1],
                    field="start_date",
                )
            )
        elif next_start > end + timedelta(days=1):
            errors.append(
                _error(
                    f"{prefix}gap between phase {n} (ends {end}) and phase {m} (starts "
                    f"{next_start}): a ramp's phases follow each other day after day.",
                    phase=phases[m - 1],
                    field="start_date",
                )
            )
    return errors


def line_errors(line: Line, *, currency: str, term: tuple[date, date]) -> list[RuleError]:
    prefix = f"{line_label(line)}, "
    errors: list[RuleError] = []
    usage_priced = line.is_usage
    if line.model == PricingModel.USAGE and not line.metric:
        errors.append(
            _error(
                f"{prefix}a usage-based line needs its usage metric (e.g. api_calls).",
                field="metric",
            )
        )
    if line.metric and line.model not in METRIC_ALLOWED:
        errors.append(
            _error(
                f"{prefix}only usage-based and tiered lines have a usage metric; clear it or "
                "choose another pricing model.",
                field="metric",
            )
        )
    errors += phase_errors(line.phases, term=term, prefix=prefix)
    for n, phase in enumerate(line.phases, start=1):
        name = f"{prefix}phase {n}: "
        at_phase: list[RuleError] = []
        if line.model in TIERED:
            at_phase += tier_errors(
                phase.tiers, currency=currency, prefix=name, per_unit_exact=not usage_priced
            )
        elif phase.tiers:
            at_phase.append(
                _error(f"{name}only tiered lines have tiers; remove them or choose tiers.")
            )
        if e := _precision_error(
            phase.flat_amount, currency, f"{name}flat amount", field="flat_amount"
        ):
            at_phase.append(e)
        if line.model == PricingModel.PER_UNIT:
            if e := _precision_error(
                phase.unit_amount, currency, f"{name}unit amount", field="unit_amount"
            ):
                at_phase.append(e)
            if phase.quantity < 1:
                at_phase.append(
                    _error(
                        f"{name}a per-unit line needs its committed quantity (at least 1).",
                        field="quantity",
                    )
                )
        if line.model == PricingModel.FLAT and phase.flat_amount <= 0:
            at_phase.append(
                _error(f"{name}a flat fee line needs its flat amount.", field="flat_amount")
            )
        if phase.included_units and line.model != PricingModel.USAGE:
            at_phase.append(
                _error(
                    f"{name}included units apply to usage-based lines only.",
                    field="included_units",
                )
            )
        amounts = {"unit_amount": phase.unit_amount, "flat_amount": phase.flat_amount}
        for field, amount in amounts.items():
            if amount < 0:
                label = field.replace("_", " ")
                at_phase.append(_error(f"{name}{label} {amount} cannot be negative.", field=field))
        errors += [error.at(phase=phase) for error in at_phase]
    return [error.at(line=line) for error in errors]


def commit_errors(minimum_commit: Decimal | None, currency: str) -> list[tuple[str, str]]:
    """The minimum commit as an amount of the contract's currency, as (field, message): checked
    with the contract's terms, before it has lines (an import of contracts alone)."""
    if minimum_commit is None:
        return []
    errors = []
    if minimum_commit < 0:
        errors.append(("minimum_commit", "Minimum commit cannot be negative."))
    if (e := _precision_error(minimum_commit, currency, "Minimum commit")) is not None:
        errors.append(("minimum_commit", e))
    return errors


def contract_errors(
    lines: Sequence[Line],
    *,
    currency: str,
    term: tuple[date, date],
    minimum_commit: Decimal | None = None,
) -> list[RuleError]:
    errors: list[RuleError] = []
    if term[1] < term[0]:
        return [_error(f"The contract ends {term[1]}, before it starts {term[0]}.")]
    if minimum_commit is not None:
        errors += [_error(message) for _, message in commit_errors(minimum_commit, currency)]
        if minimum_commit and not any(line.is_usage for line in lines):
            errors.append(
                _error("A minimum commit needs at least one usage-based line to count against.")
            )
    for line in lines:
        errors += line_errors(line, currency=currency, term=term)
    # The same product cannot be priced twice on the same day.
    by_item: dict[int, list[tuple[date, date, int, Line]]] = {}
    for n, line in enumerate(lines):
        if line.item_id is None:
            continue
        for phase in line.phases:
            by_item.setdefault(line.item_id, []).append((phase.start, phase.end, n, line))
    for spans in by_item.values():
        spans.sort(key=lambda span: span[:3])
        for (_, end, _, first), (start, _, _, second) in itertools.pairwise(spans):
            if start <= end and first is not second:
                errors.append(
                    _error(
                        f"{line_label(first)} and {line_label(second)} price the same product "
                        f"on the same days (from {start}); one product has one price at a time.",
                        line=second,
                        field="item",
                    )
                )
    return errors


def term_errors(
    *,
    start: date | None,
    end: date | None,
    anchor: date | None,
    auto_renew: bool,
    renewal_term_months: int | None,
    effective: date | None = None,
) -> list[tuple[str, str]]:
    """The contract's own dates and renewal, as (field, message): the contract form and the
    contracts import check these before the prices."""
    errors = []
    if start and end and end < start:
        errors.append(("end_date", f"The contract ends {end}, before it starts {start}."))
    if anchor and start and end and not start <= anchor <= end:
        errors.append(("billing_anchor_date", "The billing anchor falls within the term."))
    if effective and start and end and not start < effective <= end:
        errors.append(("effective_date", f"The amendment takes effect after {start} and by {end}."))
    if auto_renew and not renewal_term_months:
        errors.append(("renewal_term_months", "A contract that renews needs its renewal term."))
    return errors


def raise_if_any(errors: Sequence[str]) -> None:
    if errors:
        raise ValidationError(list(errors))
