"""Contract lines with their prices, ramp phases and tiers: one row per line, or per phase.

A row is keyed by contract number, line key and the day its phase starts (blank: the
contract's start). A line with a ramp has one row per phase; its item, description, pricing
model and metric may be left blank on all but one of its rows.

Tiers sit in one readable column, one tier per entry, separated by semicolons:

    1-100: 10.00; 101-500: 8.00; 501-: 6.50 + 250 flat

`FROM-TO: UNIT` prices each unit from FROM to TO; `+ N flat` adds a flat amount for the tier;
`N flat` alone is a flat amount only; the last tier is open (`501-`).

A line in the file ends with exactly the phases of its rows (a phase not in the file is
removed, and the preview says so); lines of the contract not in the file stay as they are.
Only drafts change: for a contract submitted or active, only rows that change nothing pass.
Every contract is checked whole with the contract rules (rules.py), as the contract page checks it.
"""

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, cast

from django.utils import timezone

from billing.catalog.models import CatalogItem
from billing.contracts.models import Contract, ContractLine, PricePhase, PriceTier
from billing.contracts.resources import values_refresh
from billing.contracts.selectors import (
    PricedLine,
    contract_errors_for,
    contracts_current_versions,
    contracts_priced_lines,
)
from billing.contracts.services import contract_lock_version_bump
from customers.resources import OwnAccountsResource
from file_imports import cells
from file_imports.engine import (
    NEW,
    UNCHANGED,
    UPDATE,
    RowOutcome,
    delete_with_history,
    duplicate_keys,
    model_errors,
    refuse_read_only,
    save_with_history,
)
from file_imports.files import Table

LINE_COLUMNS = ("item", "description", "pricing_model", "metric")
# column: the phase's field
PHASE_COLUMNS = {
    "phase_end": "end_date",
    "quantity": "quantity",
    "unit_amount": "unit_amount",
    "flat_amount": "flat_amount",
    "included_units": "included_units",
}
# A phase's or a tier's field: the column it is read from.
PHASE_FIELD_COLUMNS = {"start_date": "phase_start"} | {v: k for k, v in PHASE_COLUMNS.items()}
TIER_FIELD_COLUMNS = dict.fromkeys(("up_to", "unit_amount", "flat_amount"), "tiers")
TIER = re.compile(r"^(?P<low>\d+)\s*-\s*(?P<high>\d*)\s*:\s*(?P<price>.+)$")
TIER_EXAMPLE = "e.g. '1-100: 10.00', '101-: 8.00 + 50 flat' or '1-10: 500 flat'"
# What a message of the contract rules is about: its line, its phase, and the column to blame.
RULE_LINE = re.compile(r"^Line (?P<key>[-\w]+)(?:, phase (?P<phase>\d+))?")
RULE_COLUMNS = (
    ("metric", "metric"),
    ("tier", "tiers"),
    ("flat amount", "flat_amount"),
    ("unit amount", "unit_amount"),
    ("quantity", "quantity"),
    ("included units", "included_units"),
    ("same product", "item"),
    ("flat fee", "flat_amount"),
)


# --- The tiers column


def tiers_read(cell: str, *, delimiter: str = ",") -> list[PriceTier]:
    """`1-100: 10.00; 101-: 8.00 + 50 flat` as tiers, in the order written (tiers out of
    order are an error for the contract rules to name, not something to tidy away)."""
    tiers: list[PriceTier] = []
    problems: list[str] = []
    entries = [e.strip() for e in cells.text(cell).replace("\n", ";").split(";") if e.strip()]
    for n, entry in enumerate(entries, start=1):
        match = TIER.match(entry)
        if not match:
            problems.append(
                f"'{entry}' is not 'from-to: unit price [+ amount flat]', {TIER_EXAMPLE}."
            )
            continue
        unit = flat = None
        try:
            for part in match["price"].split("+"):
                words = part.split()
                if len(words) == 2 and words[1].lower() == "flat" and flat is None:
                    flat = cells.decimal(words[0], delimiter=delimiter)
                elif len(words) == 1 and unit is None:
                    unit = cells.decimal(words[0], delimiter=delimiter)
                else:
                    raise cells.CellError(
                        f"'{entry}': the price is a unit price, a flat amount ('50 flat'), or "
                        f"both ('8.00 + 50 flat'), {TIER_EXAMPLE}."
                    )
        except cells.CellError as error:
            problems.append(
                str(error) if str(error).startswith(f"'{entry}'") else f"'{entry}': {error}"
            )
            continue
        low, high = int(match["low"]), int(match["high"]) if match["high"] else None
        expected = (tiers[-1].up_to or 0) + 1 if tiers else None
        if tiers and low != expected:
            problems.append(
                f"'{entry}': tier {n} starts at {low}, but the tier before ends at "
                f"{tiers[-1].up_to or '(open)'}; write {expected}-{high or ''}."
            )
        elif not tiers and low not in (0, 1):
            problems.append(f"'{entry}': the first tier starts at 1.")
        tiers.append(PriceTier(up_to=high, unit_amount=unit or 0, flat_amount=flat or 0))
    if problems:
        raise cells.CellError(" ".join(problems))
    return tiers


def tiers_text(tiers: list[PriceTier]) -> str:
    """The tiers as the column writes them; tiers_read reads it back the same."""
    entries, low = [], 1
    for tier in tiers:
        unit, flat = Decimal(tier.unit_amount), Decimal(tier.flat_amount)
        price = (
            f"{cells.as_text(flat)} flat"
            if flat and not unit
            else cells.as_text(unit) + (f" + {cells.as_text(flat)} flat" if flat else "")
        )
        entries.append(f"{low}-{'' if tier.up_to is None else tier.up_to}: {price}")
        low = (tier.up_to or 0) + 1
    return "; ".join(entries)


# --- Reading the file


@dataclass
class PhaseRow:
    outcome: RowOutcome
    start: date | None
    cells: dict[str, str]  # the row as read
    phase: PricePhase | None = None  # the working copy
    tiers: list[PriceTier] | None = None  # None: the column is not in the file


@dataclass
class LinePlan:
    contract: Contract
    key: str
    rows: list[PhaseRow] = field(default_factory=list)
    line: ContractLine | None = None  # the working copy
    stored: PricedLine | None = None


class ContractLineResource(OwnAccountsResource):
    name = "contract_lines"
    verbose_name = "contract lines"
    columns = (
        "contract",
        "line",
        *LINE_COLUMNS,
        "phase_start",
        *PHASE_COLUMNS,
        "tiers",
    )
    required = ("contract", "line", "item", "pricing_model")
    permission = "billing.import_contract"
    export_permission = "billing.export_contract"

    def check_and_plan(self, table: Table) -> list[RowOutcome]:
        self.present = set(table.columns)
        numbers = {cells.text(row["contract"]) for _, row in table.rows}
        current = contracts_current_versions(
            Contract.objects.select_for_update().filter(number__in=numbers)
        )
        # What the contract page lets this person do: the contracts it shows them, and the
        # lines, phases and tiers it lets them add, change and remove (drafts only).
        self.rules = self.admin_rules(Contract)
        self.line_rules = self.rules.inline(ContractLine)
        self.phase_rules = self.line_rules.inline(PricePhase)
        self.tier_rules = self.phase_rules.inline(PriceTier)
        shown = self.rules.shown(c.pk for c in current.values())
        self.stored = contracts_priced_lines(current.values())
        self.stored_lines = {
            (pk, line.key): (line, phases)
            for pk, lines in self.stored.items()
            for line, phases in lines
        }
        self.stored_phases = {
            phase.pk: (phase, tiers)
            for lines in self.stored.values()
            for _, phases in lines
            for phase, tiers in phases
        }
        self.items = {
            i.code: i
            for i in CatalogItem.objects.filter(
                code__in={cells.text(r["item"]) for _, r in table.rows}
            )
        }
        outcomes: list[RowOutcome] = []
        plans: dict[tuple[str, str], LinePlan] = {}
        for number, row in table.each_row():
            ref, key = cells.text(row["contract"]), cells.text(row["line"])
            outcome = RowOutcome(number, f"{ref} {key}")
            outcomes.append(outcome)
            try:
                start = cells.day(row.get("phase_start", ""), date_format=self.options.date_format)
            except cells.CellError as error:
                outcome.error("phase_start", str(error))
                continue
            outcome.key = f"{ref} {key} from {start or 'the start'}"
            contract = current.get(ref)
            if not ref or not key:
                outcome.error(
                    "contract" if not ref else "line",
                    "is required: a row is keyed by contract number and line key.",
                )
            elif contract is None:
                outcome.error(
                    "contract",
                    f"no contract numbered '{ref}'{self.among_yours}; import the contract first.",
                )
            elif contract.pk not in shown:
                outcome.error(
                    "contract",
                    f"{ref} is not a contract of one of your accounts; you import only your own.",
                )
            if outcome.errors or contract is None:
                continue
            plan = plans.setdefault((ref, key), LinePlan(contract, key))
            plan.rows.append(PhaseRow(outcome, start, row))
        duplicate_keys(outcomes, "phase_start")

        self.plans = list(plans.values())
        by_contract: dict[int, list[LinePlan]] = {}
        for plan in self.plans:
            self._plan_line(plan)
            by_contract.setdefault(plan.contract.pk, []).append(plan)
        self.priced: dict[int, list[PricedLine]] = {}
        for contract_plans in by_contract.values():
            self._check_contract(contract_plans)
        return outcomes

    # --- one line: its own fields, its phases, their tiers

    def _plan_line(self, plan: LinePlan) -> None:
        plan.stored = self.stored_lines.get((plan.contract.pk, plan.key))
        if plan.stored is None:
            line = ContractLine(contract=plan.contract, key=plan.key)
        else:
            line = copy.copy(plan.stored[0])
        plan.line = line
        first = plan.rows[0].outcome
        values = self._line_values(plan)
        for column, value in values.items():
            try:
                if column == "item":
                    item = self.items.get(value)
                    if item is None:
                        raise cells.CellError(f"no catalog item with the code '{value}'.")
                    line.item = item
                else:
                    model_field = ContractLine._meta.get_field(column)
                    setattr(line, column, cells.model_value(model_field, value))
            except cells.CellError as error:
                first.error(column, str(error))
        if line.item_id is None and not any(c == "item" for c, _ in first.errors):
            first.error("item", "is required on one of the line's rows (a catalog item code).")
        model_errors(line, first, exclude=["contract", "item", "position"], columns={"key": "line"})
        stored_phases = {p.start_date: (p, t) for p, t in plan.stored[1]} if plan.stored else {}
        for row in plan.rows:
            self._plan_phase(row, line, stored_phases.get(row.start))

    def _line_values(self, plan: LinePlan) -> dict[str, str]:
        """Each of the line's own columns in the file: the one value its rows give."""
        values: dict[str, str] = {}
        seen_in: dict[str, int] = {}
        for row in plan.rows:
            for column in LINE_COLUMNS:
                if column not in self.present:
                    continue
                value = cells.text(row.cells[column])
                if not value:
                    values.setdefault(column, "")
                    continue
                if values.get(column) and values[column] != value:
                    row.outcome.error(
                        column,
                        f"'{value}' differs from row {seen_in[column]} ('{values[column]}'): a "
                        "line has one value on all its rows (or leave it blank on the others).",
                    )
                elif not values.get(column):
                    values[column], seen_in[column] = value, row.outcome.number
        return values

    def _plan_phase(
        self, row: PhaseRow, line: ContractLine, stored: tuple[PricePhase, list[PriceTier]] | None
    ) -> None:
        phase = (
            PricePhase(line=line, start_date=row.start) if stored is None else copy.copy(stored[0])
        )
        for column, name in PHASE_COLUMNS.items():
            if column not in self.present:
                continue
            try:
                value = cells.model_value(
                    PricePhase._meta.get_field(name),
                    row.cells[column],
                    delimiter=self.delimiter,
                    date_format=self.options.date_format,
                )
                setattr(phase, name, value)
            except cells.CellError as error:
                row.outcome.error(column, str(error))
        if "tiers" in self.present:
            try:
                row.tiers = tiers_read(row.cells["tiers"], delimiter=self.delimiter)
            except cells.CellError as error:
                row.outcome.error("tiers", str(error))
        model_errors(phase, row.outcome, exclude=["line"], columns=PHASE_FIELD_COLUMNS)
        for tier in row.tiers or []:
            model_errors(tier, row.outcome, exclude=["phase"], columns=TIER_FIELD_COLUMNS)
        row.phase = phase

    # --- the contract as a whole, with its lines not in the file

    def _check_contract(self, plans: list[LinePlan]) -> None:
        contract = plans[0].contract
        in_file = {plan.key: plan for plan in plans}
        priced: list[PricedLine] = []
        for line, phases in self.stored[contract.pk]:
            if line.key not in in_file:
                priced.append((line, phases))
        for plan in plans:
            start = contract.start_date
            rows = sorted(plan.rows, key=lambda r: r.start or start)
            plan.rows = rows
            priced.append(
                (
                    cast(ContractLine, plan.line),
                    [(cast(PricePhase, r.phase), self._tiers_after(r)) for r in rows],
                )
            )
        self.priced[contract.pk] = priced
        for plan in plans:
            self._outcomes(plan)
            self._refuse_beyond_the_page(plan)
        refused = {plan.key for plan in plans if any(r.outcome.errors for r in plan.rows)}
        if refused:
            # The lines without errors of their own are still checked (a yen amount with
            # decimals beside another line's unknown item): each says what is wrong with it.
            # The lines in error are left out (their rows say why) and so are rules about the
            # whole contract, which are read again once those rows are fixed.
            clean = [(line, phases) for line, phases in priced if line.key not in refused]
            for message in contract_errors_for(contract, priced=clean):
                match = RULE_LINE.match(message)
                if match and match["key"] in in_file and match["key"] not in refused:
                    row, column = self._blame(message, plans, in_file)
                    row.outcome.error(column, message)
            return
        for message in contract_errors_for(contract, priced=priced):
            row, column = self._blame(message, plans, in_file)
            row.outcome.error(column, message)

    def _refuse_beyond_the_page(self, plan: LinePlan) -> None:
        """What the contract page would not let this person do to this line: any change to a
        contract it shows read-only (no longer a draft), and adding, changing or removing a
        line, phase or tier that its inlines do not let them; read-only fields."""
        contract, line = plan.contract, cast(ContractLine, plan.line)
        changing = [r for r in plan.rows if r.outcome.action in (NEW, UPDATE)]
        if not changing:
            return
        if not self.rules.may_change(contract):
            why = (
                self.rules.no_change
                if contract.is_editable
                else f"{contract} is {contract.get_status_display().lower()}: its prices "
                "change through an amendment (Amend, on its page), not an import."
            )
            for row in changing:
                row.outcome.error("", why)
            return
        first = plan.rows[0].outcome
        lines, phases, tiers = self.line_rules, self.phase_rules, self.tier_rules
        if plan.stored is None:
            if not lines.may_add(contract):
                first.error("line", lines.no_add)
        else:
            changed = [c for c in first.changes if c in LINE_COLUMNS]
            for column in changed if not lines.may_change(contract) else []:
                first.error(column, lines.no_change)
            refuse_read_only(first, lines.read_only(contract), changed)
        if any(c.startswith("phase from") for c in first.changes) and not phases.may_delete(line):
            first.error("phase_start", phases.no_delete)
        for row in plan.rows:
            stored = self._stored_phase(row)
            phase = cast(PricePhase, row.phase)
            if stored is None:
                if not phases.may_add(line):
                    row.outcome.error("phase_start", phases.no_add)
                if row.tiers and not tiers.may_add(phase):
                    row.outcome.error("tiers", tiers.no_add)
                continue
            changed = [c for c in row.outcome.changes if c in PHASE_COLUMNS]
            for column in changed if not phases.may_change(line) else []:
                row.outcome.error(column, phases.no_change)
            refuse_read_only(row.outcome, phases.read_only(line), changed, PHASE_COLUMNS)
            if "tiers" in row.outcome.changes:
                old, new = len(stored[1]), len(row.tiers or [])
                if new > old and not tiers.may_add(phase):
                    row.outcome.error("tiers", tiers.no_add)
                if min(old, new) and not tiers.may_change(phase):
                    row.outcome.error("tiers", tiers.no_change)
                if new < old and not tiers.may_delete(phase):
                    row.outcome.error("tiers", tiers.no_delete)

    def _tiers_after(self, row: PhaseRow) -> list[PriceTier]:
        if row.tiers is not None:
            return row.tiers
        stored = self._stored_phase(row)
        return stored[1] if stored else []

    def _stored_phase(self, row: PhaseRow) -> tuple[PricePhase, list[PriceTier]] | None:
        phase = row.phase
        return self.stored_phases.get(phase.pk) if phase is not None and phase.pk else None

    def _blame(
        self, message: str, plans: list[LinePlan], in_file: dict[str, LinePlan]
    ) -> tuple[PhaseRow, str]:
        """The row and column a contract rules message is about (the contract's first row in
        the file when it is about a line the file leaves as it is)."""
        column = next((c for words, c in RULE_COLUMNS if words in message), "phase_start")
        match = RULE_LINE.match(message)
        plan = in_file.get(match["key"]) if match else None
        if match is None or plan is None:
            return plans[0].rows[0], ""
        if match["phase"] and int(match["phase"]) <= len(plan.rows):
            return plan.rows[int(match["phase"]) - 1], column
        return plan.rows[0], column

    def _outcomes(self, plan: LinePlan) -> None:
        line = cast(ContractLine, plan.line)
        if plan.stored is None:
            for row in plan.rows:
                row.outcome.action = row.outcome.action or NEW
            return
        old_line, old_phases = plan.stored
        first = plan.rows[0].outcome
        if "item" in self.present and old_line.item_id != line.item_id:
            first.changes["item"] = (old_line.item.code, line.item.code)
        first.changes |= cells.field_changes(
            old_line, line, [c for c in LINE_COLUMNS if c in self.present and c != "item"]
        )
        kept = {r.phase.pk for r in plan.rows if r.phase is not None and r.phase.pk}
        for phase, tiers in old_phases:
            if phase.pk not in kept:
                first.changes[f"phase from {phase.start_date or 'the start'}"] = (
                    _phase_text(phase, tiers),
                    "(removed)",
                )
        for row in plan.rows:
            stored = self._stored_phase(row)
            if row.outcome.errors:
                continue
            if stored is None:
                row.outcome.action = NEW
                continue
            phase = cast(PricePhase, row.phase)
            row.outcome.changes |= cells.field_changes(
                stored[0], phase, [c for c in PHASE_COLUMNS if c in self.present], PHASE_COLUMNS
            )
            if row.tiers is not None:
                before, after = tiers_text(stored[1]), tiers_text(row.tiers)
                if before != after:
                    row.outcome.changes["tiers"] = (before, after)
            row.outcome.action = UPDATE if row.outcome.changes else UNCHANGED
        if first.changes and first.action in (UNCHANGED, ""):
            first.action = UPDATE

    # --- writing

    def write(self) -> None:
        reason, user = self.reason, self.user
        now = timezone.now()
        changed_plans = [
            p for p in self.plans if any(r.outcome.action in (NEW, UPDATE) for r in p.rows)
        ]
        # Lines: new ones after the contract's others, in the file's order.
        positions = {
            pk: max((line.position for line, _ in lines), default=0)
            for pk, lines in self.stored.items()
        }
        new_lines, changed_lines = [], []
        for plan in changed_plans:
            line = cast(ContractLine, plan.line)
            if plan.stored is None:
                positions[plan.contract.pk] += 1
                line.position = positions[plan.contract.pk]
                new_lines.append(line)
            elif any(c in plan.rows[0].outcome.changes for c in LINE_COLUMNS):
                changed_lines.append(line)
        save_with_history(
            ContractLine,
            new_lines,
            changed_lines,
            list(LINE_COLUMNS),
            user=user,
            reason=reason,
        )
        # Phases, then their tiers.
        new_phases, changed_phases, gone_phases = [], [], []
        new_tiers, changed_tiers, gone_tiers = [], [], []
        for plan in changed_plans:
            kept = set()
            for row in plan.rows:
                phase = cast(PricePhase, row.phase)
                stored = self._stored_phase(row)
                if stored is None:
                    new_phases.append(phase)
                    old_tiers: list[PriceTier] = []
                else:
                    kept.add(phase.pk)
                    old_tiers = stored[1]
                    if any(c in row.outcome.changes for c in PHASE_COLUMNS):
                        changed_phases.append(phase)
                if row.tiers is None or (stored and "tiers" not in row.outcome.changes):
                    continue
                # Tiers in place where they were, so their history reads as changes.
                for n, tier in enumerate(row.tiers):
                    if n < len(old_tiers):
                        tier.pk, tier.phase_id = old_tiers[n].pk, old_tiers[n].phase_id
                        changed_tiers.append(tier)
                    else:
                        tier.phase = phase
                        new_tiers.append(tier)
                gone_tiers += old_tiers[len(row.tiers) :]
            for phase, tiers in plan.stored[1] if plan.stored else []:
                if phase.pk not in kept:
                    gone_phases.append(phase)
                    gone_tiers += tiers
        delete_with_history(gone_tiers, user=user, reason=reason)
        delete_with_history(gone_phases, user=user, reason=reason)
        save_with_history(
            PricePhase,
            new_phases,
            changed_phases,
            list(PHASE_COLUMNS.values()),
            user=user,
            reason=reason,
        )
        save_with_history(
            PriceTier,
            new_tiers,
            changed_tiers,
            ["up_to", "unit_amount", "flat_amount"],
            user=user,
            reason=reason,
        )
        # Each contract changed: its values from its new prices, and a new lock version.
        contracts = {plan.contract.pk: plan.contract for plan in changed_plans}
        for contract in contracts.values():
            values_refresh(contract, self.priced[contract.pk])
            contract_lock_version_bump(contract)
            contract.updated_at = now
        save_with_history(
            Contract,
            [],
            list(contracts.values()),
            ["annual_contract_value", "total_contract_value", "lock_version", "updated_at"],
            user=user,
            reason=reason,
        )

    # --- files out

    def export_rows(self, queryset: Any) -> Iterator[list[Any]]:
        current = contracts_current_versions(
            Contract.objects.filter(number__in=queryset.values("number"))
        )
        priced = contracts_priced_lines(current.values())
        for contract in current.values():
            for line, phases in priced[contract.pk]:
                for phase, tiers in phases:
                    yield [
                        contract.number,
                        line.key,
                        line.item.code,
                        line.description,
                        line.pricing_model,
                        line.metric,
                        phase.start_date,
                        phase.end_date,
                        phase.quantity,
                        phase.unit_amount,
                        phase.flat_amount,
                        phase.included_units,
                        tiers_text(tiers),
                    ]

    def template_rows(self) -> list[list[str]]:
        # For the contracts of the contracts template; the items are the demo catalog's.
        return [line.split(",") for line in TEMPLATE.strip().splitlines()]


# contract,line,item,description,pricing_model,metric,phase_start,phase_end,quantity,
# unit_amount,flat_amount,included_units,tiers
TEMPLATE = """
C-2026-01001,seats,seats,Seats,per_unit,,2026-01-01,2026-12-31,50,30.00,0,0,
C-2026-01001,seats,,,,,2027-01-01,2027-12-31,80,27.50,0,0,
C-2026-01001,seats,,,,,2028-01-01,2028-12-31,120,25.00,0,0,
C-2026-01001,api,api-calls,API calls,graduated,api_calls,,,0,0,0,0,1-1000000: 0.002 + 100 flat; 1000001-: 0.001
C-2026-01001,support,support,Premium support,flat,,,,0,0,1500,0,
C-2026-01002,storage,storage,Storage,usage,storage_gb,,,0,0.02,0,10000,
"""  # noqa: E501 - one row per line, as the file has them


def _phase_text(phase: PricePhase, tiers: list[PriceTier]) -> str:
    parts = [f"{phase.start_date or 'start'} to {phase.end_date or 'end'}"]
    if phase.quantity:
        parts.append(f"quantity {phase.quantity}")
    if phase.unit_amount:
        parts.append(f"unit {cells.as_text(phase.unit_amount)}")
    if phase.flat_amount:
        parts.append(f"flat {cells.as_text(phase.flat_amount)}")
    if tiers:
        parts.append(f"tiers {tiers_text(tiers)}")
    return ", ".join(parts)
