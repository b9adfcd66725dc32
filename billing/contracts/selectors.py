"""Reads of contracts with their joins: what each person may see, a contract as the pricing
engine's terms, its change log, and the tax readiness of accounts (which reads their
contracts)."""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    Model,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    prefetch_related_objects,
)

from backoffice.models import User
from billing.catalog.models import ListPrice
from billing.contracts.models import Contract, ContractLine, PricePhase, PriceTier
from billing.contracts.rules import RuleError, contract_errors
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
from customers.models import Account, TaxId
from customers.selectors import VIEW_ALL_ACCOUNTS
from stripe_sync.selectors import PUSH_FAILING


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
    """The same for many contracts at once, in three queries; by contract pk. Grouped here
    rather than prefetched: Django's prefetching took seconds for the few thousand contracts
    a report prices."""
    by_pk = {contract.pk: contract for contract in contracts if contract.pk}
    tiers: dict[int, list[PriceTier]] = defaultdict(list)
    for tier in PriceTier.objects.filter(phase__line__contract_id__in=by_pk):
        tiers[tier.phase_id].append(tier)
    phases: dict[int, list[PricePhase]] = defaultdict(list)
    for phase in PricePhase.objects.filter(line__contract_id__in=by_pk):
        phases[phase.line_id].append(phase)
    lines = (
        ContractLine.objects.filter(contract_id__in=by_pk)
        .order_by("contract_id", "position", "id")
        .select_related("item")
    )
    priced: dict[int, list[PricedLine]] = {pk: [] for pk in by_pk}
    for line in lines:
        start = by_pk[line.contract_id].start_date
        priced[line.contract_id].append(
            (line, _in_pricing_order(phases[line.pk], lambda p: tiers[p.pk], start))
        )
    return priced


def _priced_line(line: ContractLine, contract: Contract) -> PricedLine:
    """A line whose phases and tiers are loaded, in pricing order."""
    return (
        line,
        _in_pricing_order(line.phases.all(), lambda p: p.tiers.all(), contract.start_date),
    )


def _in_pricing_order(
    phases: Iterable[PricePhase],
    tiers_of: Callable[[PricePhase], Iterable[PriceTier]],
    start: date,  # a blank phase start is the contract's
) -> list[tuple[PricePhase, list[PriceTier]]]:
    return [
        (phase, sorted(tiers_of(phase), key=_tier_order))
        for phase in sorted(phases, key=lambda p: p.start_date or start)
    ]


# --- The contract page: every line, phase and tier it shows, loaded at once

_LOADED_LINES = "lines"


def contract_lines_as_shown(
    lines: QuerySet[ContractLine], *, currency: str
) -> QuerySet[ContractLine]:
    """Lines with what the contract page shows of them, in four queries whatever their number:
    the catalog item, its list price in the contract's currency (line_list_price), the phases
    and their tiers (each in the order the page lists them)."""
    return lines.select_related("item").prefetch_related(
        Prefetch(
            "item__list_prices",
            queryset=ListPrice.objects.filter(currency=currency),
            to_attr="prices_in_contract_currency",
        ),
        Prefetch("phases", queryset=PricePhase.objects.prefetch_related("tiers")),
    )


def contract_with_lines(contract: Contract) -> Contract:
    """Loads the contract's lines as the contract page shows them (contract_lines_as_shown)
    onto the contract, for its inlines and panels to read without a query per line. For showing
    the contract only: what changes its lines reads them again (contract_priced_lines)."""
    lines = contract_lines_as_shown(ContractLine.objects.all(), currency=contract.currency)
    prefetch_related_objects([contract], Prefetch(_LOADED_LINES, queryset=lines))
    return contract


def contract_loaded_priced_lines(contract: Contract) -> list[PricedLine]:
    """contract_priced_lines from the lines contract_with_lines loaded, without a query; read
    from the database when they were not loaded."""
    loaded = getattr(contract, "_prefetched_objects_cache", {}).get(_LOADED_LINES)
    if loaded is None:
        return contract_priced_lines(contract)
    return [_priced_line(line, contract) for line in loaded]


def line_list_price(line: ContractLine) -> ListPrice | None:
    """The list price of the line's catalog item in its contract's currency, if there is one:
    as contract_lines_as_shown loaded it, else one query."""
    loaded = getattr(line.item, "prices_in_contract_currency", None)
    if loaded is not None:
        return loaded[0] if loaded else None
    return ListPrice.objects.filter(item=line.item_id, currency=line.contract.currency).first()


def line_first_phase(line: ContractLine) -> PricePhase | None:
    """The phase that prices the line first (a blank start is the contract's start)."""
    start = line.contract.start_date
    return min(line.phases.all(), key=lambda p: p.start_date or start, default=None)


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
    return _terms(
        contract, start, end, contract_priced_lines(contract) if priced is None else priced
    )


def contracts_terms_in_force(contracts: Iterable[Contract]) -> dict[int, Terms]:
    """contract_terms of many versions at once, each over the days it is in force (as
    contract_validity says), in four queries: the reports price every contract of a year."""
    contracts = [c for c in contracts if c.pk]
    successors: dict[int, date] = {}
    for amends_id, effective in Contract.objects.filter(
        amends__in=contracts,
        status__in=[Contract.Status.ACTIVE, Contract.Status.SUPERSEDED],
        effective_date__isnull=False,
    ).values_list("amends_id", "effective_date"):
        if amends_id is not None and effective is not None:
            successors[amends_id] = min(successors.get(amends_id, effective), effective)
    priced = contracts_priced_lines(contracts)
    terms = {}
    for contract in contracts:
        end = contract.end_date
        if contract.pk in successors:
            end = min(end, successors[contract.pk] - timedelta(days=1))
        start = contract.effective_date or contract.start_date
        terms[contract.pk] = _terms(contract, start, end, priced[contract.pk])
    return terms


def _terms(contract: Contract, start: date, end: date, priced: list[PricedLine]) -> Terms:
    return Terms(
        currency=contract.currency,
        start=start,
        end=end,
        billing_months=contract.billing_frequency,
        anchor=contract.anchor,
        lines=pricing_lines(contract, priced),
        minimum_commit=contract.minimum_commit,
    )


def contract_errors_for(
    contract: Contract, *, priced: list[PricedLine] | None = None
) -> list[RuleError]:
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
    contract: Contract, *, today: date, count: int = 4, priced: list[PricedLine] | None = None
) -> list[PeriodCharges]:
    """The next `count` billing periods' expected charges (usage counted as zero)."""
    terms = contract_terms(contract, priced=priced)
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


def _with_previous(records: QuerySet[Any], tracked: type[Model]) -> QuerySet[Any]:
    """History records each with the history id of the record before it (`previous_id`):
    simple-history's prev_record, read with the records instead of one query per record."""
    before = (
        tracked.history.filter(  # type: ignore[attr-defined]
            id=OuterRef("id"), history_date__lt=OuterRef("history_date")
        )
        .order_by("-history_date")
        .values("history_id")[:1]
    )
    return records.annotate(previous_id=Subquery(before))


def contract_change_log(contract: Contract, *, limit: int = 100) -> list[ChangeLogEntry]:
    """Who changed what in a contract, its lines, their phases and tiers, newest first; in a
    fixed number of queries however many lines and changes there are."""
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
    histories: list[tuple[type[Model], QuerySet[Any]]] = [
        (Contract, contract.history.all()),
        (ContractLine, ContractLine.history.filter(id__in=line_ids)),
        (PricePhase, PricePhase.history.filter(id__in=phase_ids)),
        (PriceTier, PriceTier.history.filter(phase_id__in=phase_ids)),
    ]
    records = sorted(
        (
            r
            for tracked, h in histories
            for r in _with_previous(h, tracked).select_related("history_user")[:limit]
        ),
        key=lambda r: r.history_date,
        reverse=True,
    )[:limit]
    # The records the changes are read against, one query per table that has changes.
    wanted: dict[type[Model], list[int]] = defaultdict(list)
    for record in records:
        if record.history_type == "~" and record.previous_id is not None:
            wanted[type(record)].append(record.previous_id)
    previous = {
        (history_model, p.pk): p
        for history_model, ids in wanted.items()
        for p in history_model._default_manager.filter(pk__in=ids)
    }
    entries = []
    for record in records:
        action = {"+": "created", "~": "changed", "-": "deleted"}[record.history_type]
        changes: tuple[str, ...] = ()
        prev = previous.get((type(record), record.previous_id))
        if record.history_type == "~" and prev is not None:
            delta = record.diff_against(prev)
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
    rows = list(accounts)
    # The accounts as a subquery, not a list of thousands of ids (the home page counts every
    # account a person sees); tax IDs as plain rows rather than a prefetch of model objects.
    chosen = accounts.order_by().values("pk")
    tax_ids: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for account_id, tax_type, value in TaxId.objects.filter(account__in=chosen).values_list(
        "account_id", "type", "value"
    ):
        tax_ids[account_id].append((tax_type, value))
    contracts: dict[int, list[ContractTax]] = defaultdict(list)
    for account_id, number, mode, inclusive in Contract.objects.filter(
        account__in=chosen, status=Contract.Status.ACTIVE
    ).values_list("account_id", "number", "tax_mode", "prices_include_tax"):
        contracts[account_id].append(
            ContractTax(number, mode == Contract.TaxMode.STRIPE_TAX, inclusive)
        )
    rules = rules_in_force(today)
    return {
        account.pk: tax_readiness(
            account,
            tax_ids=tax_ids[account.pk],
            contracts=contracts[account.pk],
            rules=rules,
            today=today,
        )
        for account in rows
    }


def account_tax_readiness(account: Account, *, today: date) -> TaxReadiness:
    return accounts_tax_readiness(Account.objects.filter(pk=account.pk), today=today)[account.pk]


# --- What the home page counts (billing/contracts/home.py)

# Drafts their author has to change: finance sent them back, with the reason.
SENT_BACK = Q(status=Contract.Status.DRAFT) & ~Q(sent_back_reason="")


def contracts_ending_within(today: date, days: int) -> Q:
    """Active contracts whose term ends in the next `days` days: they renew or end (the
    contracts list's filter "renews or ends")."""
    return Q(
        status=Contract.Status.ACTIVE,
        end_date__gte=today,
        end_date__lte=today + timedelta(days=days),
    )


@dataclass(frozen=True)
class ContractCounts:
    pending_approval: int
    drafts: int
    sent_back: int
    push_failing: int
    ending_within: dict[int, int]  # days ahead -> contracts that renew or end by then


def contract_counts(
    contracts: QuerySet[Contract], *, today: date, windows: Iterable[int]
) -> ContractCounts:
    """What needs doing among `contracts`, in one query."""
    windows = list(windows)
    counts = contracts.aggregate(
        pending_approval=Count("pk", filter=Q(status=Contract.Status.PENDING_APPROVAL)),
        drafts=Count("pk", filter=Q(status=Contract.Status.DRAFT)),
        sent_back=Count("pk", filter=SENT_BACK),
        push_failing=Count("pk", filter=Q(stripe_push_status__in=PUSH_FAILING)),
        **{
            f"ending_{days}": Count("pk", filter=contracts_ending_within(today, days))
            for days in windows
        },
    )
    return ContractCounts(
        pending_approval=counts["pending_approval"],
        drafts=counts["drafts"],
        sent_back=counts["sent_back"],
        push_failing=counts["push_failing"],
        ending_within={days: counts[f"ending_{days}"] for days in windows},
    )


def contracts_notice_due(
    contracts: QuerySet[Contract], *, today: date, days: int
) -> list[tuple[int, date]]:
    """Active contracts whose last day to give notice (the end date less the notice period)
    falls in the next `days` days, as (pk, that day), soonest first. Two queries: the notice
    periods in use, then each period's end dates, so that no database date arithmetic (which
    SQLite lacks) is needed."""
    active = contracts.filter(status=Contract.Status.ACTIVE, end_date__gte=today).order_by()
    periods = set(active.values_list("notice_period_days", flat=True).distinct())
    if not periods:
        return []
    in_window = Q()
    for period in periods:
        first = today + timedelta(days=period)
        in_window |= Q(notice_period_days=period, end_date__range=(first, first + timedelta(days)))
    due = [
        (pk, end - timedelta(days=period))
        for pk, end, period in active.filter(in_window).values_list(
            "pk", "end_date", "notice_period_days"
        )
    ]
    return sorted(due, key=lambda row: (row[1], row[0]))


def contracts_sent_back(contracts: QuerySet[Contract], *, limit: int) -> list[Contract]:
    """The drafts finance sent back, newest first, with their accounts (one query)."""
    sent_back = contracts.filter(SENT_BACK).select_related("account").order_by("-updated_at")
    return list(sent_back[:limit])


def accounts_not_tax_ready(accounts: QuerySet[Account], *, today: date) -> int:
    """How many of `accounts` the next invoice would tax wrongly (the accounts list's filter
    "tax readiness"), in accounts_tax_readiness's constant number of queries."""
    return sum(not r.ready for r in accounts_tax_readiness(accounts, today=today).values())
