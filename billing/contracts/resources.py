"""Contracts and their terms, keyed by contract number, one row each.

A new number becomes a draft contract. A draft's terms are updated. A contract that is no
longer a draft (pending approval, active, ended) is only compared: a row that would change it
is an error, since such a contract changes through an amendment. The prices come from the
contract lines file. A column left out of the file leaves that term as it is.
"""

import copy
from collections.abc import Iterator
from typing import Any

from django.utils import timezone

from billing.contracts.models import Contract
from billing.contracts.rules import commit_errors, term_errors
from billing.contracts.selectors import (
    PricedLine,
    contract_errors_for,
    contract_values,
    contracts_current_versions,
    contracts_priced_lines,
)
from billing.contracts.services import contract_lock_version_bump
from customers.models import Account
from customers.resources import OwnAccountsResource
from customers.selectors import accounts_visible_to
from file_imports import cells
from file_imports.engine import (
    NEW,
    UNCHANGED,
    UPDATE,
    RowOutcome,
    duplicate_keys,
    history_user,
    model_errors,
    refuse_read_only,
    save_with_history,
)
from file_imports.files import Table
from file_imports.permissions import AdminRules

# The contract's own terms, read and written by their model field's type.
TERMS = (
    "currency",
    "start_date",
    "end_date",
    "signed_date",
    "auto_renew",
    "renewal_term_months",
    "notice_period_days",
    "billing_frequency",
    "billing_anchor_date",
    "collection_method",
    "payment_terms_days",
    "minimum_commit",
    "po_number",
    "tax_mode",
    "prices_include_tax",
    "notes",
)
# Foreign keys are looked up once for the whole file, not once per row by full_clean.
NOT_CLEANED = [f.name for f in Contract._meta.concrete_fields if f.is_relation]


def values_refresh(contract: Contract, priced: list[PricedLine]) -> None:
    """Annual and total value, as contract_values_refresh sets them, from the lines in hand."""
    contract.annual_contract_value, contract.total_contract_value = contract_values(
        contract, priced=priced
    )


def refused_change(contract: Contract, rules: AdminRules, changes: Any) -> str:
    """Why a row may not change a contract its page shows read-only to this person."""
    if contract.is_editable:
        return rules.no_change
    # No longer a draft: read-only to everyone.
    return (
        f"{contract} is {contract.get_status_display().lower()}: it changes through an "
        "amendment (Amend, on its page), not an import. This row would change "
        f"{', '.join(changes)}."
    )


class ContractResource(OwnAccountsResource):
    name = "contracts"
    verbose_name = "contracts"
    columns = ("number", "account", *TERMS)
    required = ("number", "account", "currency", "start_date", "end_date")
    permission = "billing.import_contract"
    export_permission = "billing.export_contract"

    def check_and_plan(self, table: Table) -> list[RowOutcome]:
        present = set(table.columns)
        numbers = {cells.text(row["number"]) for _, row in table.rows}
        current = contracts_current_versions(
            Contract.objects.select_for_update().filter(number__in=numbers)
        )
        visible = accounts_visible_to(self.user)
        accounts = {
            a.external_ref: a
            for a in visible.filter(
                external_ref__in={cells.text(r["account"]) for _, r in table.rows}
            )
        }
        account_refs = dict(
            Account.objects.filter(pk__in={c.account_id for c in current.values()}).values_list(
                "pk", "external_ref"
            )
        )
        # What the contracts list and page let this person do: the contracts it shows them,
        # adding, changing (drafts only), the fields it shows read-only.
        rules = self.admin_rules(Contract)
        shown = rules.shown(c.pk for c in current.values())
        may_add = rules.may_add()
        # The add form's read-only fields among the file's columns (none, as the admin is).
        read_only_new = rules.read_only(None) & present
        self.priced = contracts_priced_lines(current.values())
        outcomes: list[RowOutcome] = []
        self.planned: list[tuple[RowOutcome, Contract]] = []
        for number, row in table.each_row():
            key = cells.text(row["number"])
            outcome = RowOutcome(number, key)
            outcomes.append(outcome)
            if not key:
                outcome.error("number", "is required: it is the contract's key.")
                continue
            existing = current.get(key)
            if existing is not None and existing.pk not in shown:
                outcome.error(
                    "number",
                    f"{key} is not a contract of one of your accounts; you import only your own.",
                )
                continue
            if existing is None and not may_add:
                outcome.error("number", rules.no_add)
                continue
            contract = (
                Contract(number=key, created_by=history_user(self.user))
                if existing is None
                else copy.copy(existing)  # a copy: the stored values stay to compare with
            )
            # A new one, as it is without the file: a read-only column may only leave it so.
            blank = copy.copy(contract) if existing is None and read_only_new else None
            self._read(row, present, contract, outcome, accounts)
            if outcome.errors:
                continue
            if existing is None:
                outcome.action = NEW
                if blank is not None:
                    changes = self._changes(blank, contract, present, account_refs)
                    refuse_read_only(outcome, read_only_new, changes)
            else:
                outcome.changes = self._changes(existing, contract, present, account_refs)
                outcome.action = UPDATE if outcome.changes else UNCHANGED
                if outcome.changes and not rules.may_change(existing):
                    outcome.error("", refused_change(existing, rules, outcome.changes))
                    continue
                if outcome.changes:
                    refuse_read_only(outcome, rules.read_only(existing))
                if outcome.errors:
                    continue
                # The lines already saved must still fit the new terms (term, currency). A
                # contract without lines yet is checked when its lines come.
                priced = self.priced[existing.pk]
                for message in contract_errors_for(contract, priced=priced) if priced else []:
                    outcome.error("", message)
            self.planned.append((outcome, contract))
        duplicate_keys(outcomes, "number")
        return outcomes

    def _read(
        self,
        row: dict[str, str],
        present: set[str],
        contract: Contract,
        outcome: RowOutcome,
        accounts: dict[str, Account],
    ) -> None:
        ref = cells.text(row["account"])
        account = accounts.get(ref)
        if account is None:
            outcome.error("account", self.unknown_account(ref))
        else:
            contract.account = account
        for column in TERMS:
            if column not in present:
                continue
            field = Contract._meta.get_field(column)
            try:
                value = cells.model_value(
                    field,
                    row[column],
                    delimiter=self.delimiter,
                    date_format=self.options.date_format,
                )
            except cells.CellError as error:
                outcome.error(column, str(error))
                continue
            if column == "currency" and isinstance(value, str):
                value = value.upper()
            setattr(contract, column, value)
        if not outcome.errors:  # a cell refused would be refused again, less clearly
            model_errors(contract, outcome, exclude=NOT_CLEANED)
        for column, message in term_errors(
            start=contract.start_date,
            end=contract.end_date,
            anchor=contract.billing_anchor_date,
            auto_renew=contract.auto_renew,
            renewal_term_months=contract.renewal_term_months,
        ):
            outcome.error(column, message)
        if contract.currency and not any(
            c in ("currency", "minimum_commit") for c, _ in outcome.errors
        ):
            for column, message in commit_errors(contract.minimum_commit, contract.currency):
                outcome.error(column, message)

    def _changes(
        self, old: Contract, new: Contract, present: set[str], account_refs: dict[int, str]
    ) -> dict[str, tuple[str, str]]:
        changes = {}
        if old.account_id != new.account_id:
            was = account_refs[old.account_id] if old.account_id else ""
            changes["account"] = (was, new.account.external_ref)
        return changes | cells.field_changes(old, new, [c for c in TERMS if c in present])

    def write(self) -> None:
        now = timezone.now()
        new = [c for o, c in self.planned if o.action == NEW]
        changed = [c for o, c in self.planned if o.action == UPDATE]
        for contract in new:
            contract.created_at = now
            values_refresh(contract, [])
        for contract in changed:
            values_refresh(contract, self.priced[contract.pk])
            contract_lock_version_bump(contract)  # an editor who opened it is told to reload
        for contract in [*new, *changed]:
            contract.updated_at = now
        fields = [
            "account",
            *TERMS,
            "annual_contract_value",
            "total_contract_value",
            "lock_version",
            "updated_at",
        ]
        save_with_history(Contract, new, changed, fields, user=self.user, reason=self.reason)

    def export_rows(self, queryset: Any) -> Iterator[list[Any]]:
        # One row per number: the version an import would change.
        current = contracts_current_versions(
            Contract.objects.filter(number__in=queryset.values("number")).select_related("account")
        )
        for contract in current.values():
            yield [
                contract.number,
                contract.account.external_ref,
                *(cells.field_cell(Contract, c, getattr(contract, c)) for c in TERMS),
            ]

    def template_rows(self) -> list[list[str]]:
        return [
            # number, account, currency, start, end, signed, renews, renewal months, notice days,
            # billing frequency, anchor, collection, payment terms, commit, PO, tax mode,
            # prices include tax, notes
            [
                "C-2026-01001",
                "CRM-1001",
                "EUR",
                "2026-01-01",
                "2028-12-31",
                "2025-12-15",
                "yes",
                "12",
                "90",
                "Quarterly",
                "",
                "send_invoice",
                "Net 30",
                "",
                "PO-4471",
                "rules",
                "no",
                "Three-year enterprise agreement; seats ramp each January.",
            ],
            [
                "C-2026-01002",
                "CRM-1001",
                "EUR",
                "2026-04-01",
                "2027-03-31",
                "",
                "no",
                "",
                "30",
                "Monthly",
                "",
                "charge_automatically",
                "Due on receipt (net 0)",
                "12000",
                "",
                "rules",
                "no",
                "Usage add-on with a yearly commit.",
            ],
        ]
