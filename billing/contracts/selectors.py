"""Reads of contracts with their joins: what each person may see, a contract as the pricing
engine's terms, its change log, and the tax readiness of accounts (which reads their
contracts)."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, QuerySet

from backoffice.models import User
from billing.contracts.models import Contract, ContractLine, PricePhase, PriceTier
from billing.contracts.rules import contract_errors
from billing.pricing import (
    Line,
    PeriodCharges,
    Phase,
    PricingModel,
    Terms,
    Tier,
    annual_and_total_value,
    billing_periods,
    expected_charges,
)
from billing.tax.decide import rules_in_force
from billing.tax.readiness import ContractTax, TaxReadiness, tax_readiness
from customers.models import Account
from customers.selectors import VIEW_ALL_ACCOUNTS


def contracts_visible_to(user: User) -> QuerySet[Contract]:
    contracts = Contract.objects.all()
    if user.has_perm(VIEW_ALL_ACCOUNTS):
        return contracts
    return contracts.filter(account__account_manager=user)


def contracts_current_versions(contracts: QuerySet[Contract]) -> dict[str, Contract]:
    """Per contract number, the version a change goes to: the newest one not cancelled (an
    amendment in progress, or the contract in force), else the newest."""
    current: dict[str, Contract] = {}
    for contract in contracts.order_by("number", "-version"):
        kept = current.get(contract.number)
        cancelled = Contract.Status.CANCELLED
        if kept is None or (kept.status == cancelled and contract.status != cancelled):
            current[contract.number] = contract
    return current


# A saved line with its phases in date order, each with its tiers in ascending order.
PricedLine = tuple[ContractLine, list[tuple[PricePhase, list[PriceTier]]]]


def _tier_order(tier: PriceTier) -> float:
    return float("inf") if tier.up_to is None else float(tier.up_to)


def contract_priced_lines(contract: Contract) -> list[PricedLine]:
    """The contract's lines, phases and tiers, loaded once (four queries), in pricing order."""
    if contract.pk is None:
        return []
    return contracts_priced_lines([contract])[contract.pk]


def contracts_priced_lines(contracts: Iterable[Contract]) -> dict[int, list[PricedLine]]:
    """The same for many contracts at once, still in four queries; by contract pk."""
    by_pk = {contract.pk: contract for contract in contracts if contract.pk}
    lines = (
        ContractLine.objects.filter(contract_id__in=by_pk)
        .order_by("contract_id", "position", "id")
        .select_related("item")
        .prefetch_related(Prefetch("phases", queryset=PricePhase.objects.prefetch_related("tiers")))
    )
    priced: dict[int, list[PricedLine]] = {pk: [] for pk in by_pk}
    for line in lines:
        start = by_pk[line.contract_id].start_date  # a blank phase start is the contract's
        priced[line.contract_id].append(
            (
                line,
                [
                    (phase, sorted(phase.tiers.all(), key=_tier_order))
                    for phase in sorted(line.phases.all(), key=lambda p: p.start_date or start)
                ],
            )
        )
    return priced


def contract_validity(contract: Contract) -> tuple[date, date]:
    """The days this version is in force: from its effective date (amendments) to the day
    before the amendment that superseded it, if any."""
    start = contract.effective_date or contract.start_date
    end = contract.end_date
    successor = (
        contract.amendments.filter(status__in=[Contract.Status.ACTIVE, Contract.Status.SUPERSEDED])
        .order_by("effective_date")
        .first()
        if contract.pk
        else None
    )
    if successor and successor.effective_date:
        end = min(end, successor.effective_date - timedelta(days=1))
    return start, end


def pricing_lines(contract: Contract, priced: list[PricedLine]) -> tuple[Line, ...]:
    """Saved lines as the pricing engine and the contract rules read them: a phase's blank
    dates are the contract's start and end."""
    return tuple(
        Line(
            key=line.key,
            description=line.description or line.item.name,
            model=PricingModel(line.pricing_model),
            metric=line.metric,
            item_id=line.item_id,
            phases=tuple(
                Phase(
                    start=phase.start_date or contract.start_date,
                    end=phase.end_date or contract.end_date,
                    unit_amount=phase.unit_amount,
                    flat_amount=phase.flat_amount,
                    quantity=phase.quantity,
                    included_units=phase.included_units,
                    tiers=tuple(Tier(t.up_to, t.unit_amount, t.flat_amount) for t in tiers),
                )
                for phase, tiers in phases
            ),
        )
        for line, phases in priced
    )


def contract_terms(
    contract: Contract, *, whole_term: bool = False, priced: list[PricedLine] | None = None
) -> Terms:
    """The contract as the pricing engine sees it. By default only the days this version is
    in force; `whole_term` prices the version over the whole term."""
    start, end = (
        (contract.start_date, contract.end_date) if whole_term else contract_validity(contract)
    )
    lines = pricing_lines(contract, contract_priced_lines(contract) if priced is None else priced)
    return Terms(
        currency=contract.currency,
        start=start,
        end=end,
        billing_months=contract.billing_frequency,
        anchor=contract.anchor,
        lines=lines,
        minimum_commit=contract.minimum_commit,
    )


def contract_errors_for(contract: Contract, *, priced: list[PricedLine] | None = None) -> list[str]:
    """What is wrong with the saved contract, in the contract rules' words (empty: nothing)."""
    lines = pricing_lines(contract, contract_priced_lines(contract) if priced is None else priced)
    return contract_errors(
        lines,
        currency=contract.currency,
        term=(contract.start_date, contract.end_date),
        minimum_commit=contract.minimum_commit,
    )


def contract_values(
    contract: Contract, *, priced: list[PricedLine] | None = None
) -> tuple[Decimal, Decimal]:
    """Annual and total contract value of the version priced over its whole term; zero while
    its prices are not valid."""
    priced = contract_priced_lines(contract) if priced is None else priced
    if contract_errors_for(contract, priced=priced):
        return Decimal(0), Decimal(0)
    return annual_and_total_value(contract_terms(contract, whole_term=True, priced=priced))


def contract_upcoming_charges(
    contract: Contract, *, today: date, count: int = 4
) -> list[PeriodCharges]:
    """The next `count` billing periods' expected charges (usage counted as zero)."""
    terms = contract_terms(contract)
    periods = [p for p in billing_periods(terms) if p[1] >= today][:count]
    return [expected_charges(terms, period) for period in periods]


@dataclass(frozen=True)
class ChangeLogEntry:
    when: datetime
    who: str
    what: str  # "Contract", "Line seats", "Phase from 2027-01-01 of line seats", ...
    action: str  # "created", "changed", "deleted"
    changes: tuple[str, ...]  # "quantity: 100 -> 150"
    reason: str = ""  # why, when it was said: "import: contracts.csv"


def _describe(record: Any, line_keys: dict[int, str], phase_lines: dict[int, int]) -> str:
    model = record.instance_type.__name__
    if model == "ContractLine":
        return f"Line {record.key}"
    if model == "PricePhase":
        line = line_keys.get(record.line_id, "?")
        return f"Line {line}, prices from {record.start_date or 'the start'}"
    if model == "PriceTier":
        line = line_keys.get(phase_lines.get(record.phase_id, 0), "?")
        return f"Line {line}, tier up to {record.up_to if record.up_to is not None else '∞'}"
    return "Contract"


def contract_change_log(contract: Contract, *, limit: int = 100) -> list[ChangeLogEntry]:
    """Who changed what in a contract, its lines, their phases and tiers, newest first."""
    # From the history tables, so deleted lines and phases are named too.
    line_keys: dict[int, str] = dict(
        ContractLine.history.filter(contract_id=contract.pk)
        .order_by("history_date")
        .values_list("id", "key")
    )
    phase_lines: dict[int, int] = dict(
        PricePhase.history.filter(line_id__in=line_keys).values_list("id", "line_id")
    )
    line_ids, phase_ids = set(line_keys), set(phase_lines)
    histories = [
        contract.history.all(),
        ContractLine.history.filter(id__in=line_ids),
        PricePhase.history.filter(id__in=phase_ids),
        PriceTier.history.filter(phase_id__in=phase_ids),
    ]
    records = sorted(
        (r for h in histories for r in h.select_related("history_user")[:limit]),
        key=lambda r: r.history_date,
        reverse=True,
    )[:limit]
    entries = []
    for record in records:
        action = {"+": "created", "~": "changed", "-": "deleted"}[record.history_type]
        changes: tuple[str, ...] = ()
        if record.history_type == "~" and record.prev_record is not None:
            delta = record.diff_against(record.prev_record)
            changes = tuple(
                f"{c.field}: {c.old} → {c.new}"
                for c in delta.changes
                if c.field not in {"lock_version", "updated_at"}
            )
            if not changes:
                continue
        entries.append(
            ChangeLogEntry(
                when=record.history_date,
                who=record.history_user.get_username() if record.history_user else "system",
                what=_describe(record, line_keys, phase_lines),
                action=action,
                changes=changes,
                reason=record.history_change_reason or "",
            )
        )
    return entries


def accounts_tax_readiness(accounts: QuerySet[Account], *, today: date) -> dict[int, TaxReadiness]:
    """Readiness of every account in `accounts` (billing.tax.readiness), with what their active
    contracts say, in a constant number of queries (the accounts list filters on it)."""
    rows = list(accounts.prefetch_related("tax_ids"))
    contracts: dict[int, list[ContractTax]] = defaultdict(list)
    for account_id, number, mode, inclusive in Contract.objects.filter(
        account__in=[a.pk for a in rows], status=Contract.Status.ACTIVE
    ).values_list("account_id", "number", "tax_mode", "prices_include_tax"):
        contracts[account_id].append(
            ContractTax(number, mode == Contract.TaxMode.STRIPE_TAX, inclusive)
        )
    rules = rules_in_force(today)
    return {
        account.pk: tax_readiness(
            account,
            tax_ids=[(t.type, t.value) for t in account.tax_ids.all()],
            contracts=contracts[account.pk],
            rules=rules,
            today=today,
        )
        for account in rows
    }


def account_tax_readiness(account: Account, *, today: date) -> TaxReadiness:
    return accounts_tax_readiness(Account.objects.filter(pk=account.pk), today=today)[account.pk]
