"""Imports of rows that belong to accounts, and the accounts import itself.

Accounts (keyed by external reference) with their contacts and tax IDs, one row each.

Contacts and tax IDs sit in one readable column each, entries separated by semicolons:

- tax_ids: `eu_vat DE136695976; gb_vat GB980780684` (Stripe's type, then the number)
- contacts: `Jane Roe <jane@example.com> billing invoices; Li Wei <li@example.com> technical`
  (name, email in angle brackets, role, and `invoices` when the contact receives them)

A column left out of the file leaves that field as it is; an empty cell clears it.
"""

import copy
import functools
import re
from collections.abc import Iterator
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from customers.hooks import account_payment_methods_changed
from customers.models import Account, Contact, TaxId
from customers.payment_methods import PAYMENT_METHODS
from customers.selectors import VIEW_ALL_ACCOUNTS
from customers.services import account_push_after_commit
from customers.tax_ids import tax_id_country, tax_id_normalize
from file_imports import cells
from file_imports.engine import (
    NEW,
    UNCHANGED,
    UPDATE,
    Resource,
    RowOutcome,
    delete_with_history,
    duplicate_keys,
    model_errors,
    refuse_read_only,
    save_with_history,
)
from file_imports.files import Table
from file_imports.permissions import AdminRules

TEXT = (
    "legal_name",
    "display_name",
    "billing_email",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "state",
    "exemption_certificate",
)
CHOICES = ("billing_country", "default_currency", "status", "tax_exemption")
DATES = ("exemption_valid_from", "exemption_valid_until")
# Stripe's codes, separated by semicolons: `card; sepa_debit` (customers/payment_methods.py).
METHODS = "accepted_payment_methods"
CONTACT = re.compile(r"^(?P<name>[^<]+?)\s*<(?P<email>[^>]+)>\s*(?P<rest>.*)$")


class OwnAccountsResource(Resource):
    """Rows that belong to an account (the account itself, its contracts, its usage): finance
    imports any account's, an account manager only their own, and is told so."""

    @property
    def sees_all(self) -> bool:
        return self.user is not None and self.user.has_perm(VIEW_ALL_ACCOUNTS)

    @property
    def among_yours(self) -> str:
        return "" if self.sees_all else " among yours"

    def unknown_account(self, ref: str) -> str:
        return f"no account with external reference '{ref}'{self.among_yours}."


class AccountResource(OwnAccountsResource):
    name = "accounts"
    verbose_name = "accounts"
    columns = (
        "external_ref",
        *TEXT[:8],
        "billing_country",
        "default_currency",
        "account_manager",
        "status",
        "tax_exemption",
        "exemption_certificate",
        *DATES,
        METHODS,
        "tax_ids",
        "contacts",
    )
    required = ("external_ref", "legal_name", "billing_country", "default_currency")
    permission = "customers.import_account"
    export_permission = "customers.export_account"

    def check_and_plan(self, table: Table) -> list[RowOutcome]:
        present = set(table.columns)
        refs = {cells.text(row["external_ref"]) for _, row in table.rows}
        stored = {
            a.external_ref: a
            for a in Account.objects.select_for_update()
            .filter(external_ref__in=refs)
            .prefetch_related("tax_ids", "contacts")
        }
        managers = {
            u.username: u
            for u in get_user_model().objects.filter(
                username__in={cells.text(r.get("account_manager", "")) for _, r in table.rows}
            )
        }
        # What the admin lets this person do: the accounts it shows them, adding, changing,
        # the fields it shows them read-only; contacts and tax IDs as the account page's.
        rules = self.admin_rules(Account)
        shown = rules.shown(a.pk for a in stored.values())
        contact_rules, tax_id_rules = rules.inline(Contact), rules.inline(TaxId)
        may_add = rules.may_add()
        # The add form's read-only fields among the file's columns (an account manager's
        # account_manager, were they let add accounts).
        read_only_new = rules.read_only(None) & present
        outcomes: list[RowOutcome] = []
        self.planned: list[tuple[RowOutcome, Account, Any, Any]] = []
        for number, row in table.each_row():
            ref = cells.text(row["external_ref"])
            outcome = RowOutcome(number, ref)
            outcomes.append(outcome)
            if not ref:
                outcome.error("external_ref", "is required: it is the account's key.")
                continue
            existing = stored.get(ref)
            if existing is not None and existing.pk not in shown:
                outcome.error(
                    "external_ref", f"{ref} is not one of your accounts; you import only your own."
                )
                continue
            if existing is None and not may_add:
                outcome.error("external_ref", rules.no_add)
                continue
            # A copy: the stored values stay to compare with.
            account = Account() if existing is None else copy.copy(existing)
            if existing is None:
                account.external_ref = ref
                if not self.sees_all:
                    account.account_manager = self.user  # an account manager's new account
            # A new one, as it is without the file: a read-only column may only leave it so.
            blank = copy.copy(account) if existing is None and read_only_new else None
            self._read_fields(row, present, account, outcome, managers)
            tax_ids = self._read_tax_ids(row, outcome) if "tax_ids" in present else None
            contacts = self._read_contacts(row, outcome) if "contacts" in present else None
            if not outcome.errors:
                model_errors(
                    account,
                    outcome,
                    # Looked up or read from their choices already, once for the file.
                    exclude=[
                        "stripe_customer",
                        "account_manager",
                        *(c for c in CHOICES if c in present and getattr(account, c)),
                    ],
                )
            if outcome.errors:
                continue
            if existing is None:
                outcome.action = NEW
                if blank is not None:
                    refuse_read_only(outcome, read_only_new, _changes(blank, account, present))
            else:
                outcome.changes = _changes(existing, account, present)
                if tax_ids is not None:
                    old = _tax_ids_text(existing.tax_ids.all())
                    new = "; ".join(f"{t} {v}" for t, v in tax_ids)
                    if {(t.type, t.value) for t in existing.tax_ids.all()} != set(tax_ids):
                        outcome.changes["tax_ids"] = (old, new)
                if contacts is not None:
                    old_c = _contacts_text(existing.contacts.all())
                    new_c = "; ".join(_contact_text(*c) for c in contacts)
                    if old_c != new_c:
                        outcome.changes["contacts"] = (old_c, new_c)
                outcome.action = UPDATE if outcome.changes else UNCHANGED
                if outcome.changes and not rules.may_change(existing):
                    outcome.error("external_ref", rules.no_change)
                    continue
                if outcome.changes:
                    refuse_read_only(outcome, rules.read_only(existing))
            _refuse_inline_changes(
                outcome, "tax_ids", tax_id_rules, existing, _tax_id_changes(existing, tax_ids)
            )
            _refuse_inline_changes(
                outcome, "contacts", contact_rules, existing, _contact_changes(existing, contacts)
            )
            self.planned.append((outcome, account, tax_ids, contacts))
        duplicate_keys(outcomes, "external_ref")
        return outcomes

    def _read_fields(
        self,
        row: dict[str, str],
        present: set[str],
        account: Account,
        outcome: RowOutcome,
        managers: dict[str, Any],
    ) -> None:
        for column in TEXT:
            if column in present:
                setattr(account, column, cells.text(row[column]))
        for column in CHOICES:
            if column not in present:
                continue
            value = cells.text(row[column])
            if column == "billing_country":
                value = value.upper()
            try:
                setattr(account, column, cells.choice(value, _choices(column)) if value else "")
            except cells.CellError as error:
                outcome.error(column, str(error))
        for column in DATES:
            if column in present:
                try:
                    day = cells.day(row[column], date_format=self.options.date_format)
                    setattr(account, column, day)
                except cells.CellError as error:
                    outcome.error(column, str(error))
        if METHODS in present:
            codes = [c.lower() for c in _entries(row[METHODS].replace(",", ";"))]
            unknown = [c for c in codes if c not in PAYMENT_METHODS]
            if unknown:
                outcome.error(
                    METHODS,
                    f"{', '.join(unknown)}: not a payment method code; use Stripe's "
                    f"({', '.join(PAYMENT_METHODS)}).",
                )
            else:
                # Whether each is offered in the account's country and currencies: clean().
                account.accepted_payment_methods = codes
        if "account_manager" in present:
            username = cells.text(row["account_manager"])
            manager = managers.get(username) if username else None
            if username and manager is None:
                outcome.error("account_manager", f"no user named '{username}'.")
            else:
                account.account_manager = manager

    def _read_tax_ids(self, row: dict[str, str], outcome: RowOutcome) -> list[tuple[str, str]]:
        found = []
        for entry in _entries(row["tax_ids"]):
            kind, _, value = entry.partition(" ")
            try:
                found.append((kind, tax_id_normalize(kind, value.strip())))
            except ValidationError as error:
                outcome.error("tax_ids", f"'{entry}': {' '.join(error.messages)}")
        return found

    def _read_contacts(
        self, row: dict[str, str], outcome: RowOutcome
    ) -> list[tuple[str, str, str, bool]]:
        found = []
        roles = [c for c, _ in Contact.Role.choices]
        for entry in _entries(row["contacts"]):
            match = CONTACT.match(entry)
            if not match:
                outcome.error(
                    "contacts",
                    f"'{entry}' is not 'Name <email> role', e.g. "
                    "'Jane Roe <jane@example.com> billing invoices'.",
                )
                continue
            words = match["rest"].lower().split()
            role = next((w for w in words if w in roles), Contact.Role.BILLING)
            unknown = [w for w in words if w not in roles and w != "invoices"]
            if unknown:
                outcome.error(
                    "contacts",
                    f"'{entry}': {' '.join(unknown)} is not a role ({', '.join(roles)}) or "
                    "'invoices'.",
                )
            contact = Contact(name=match["name"].strip(), email=match["email"].strip(), role=role)
            try:
                contact.full_clean(exclude=["account"])
            except ValidationError as error:
                outcome.error("contacts", f"'{entry}': {' '.join(error.messages)}")
            found.append((contact.name, contact.email, role, "invoices" in words))
        return found

    def write(self) -> None:
        reason = self.reason
        now = timezone.now()
        writes = [(o, a, t, c) for o, a, t, c in self.planned if o.action in (NEW, UPDATE)]
        new = [a for o, a, _, _ in writes if o.action == NEW]
        changed = [a for o, a, _, _ in writes if o.action == UPDATE]
        for account in new:
            account.created_at = now
        for account in [*new, *changed]:
            account.updated_at = now
        fields = [
            f.name for f in Account._meta.concrete_fields if f.name not in ("id", "created_at")
        ]
        save_with_history(Account, new, changed, fields, user=self.user, reason=reason)
        pks = dict(
            Account.objects.filter(
                external_ref__in=[a.external_ref for _, a, _, _ in writes]
            ).values_list("external_ref", "pk")
        )
        tax_ids = {pks[a.external_ref]: t for o, a, t, _ in writes if t is not None}
        contacts = {pks[a.external_ref]: c for o, a, _, c in writes if c is not None}
        _tax_ids_replace(tax_ids, user=self.user, reason=reason)
        _contacts_replace(contacts, user=self.user, reason=reason)
        # Accounts already in Stripe follow their changes there, once the import commits.
        for account in changed:
            if account.stripe_customer_id:  # type: ignore[attr-defined]
                account_push_after_commit(account)
        for outcome, account, _, _ in writes:
            if outcome.action == UPDATE and METHODS in outcome.changes:
                account_payment_methods_changed.send(account)

    def export_rows(self, queryset: Any) -> Iterator[list[Any]]:
        for account in queryset.select_related("account_manager").prefetch_related(
            "tax_ids", "contacts"
        ):
            yield [
                account.external_ref,
                *(getattr(account, c) for c in TEXT[:8]),
                str(account.billing_country),
                account.default_currency,
                account.account_manager.username if account.account_manager else "",
                account.status,
                account.tax_exemption,
                account.exemption_certificate,
                *(getattr(account, c) for c in DATES),
                "; ".join(account.accepted_payment_methods),
                _tax_ids_text(account.tax_ids.all()),
                _contacts_text(account.contacts.all()),
            ]

    def template_rows(self) -> list[list[str]]:
        return [
            [
                "CRM-1001",
                "Nordlicht Logistik GmbH",
                "Nordlicht",
                "ap@nordlicht.example",
                "Hafenstrasse 12",
                "",
                "Hamburg",
                "20457",
                "",
                "DE",
                "EUR",
                "",
                "active",
                "reverse",
                "",
                "",
                "",
                "card; sepa_debit",
                "eu_vat DE136695976",
                "Jana Wolf <jana.wolf@nordlicht.example> billing invoices",
            ],
        ]


@functools.cache
def _choices(column: str) -> list[tuple[Any, str]]:
    # Read once: a country field's 250 choices are rebuilt on every access.
    return list(Account._meta.get_field(column).choices or [])  # type: ignore[union-attr,arg-type]


def _changes(old: Account, new: Account, present: set[str]) -> dict[str, tuple[str, str]]:
    changes = cells.field_changes(old, new, [c for c in (*TEXT, *CHOICES, *DATES) if c in present])
    if METHODS in present and old.accepted_payment_methods != new.accepted_payment_methods:
        changes[METHODS] = (
            "; ".join(old.accepted_payment_methods),
            "; ".join(new.accepted_payment_methods),
        )
    if "account_manager" in present and old.account_manager_id != new.account_manager_id:
        changes["account_manager"] = (
            old.account_manager.username if old.account_manager else "",
            new.account_manager.username if new.account_manager else "",
        )
    return changes


def _tax_id_changes(
    existing: Account | None, wanted: list[tuple[str, str]] | None
) -> tuple[bool, bool, bool]:
    """Whether the row adds, changes or removes tax IDs of the account (None: not in the file).
    A tax ID is its type and number: one that differs is another."""
    if wanted is None:
        return False, False, False
    stored = {(t.type, t.value) for t in existing.tax_ids.all()} if existing else set()
    return bool(set(wanted) - stored), False, bool(stored - set(wanted))


def _contact_changes(
    existing: Account | None, wanted: list[tuple[str, str, str, bool]] | None
) -> tuple[bool, bool, bool]:
    """Whether the row adds, changes or removes contacts, matched on their email as
    _contacts_replace matches them."""
    if wanted is None:
        return False, False, False
    stored = {
        c.email.lower(): (c.name, c.role, c.receives_invoices)
        for c in (existing.contacts.all() if existing else [])
    }
    rows = {email.lower(): (name, role, invoices) for name, email, role, invoices in wanted}
    return (
        bool(rows.keys() - stored.keys()),
        any(stored[e] != v for e, v in rows.items() if e in stored),
        bool(stored.keys() - rows.keys()),
    )


def _refuse_inline_changes(
    outcome: RowOutcome,
    column: str,
    rules: AdminRules,
    account: Account | None,
    adds_changes_removes: tuple[bool, bool, bool],
) -> None:
    """Contacts and tax IDs change as the account page's inlines let this person change them."""
    adds, changes, removes = adds_changes_removes
    if adds and not rules.may_add(account):
        outcome.error(column, rules.no_add)
    if changes and not rules.may_change(account):
        outcome.error(column, rules.no_change)
    if removes and not rules.may_delete(account):
        outcome.error(column, rules.no_delete)


def _entries(cell: str) -> list[str]:
    return [e.strip() for e in cells.text(cell).replace("\n", ";").split(";") if e.strip()]


def _tax_ids_text(tax_ids: Any) -> str:
    return "; ".join(
        f"{t.type} {t.value}" for t in sorted(tax_ids, key=lambda t: (t.type, t.value))
    )


def _contact_text(name: str, email: str, role: str, invoices: bool) -> str:
    return f"{name} <{email}> {role}{' invoices' if invoices else ''}"


def _contacts_text(contacts: Any) -> str:
    return "; ".join(
        _contact_text(c.name, c.email, c.role, c.receives_invoices)
        for c in sorted(contacts, key=lambda c: (c.name, c.email))
    )


def _tax_ids_replace(wanted: dict[int, list[tuple[str, str]]], *, user: Any, reason: str) -> None:
    """Each account ends with exactly the tax IDs of its row; one kept keeps its Stripe id."""
    stored = TaxId.objects.filter(account_id__in=wanted)
    keep = {(t.account_id, t.type, t.value) for t in stored}
    gone = [t for t in stored if (t.type, t.value) not in wanted[t.account_id]]
    delete_with_history(gone, user=user, reason=reason)
    new = [
        TaxId(account_id=pk, type=kind, value=value, country=tax_id_country(kind, value))
        for pk, ids in wanted.items()
        for kind, value in ids
        if (pk, kind, value) not in keep
    ]
    save_with_history(TaxId, new, [], [], user=user, reason=reason)


def _contacts_replace(
    wanted: dict[int, list[tuple[str, str, str, bool]]], *, user: Any, reason: str
) -> None:
    """Each account ends with exactly the contacts of its row, matched on their email."""
    stored = {
        (c.account_id, c.email.lower()): c for c in Contact.objects.filter(account_id__in=wanted)
    }
    new, changed, seen = [], [], set()
    for pk, people in wanted.items():
        for name, email, role, invoices in people:
            seen.add((pk, email.lower()))
            contact = stored.get((pk, email.lower()))
            if contact is None:
                new.append(
                    Contact(
                        account_id=pk, name=name, email=email, role=role, receives_invoices=invoices
                    )
                )
            elif (contact.name, contact.role, contact.receives_invoices) != (name, role, invoices):
                contact.name, contact.role, contact.receives_invoices = name, role, invoices
                changed.append(contact)
    gone = [c for key, c in stored.items() if key not in seen]
    delete_with_history(gone, user=user, reason=reason)
    save_with_history(
        Contact, new, changed, ["name", "role", "receives_invoices"], user=user, reason=reason
    )
