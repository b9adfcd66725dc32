"""The contract screens: list, the contract page with its lines, ramps and tiers, and the
workflow buttons. Every state change goes through billing.contracts.services."""

from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, cast

import nested_admin
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import MinValueValidator
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from backoffice.admin_site import BackofficeAdmin, plain_column
from backoffice.models import User
from billing.catalog.models import CatalogItem
from billing.contracts import services
from billing.contracts.inline_html import (
    PLAIN_INPUTS,
    OneRowMediaFormset,
    StackedInlineHtml,
    TabularInlineHtml,
)
from billing.contracts.line_resources import ContractLineResource
from billing.contracts.models import Contract, ContractLine, PricePhase, PriceTier
from billing.contracts.resources import ContractResource
from billing.contracts.rules import RuleError, contract_errors, term_errors
from billing.contracts.selectors import (
    account_tax_readiness,
    contract_change_log,
    contract_errors_for,
    contract_lines_as_shown,
    contract_loaded_priced_lines,
    contract_upcoming_charges,
    contract_with_lines,
    contracts_notice_due,
    contracts_visible_to,
    line_first_phase,
    line_list_price,
)
from billing.money import amounts_as_typed, format_amount, format_money, format_unit_price
from billing.pricing import Line, Phase, PricingModel, Tier
from billing.tax.readiness import tax_readiness_html
from customers.selectors import accounts_visible_to
from file_imports.admin import FileImportExportMixin
from stripe_sync.admin import refused_while_disconnected, stripe_writes_table
from stripe_sync.writes import stripe_writes_of

# --- Inlines: lines -> phases (ramps) -> tiers


def _contract_of(obj: Any) -> Contract | None:
    # Rows come with their parents (LoadedRowsFormSet): no query per row.
    if isinstance(obj, Contract):
        return obj
    # New rows (a line being added with its phases) have no parent yet: nothing to protect.
    if isinstance(obj, ContractLine):
        return obj.contract if obj.contract_id else None
    if isinstance(obj, PricePhase):
        return _contract_of(obj.line) if obj.line_id else None
    if isinstance(obj, PriceTier):
        return _contract_of(obj.phase) if obj.phase_id else None
    return None


class WhileDraftOnly:
    """Lines, phases and tiers change only while their contract is a draft."""

    def _editable(self, obj: Any) -> bool:
        contract = _contract_of(obj)
        return contract is None or contract.is_editable

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_add_permission(request, obj) and self._editable(obj)  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._editable(obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._editable(obj)  # type: ignore[misc]


class ContractPageInline(WhileDraftOnly):
    """The inlines of the contract page: changed only while the contract is a draft, drawn
    with PlainInputsRenderer, and each with one formset class and one query a request: every
    line (phase) of a contract gets the same, which nested-admin built again for each."""

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("renderer", PLAIN_INPUTS)
        if set(kwargs) != {"renderer"}:
            return super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
        # What the class depends on: the person (the request) and whether the contract is a
        # draft (WhileDraftOnly).
        built = request.__dict__.setdefault("_contract_page_formsets", {})
        key = (type(self), self._editable(obj))
        if key not in built:
            built[key] = super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
        return built[key]

    def readonly_contents(self, obj: Any, name: str) -> str | None:
        """A read-only phase's or tier's amount as money of its contract's currency (50.500
        BHD, 0.0125 EUR a unit), not as stored (50.500000)."""
        if name not in ("unit_amount", "flat_amount") or getattr(obj, name, None) is None:
            return None
        contract = _contract_of(obj)
        if contract is None:
            return None
        if name == "unit_amount":
            return format_unit_price(obj.unit_amount, contract.currency)
        return format_amount(obj.flat_amount, contract.currency)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Asked for again for each line's phases (each phase's tiers): the same rows' query.
        built = request.__dict__.setdefault("_contract_page_querysets", {})
        if type(self) not in built:
            built[type(self)] = super().get_queryset(request)  # type: ignore[misc]
        return cast(QuerySet[Any], built[type(self)])


class LoadedRowIdField(forms.ModelChoiceField):
    """A row's hidden id, checked against the rows the formset loaded rather than read again
    (one query per line, phase and tier otherwise)."""

    def __init__(self, *args: Any, loaded: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loaded = loaded

    def to_python(self, value: Any) -> Any:
        row = None if value in self.empty_values else self.loaded.get(str(value))
        return super().to_python(value) if row is None else row


class LoadedRowsFormSet(nested_admin.formsets.NestedInlineFormSet):
    """An inline's rows taken from those loaded with its parent row (the contract page loads
    every line, phase and tier at once: contract_with_lines), instead of a query for each
    line's phases and each phase's tiers. Each row keeps its parent, for the permission checks
    (WhileDraftOnly). Saving, rows left as they were are not read again."""

    def get_queryset(self) -> Any:
        if not hasattr(self, "_page_rows"):
            if self.instance.pk is None and not self.is_bound:
                rows: Any = []  # a new parent (an add-row template) has none; no query to build
            else:
                loaded = self._loaded_rows()
                rows = self.load(self._of_this_contract()) if loaded is None else loaded
            fk, parent = self.fk.attname, self.instance.pk
            # The rows that were this parent's when read (nested-admin saves a row moved to
            # another parent), and each by id.
            self._own_ids = {row.pk for row in rows if parent and getattr(row, fk) == parent}
            self._by_id = {str(row.pk): row for row in rows}
            self._page_rows = rows
        return self._page_rows

    def load(self, rows: QuerySet[Any]) -> Any:
        """The rows when the parent came without them."""
        return rows

    # How each row reaches its contract.
    CONTRACT_PATHS = {
        ContractLine: "contract",
        PricePhase: "line__contract",
        PriceTier: "phase__line__contract",
    }

    def _of_this_contract(self) -> QuerySet[Any]:
        """The rows posted, as nested-admin reads them (by id, from the whole table: it lets a
        row move between parents), but only among this contract's: an id of another contract's
        line, phase or tier posted by hand is not one of them (refused in clean)."""
        return cast(QuerySet[Any], super().get_queryset()).filter(
            **{self.CONTRACT_PATHS[self.model]: self._contract_pk()}
        )

    def _contract_pk(self) -> Any:
        formset: Any = self
        while getattr(formset, "parent_form", None) is not None:
            formset = formset.parent_form.parent_formset
        return formset.instance.pk

    def clean(self) -> None:
        super().clean()
        pk = self.model._meta.pk.name
        for n, form in enumerate(self.initial_forms, start=1):
            if form.instance.pk is None:  # its id was posted, but is not among this contract's
                posted = self.data.get(f"{form.prefix}-{pk}")
                name = self.model._meta.verbose_name
                raise ValidationError(
                    f"Row {n}: {name} {posted} is not part of this contract. Open the contract "
                    "again and redo your change."
                )

    @cached_property
    def empty_form(self) -> Any:
        # The add-row template, drawn once but asked for by each pass over the rows.
        return super().empty_form

    def _loaded_rows(self) -> list[Any] | None:
        related = self.fk.remote_field.get_accessor_name()
        loaded = getattr(self.instance, "_prefetched_objects_cache", {}).get(related)
        if loaded is None or self.queryset.query.is_empty():  # empty: this person sees none
            return None
        rows = list(loaded)
        if not self.is_bound:
            return rows
        # Saving: the rows posted, as nested-admin reads them (by their ids) but from memory.
        pk = self.model._meta.pk.name
        posted = {
            self.data.get(f"{self.add_prefix(i)}-{pk}") for i in range(self.initial_form_count())
        } - {None, ""}
        kept = [row for row in rows if str(row.pk) in posted]
        return kept if len(kept) == len(posted) else None  # a row from elsewhere: read them all

    def add_fields(self, form: Any, index: Any) -> None:
        super().add_fields(form, index)
        pk = self.model._meta.pk.name
        field = form.fields.get(pk)
        if type(field) is forms.ModelChoiceField:
            self.get_queryset()
            form.fields[pk] = LoadedRowIdField(
                field.queryset,
                initial=field.initial,
                required=False,
                widget=field.widget,
                loaded=self._by_id,
            )

    def save(self, commit: bool = True) -> Any:
        # From here rows go (a deleted line takes its phases with it): ids are read again.
        self.get_queryset()
        self._by_id.clear()
        return super().save(commit)

    def save_existing_objects(self, initial_forms: Any = None, commit: bool = True) -> Any:
        # A row left as it was, still under its parent, is not saved: nested-admin would read
        # it three times to find that out.
        changed = [form for form in initial_forms or [] if not self._left_as_it_was(form)]
        return super().save_existing_objects(changed, commit)

    def _left_as_it_was(self, form: Any) -> bool:
        return (
            not form.has_changed()
            and not self._should_delete_form(form)
            and form.instance.pk in self._own_ids
            and not _parent_deleted(self)
        )


def _parent_deleted(formset: Any) -> bool:
    """Whether the row a nested formset hangs from (or one above it) is being deleted."""
    form = getattr(formset, "parent_form", None)
    if form is None:
        return False
    parent = form.parent_formset
    return bool(parent._should_delete_form(form)) or _parent_deleted(parent)


class PriceRowForm(forms.ModelForm):
    """A phase's or tier's amounts, labelled with what they are charged for (each billing
    period) and refused below zero on their field, in words (the database's check constraint
    would otherwise be named to the person)."""

    LABELS = {
        "unit_amount": "Unit price per billing period",
        "flat_amount": "Flat fee per billing period",
        "quantity": "Quantity (seats)",
        "included_units": "Included units per billing period",
    }
    HELP = {
        "unit_amount": "Per seat, or per unit used in the period for usage lines.",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in self.LABELS.items():
            if name in self.fields:
                self.fields[name].label = label
        for name, help_text in self.HELP.items():
            if name in self.fields:
                self.fields[name].help_text = help_text
        for name in ("unit_amount", "flat_amount"):
            if name in self.fields:
                self.fields[name].validators.append(
                    MinValueValidator(0, "An amount cannot be negative.")
                )
        # Saved amounts shown in the contract currency's precision (4000, 50.500).
        contract = _contract_of(self.instance) if self.instance.pk else None
        if contract is not None:
            amounts_as_typed(self, ("unit_amount", "flat_amount"), contract.currency)


class PriceTierInline(ContractPageInline, nested_admin.NestedTabularInline):
    model = PriceTier
    form = PriceRowForm
    formset = LoadedRowsFormSet
    template = TabularInlineHtml()
    extra = 0
    fields = ("up_to", "unit_amount", "flat_amount")
    verbose_name_plural = "tiers (tiered lines only)"


class PricePhaseForm(PriceRowForm):
    """A phase left at its defaults (blank dates: the whole term) with tiers entered under it is
    a phase to save: without this the formset skipped it as unchanged and saved its tiers
    without it (a 500)."""

    def has_changed(self) -> bool:
        return super().has_changed() or any(
            form.has_changed() and not (formset.can_delete and form["DELETE"].data)
            for formset in getattr(self, "nested_formsets", [])
            for form in formset.forms
        )


class PricePhaseInline(ContractPageInline, nested_admin.NestedTabularInline):
    model = PricePhase
    form = PricePhaseForm
    formset = LoadedRowsFormSet
    template = TabularInlineHtml()
    extra = 0
    min_num = 1
    fields = ("start_date", "end_date", "quantity", "unit_amount", "flat_amount", "included_units")
    inlines = (PriceTierInline,)
    verbose_name = "price phase"
    verbose_name_plural = (
        "prices and ramp phases (amounts per billing period; blank dates: the whole term)"
    )


def _tiers_entered(phase_form: forms.Form) -> list[tuple[Tier, forms.Form]]:
    """The phase's tiers as entered, each with its form."""
    tiers = []
    for formset in getattr(phase_form, "nested_formsets", []):
        for form in formset.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE"):
                continue
            tier = Tier(
                up_to=data.get("up_to"),
                unit_amount=data.get("unit_amount") or Decimal(0),
                flat_amount=data.get("flat_amount") or Decimal(0),
            )
            tiers.append((tier, form))
    # In the order entered: tiers out of order are an error to show, not to tidy away.
    return tiers


class ContractLinesFormSet(LoadedRowsFormSet):
    """Checks the whole contract as submitted, with the same rules as the services, before
    anything is saved."""

    def load(self, rows: QuerySet[Any]) -> Any:
        # Saving (the contract is read without its lines): the lines posted, with their phases,
        # tiers and what the page shows of them, at once.
        lines = list(contract_lines_as_shown(rows, currency=self.instance.currency))
        for line in lines:
            if line.contract_id == self.instance.pk:
                line.contract = self.instance
        return lines

    def clean(self) -> None:
        super().clean()
        contract: Contract = self.instance
        if not contract.start_date or not contract.end_date or not contract.currency:
            return  # the contract's own fields are in error; those messages come first
        lines = []
        # The form each line, phase and tier checked came from: its errors are shown there.
        form_of: dict[int, forms.Form] = {}
        for n, form in enumerate(self.forms, start=1):
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE"):
                continue
            if form.errors:
                return  # the line's own errors are shown on it (a blank model was a 500)
            nested = getattr(form, "nested_formsets", [])
            if not all(f.is_valid() for f in nested):
                return  # the row's own errors are shown on it
            phases = []
            for phase_formset in nested:
                for phase_form in phase_formset.forms:
                    p = getattr(phase_form, "cleaned_data", None)
                    if not p or p.get("DELETE"):
                        continue
                    if not all(f.is_valid() for f in getattr(phase_form, "nested_formsets", [])):
                        return
                    tiers = _tiers_entered(phase_form)
                    phase = Phase(
                        start=p.get("start_date") or contract.start_date,
                        end=p.get("end_date") or contract.end_date,
                        unit_amount=p.get("unit_amount") or Decimal(0),
                        flat_amount=p.get("flat_amount") or Decimal(0),
                        quantity=p.get("quantity") or 0,
                        included_units=p.get("included_units") or 0,
                        tiers=tuple(tier for tier, _ in tiers),
                    )
                    phases.append(phase)
                    form_of[id(phase)] = phase_form
                    form_of.update((id(tier), tier_form) for tier, tier_form in tiers)
            item = data.get("item")
            line = Line(
                key=data.get("key") or str(n),  # a new line gets its key on saving
                description=data.get("description", ""),
                model=PricingModel(data["pricing_model"]),
                metric=data.get("metric", ""),
                item_id=item.pk if item else None,
                phases=tuple(sorted(phases, key=lambda p: p.start)),
            )
            lines.append(line)
            form_of[id(line)] = form
        errors = contract_errors(
            lines,
            currency=contract.currency,
            term=(contract.start_date, contract.end_date),
            minimum_commit=contract.minimum_commit,
        )
        unplaced = [error for error in errors if not _shown_on_its_row(error, form_of)]
        if unplaced:
            raise ValidationError(list(unplaced))


def _shown_on_its_row(error: RuleError, form_of: dict[int, forms.Form]) -> bool:
    """Adds a rule's error to the tier, phase or line form it is about (on its field when the
    row has one): on a contract of hundreds of lines the person sees the row to fix."""
    for about in (error.tier, error.phase, error.line):
        form = form_of.get(id(about)) if about is not None else None
        if form is not None:
            form.add_error(error.field if error.field in form.fields else None, str(error))
            return True
    return False


class CatalogItemField(forms.ModelChoiceField):
    """A line's catalog item; the item the line has is taken as loaded with the line rather
    than read again (one query per line otherwise)."""

    loaded: CatalogItem | None = None

    def to_python(self, value: Any) -> Any:
        loaded = self.loaded
        if loaded is not None and value not in self.empty_values and str(value) == str(loaded.pk):
            return loaded
        return super().to_python(value)


class CatalogItemSelect(AutocompleteSelect):
    """The item search box; shows the line's item as loaded with the line (CatalogItemField)
    rather than reading it again for each line."""

    def optgroups(self, name: str, value: Any, attr: Any = None) -> Any:
        field = self.choices.field
        item = getattr(field, "loaded", None)
        chosen = {str(v) for v in value if str(v) not in field.empty_values}
        if item is None or chosen != {str(item.pk)}:
            return super().optgroups(name, value, attr)
        options = [] if self.is_required else [self.create_option(name, "", "", False, 0)]
        label = field.label_from_instance(item)
        options.append(self.create_option(name, item.pk, label, True, len(options)))
        return [(None, options, 0)]


class ContractLineForm(forms.ModelForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("item")
        if isinstance(field, CatalogItemField) and self.instance.pk:
            field.loaded = self.instance.item

    def _get_validation_exclusions(self) -> set[str]:
        exclude: set[str] = super()._get_validation_exclusions()  # type: ignore[misc]
        # The line keeps the item it was loaded with: no query per line to check it exists.
        field = self.fields.get("item")
        item = getattr(self, "cleaned_data", {}).get("item")
        if isinstance(field, CatalogItemField) and item is not None and item is field.loaded:
            exclude.add("item")
        return exclude


class ContractLineInline(ContractPageInline, nested_admin.NestedStackedInline):
    model = ContractLine
    form = ContractLineForm
    formset = ContractLinesFormSet
    template = StackedInlineHtml()
    extra = 0
    fields = (("item", "key"), ("pricing_model", "metric"), "description", "list_price")
    readonly_fields = ("list_price",)
    autocomplete_fields = ("item",)
    inlines = (PricePhaseInline,)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "item":
            kwargs["form_class"] = CatalogItemField
            using = kwargs.get("using")
            kwargs["widget"] = CatalogItemSelect(db_field, self.admin_site, using=using)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="list price and discount")
    def list_price(self, line: ContractLine) -> str:
        if not line.pk:
            return "-"
        price = line_list_price(line)
        if price is None or not price.unit_amount:
            return "no list price in this currency"
        first = line_first_phase(line)
        unit = first.unit_amount if first else None
        listed = format_money(price.unit_amount, unit_price=True)
        if not unit:
            return f"{listed} per unit"
        discount = (1 - unit / price.unit_amount.amount) * 100
        contracted = format_unit_price(unit, price.currency)
        if discount < 0:
            return f"{listed} per unit; contract price {contracted}: {-discount:.1f}% above list"
        return f"{listed} per unit; contract price {contracted}: {discount:.1f}% off"


# --- The contract page


# Fields a read-only contract shows through a method that writes them as money.
READ_ONLY_MONEY = {"minimum_commit": "minimum_commit_money"}


def _swapped(fields: Any, names: dict[str, str]) -> tuple[Any, ...]:
    """A fieldset's fields (names, or rows of names) with some names replaced."""
    return tuple(
        _swapped(field, names) if isinstance(field, (tuple, list)) else names.get(field, field)
        for field in fields
    )


def _without(fields: Any, row: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(field for field in fields if field != row)


class ContractForm(forms.ModelForm):
    # The version the person started from; a save based on an older one is refused.
    lock_version_seen = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Contract
        fields = (
            "number",
            "account",
            "signed_date",
            "start_date",
            "end_date",
            "auto_renew",
            "renewal_term_months",
            "notice_period_days",
            "effective_date",
            "billing_frequency",
            "billing_anchor_date",
            "collection_method",
            "payment_terms_days",
            "currency",
            "minimum_commit",
            "po_number",
            "notes",
        )
        # A saved contract has its number; the hint about the next one is for new contracts.
        help_texts = {"number": ""}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["lock_version_seen"].initial = self.instance.lock_version
            amounts_as_typed(self, ("minimum_commit",), self.instance.currency)
        elif "currency" in self.fields:
            # A new contract is in its account's currency unless the person chooses another
            # (the page fills it in as the account is picked: billing/contract_form.js).
            self.fields["currency"].required = False
            self.fields["currency"].help_text = "Blank: the account's default currency."
        if not self.instance.pk and "number" in self.fields:
            # The number contract_number_assign would give: it counts in the start date's year.
            year = timezone.localdate().year
            self.fields["number"].help_text = (
                f"Left blank, the next number is given on saving: "
                f"{services.contract_number_next(year=year)} for a contract starting in {year}."
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.instance.pk and not data.get("currency") and data.get("account"):
            data["currency"] = data["account"].default_currency
        seen = data.get("lock_version_seen")
        if self.instance.pk and "lock_version_seen" in self.fields and seen is None:
            # Left out of the POST (or not a number): whether someone changed the contract
            # since cannot be told, so the save is refused as a stale one is.
            raise ValidationError(
                "This page was sent without the version of the contract it was opened at, so "
                "whether someone changed it since cannot be told. Your changes were not saved: "
                "open the contract again, then redo them."
            )
        if self.instance.pk and seen is not None:
            current = Contract.objects.select_for_update().get(pk=self.instance.pk)
            if current.lock_version != seen:
                record = current.history.first()
                who = getattr(getattr(record, "history_user", None), "username", "someone")
                when = timezone.localtime(current.updated_at).strftime("%Y-%m-%d %H:%M")
                raise ValidationError(
                    f"{who} changed this contract at {when}, after you opened it. Your changes "
                    "were not saved: open the contract again to see theirs, then redo yours."
                )
        for field, message in term_errors(
            start=data.get("start_date"),
            end=data.get("end_date"),
            anchor=data.get("billing_anchor_date"),
            auto_renew=bool(data.get("auto_renew")),
            renewal_term_months=data.get("renewal_term_months"),
            effective=data.get("effective_date") if self.instance.amends_id else None,
        ):
            self.add_error(field, message)
        return data


class EndsWithinFilter(admin.SimpleListFilter):
    title = "renews or ends"
    parameter_name = "ends_within"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("30", "in the next 30 days"),
            ("60", "in the next 60 days"),
            ("90", "in the next 90 days"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contract]) -> QuerySet[Contract]:
        if self.value() not in ("30", "60", "90"):
            return queryset
        today = timezone.localdate()
        return queryset.filter(
            status=Contract.Status.ACTIVE,
            end_date__gte=today,
            end_date__lte=today + timedelta(days=int(self.value() or 0)),
        )


class NoticeDueFilter(admin.SimpleListFilter):
    """Active contracts whose last day to give notice (the end less the notice period) comes
    in the next 30, 60 or 90 days: the home page's "notice due" figures open this."""

    title = "notice due"
    parameter_name = "notice_within"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("30", "in the next 30 days"),
            ("60", "in the next 60 days"),
            ("90", "in the next 90 days"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contract]) -> QuerySet[Contract]:
        if self.value() not in ("30", "60", "90"):
            return queryset
        due = contracts_notice_due(
            queryset, today=timezone.localdate(), days=int(self.value() or 0)
        )
        return queryset.filter(pk__in=[pk for pk, _ in due])


TRANSITIONS = {
    # name: (button label, who sees it, asks for)
    "submit": ("Submit for approval", "edit", None),
    "approve": ("Approve", "approve", None),
    "send_back": ("Send back", "approve", "reason"),
    "amend": ("Amend", "edit", "effective_date"),
    "cancel": ("Cancel contract", "edit", "reason"),
    "terminate": ("Terminate", "approve", "end_date_and_reason"),
}


class TransitionForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    effective_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


@admin.register(Contract)
class ContractAdmin(FileImportExportMixin, nested_admin.NestedModelAdmin, BackofficeAdmin):
    form = ContractForm
    resource_classes = [ContractResource, ContractLineResource]
    change_form_template = "admin/billing/contract/change_form.html"
    list_display = (
        "__str__",
        "account",
        "account_manager",
        "status",
        plain_column("currency", "currency"),
        "acv",
        "tcv",
        "start_date",
        "end_date",
        "stripe_push_status",
    )
    list_select_related = ("account", "account__account_manager")
    list_filter = (
        "status",
        ("currency", admin.AllValuesFieldListFilter),  # the currencies in use, not all 135
        "account__account_manager",
        EndsWithinFilter,
        NoticeDueFilter,
        "stripe_push_status",
    )
    search_fields = ("number", "account__legal_name", "account__external_ref", "po_number")
    autocomplete_fields = ("account",)

    class Media:
        js = ("admin/js/jquery.init.js", "billing/contract_form.js")

    inlines = (ContractLineInline,)
    inline_admin_formset_helper_cls = OneRowMediaFormset
    show_full_result_count = False
    readonly_fields = (
        "status",
        "version",
        "amends",
        "acv",
        "tcv",
        "workflow",
        "upcoming_charges",
        "change_log",
        "versions",
        "tax_readiness",
        "stripe_schedule_id",
        "stripe_push_status",
        "stripe_pushed_at",
        "stripe_push_error",
        "stripe_writes",
    )
    actions = ("send_to_stripe",)
    fieldsets = (
        (None, {"fields": ("number", "account", "status", "workflow", "versions")}),
        (
            "Term",
            {
                "fields": (
                    ("signed_date", "start_date", "end_date"),
                    ("auto_renew", "renewal_term_months", "notice_period_days"),
                    ("version", "amends", "effective_date"),
                )
            },
        ),
        (
            "Billing",
            {
                "fields": (
                    ("billing_frequency", "billing_anchor_date"),
                    ("collection_method", "payment_terms_days"),
                    ("currency", "minimum_commit"),
                    "po_number",
                    ("tax_mode", "prices_include_tax"),
                    "tax_readiness",
                )
            },
        ),
        (
            "What it is worth",
            {"fields": (("acv", "tcv"), "upcoming_charges")},
        ),
        ("Notes", {"fields": ("notes", "lock_version_seen")}),
        (
            "Stripe",
            {
                "fields": (
                    ("stripe_push_status", "stripe_pushed_at", "stripe_schedule_id"),
                    "stripe_push_error",
                    "stripe_writes",
                )
            },
        ),
        ("Change log", {"fields": ("change_log",), "classes": ("collapse",)}),
    )

    @admin.display(description="tax on the next invoice")
    def tax_readiness(self, contract: Contract) -> str:
        if contract.pk is None:
            return "Shown once the contract is saved."
        readiness = account_tax_readiness(contract.account, today=timezone.localdate())
        return tax_readiness_html(readiness)

    @admin.display(description="sent to Stripe")
    def stripe_writes(self, contract: Contract) -> str:
        return stripe_writes_table(stripe_writes_of(contract))

    @admin.action(description="Send the selected records to Stripe now")
    def send_to_stripe(self, request: HttpRequest, queryset: QuerySet[Contract]) -> None:
        if refused_while_disconnected(self, request):
            return
        if not request.user.has_perm(services.APPROVE_CONTRACT):
            self.message_user(request, "Only finance sends contracts to Stripe.", messages.ERROR)
            return
        active = list(queryset.filter(status=Contract.Status.ACTIVE))
        for contract in active:
            services.contract_push_after_commit(contract)
        skipped = queryset.count() - len(active)
        note = f" ({skipped} not active: only active contracts go to Stripe)" if skipped else ""
        self.message_user(request, f"{len(active)} contract(s) queued for Stripe{note}.")

    def get_fieldsets(self, request: HttpRequest, obj: Contract | None = None) -> Any:
        # Version, amended contract and effective date mean something on amendments only.
        fieldsets: Any = self.fieldsets or ()
        if obj is None or not obj.amends_id:
            amendment_row = ("version", "amends", "effective_date")
            fieldsets = [
                (name, {**options, "fields": _without(options["fields"], amendment_row)})
                for name, options in fieldsets
                if obj is not None or name not in ("Change log", "Stripe")
            ]
        if obj is not None and not self.has_change_permission(request, obj):
            # Read-only, the minimum commit is shown as money, not as stored (30000.000).
            fieldsets = [
                (name, {**options, "fields": _swapped(options["fields"], READ_ONLY_MONEY)})
                for name, options in fieldsets
            ]
        return fieldsets

    @admin.display(description="minimum commit")
    def minimum_commit_money(self, contract: Contract) -> str:
        if contract.minimum_commit is None:
            return "-"
        return format_amount(contract.minimum_commit, contract.currency)

    # --- who sees and changes what

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contract]:
        return contracts_visible_to(cast(User, request.user)).select_related(
            "account", "account__account_manager"
        )

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Contract | None:
        contract = super().get_object(request, object_id, from_field)
        if contract is not None and request.method == "GET":
            # The page shows every line, phase and tier: loaded once, for the inlines and the
            # panels, rather than queries per line. Not when saving: the panels and the
            # services then read what was saved.
            contract_with_lines(contract)
        return contract

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "account":
            kwargs["queryset"] = accounts_visible_to(cast(User, request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Contract | None = None) -> bool:
        # Only drafts are edited; an active contract changes through an amendment.
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or obj.is_editable)

    def has_delete_permission(self, request: HttpRequest, obj: Contract | None = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or obj.status == Contract.Status.DRAFT)

    @admin.display(description="annual value", ordering="annual_contract_value")
    def acv(self, contract: Contract) -> str:
        if not contract.pk:
            return "computed on saving"
        return format_amount(contract.annual_contract_value, contract.currency)

    @admin.display(description="total value", ordering="total_contract_value")
    def tcv(self, contract: Contract) -> str:
        if not contract.pk:
            return "computed on saving"
        return format_amount(contract.total_contract_value, contract.currency)

    @admin.display(ordering="account__account_manager__username")
    def account_manager(self, contract: Contract) -> str:
        manager = contract.account.account_manager
        return manager.get_username() if manager else "-"

    # --- saving

    def save_model(self, request: HttpRequest, obj: Contract, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
            services.contract_number_assign(obj)
        services.contract_lock_version_bump(obj)
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.contract_lines_number(form.instance)
        services.contract_values_refresh(form.instance)

    # --- read-only panels

    @admin.display(description="next billing periods (usage counted as zero)")
    def upcoming_charges(self, contract: Contract) -> str:
        priced = contract_loaded_priced_lines(contract) if contract.pk else []
        if not contract.pk or contract_errors_for(contract, priced=priced):
            return "Shown once the contract's prices are complete."
        periods = contract_upcoming_charges(contract, today=timezone.localdate(), priced=priced)
        currency = contract.currency
        rows = format_html_join(
            "",
            "{}<tr><th colspan='2'>{} to {}, total</th><th style='text-align:right'>{}</th></tr>",
            (
                (
                    format_html_join(
                        "",
                        "<tr><td>{} to {}</td><td>{}</td><td style='text-align:right'>{}</td></tr>",
                        (
                            (c.start, c.end, c.description, format_amount(c.amount, currency))
                            for c in period.charges
                        ),
                    ),
                    period.start,
                    period.end,
                    format_amount(period.total, currency),
                )
                for period in periods
            ),
        )
        return format_html("<table><tbody>{}</tbody></table>", rows)

    @admin.display(description="versions")
    def versions(self, contract: Contract) -> str:
        if not contract.pk:
            return "-"
        siblings = Contract.objects.filter(number=contract.number).order_by("version")
        if len(siblings) < 2:
            return "The original; no amendments."
        return format_html_join(
            "",
            "<div>{}</div>",
            (
                (
                    format_html(
                        "{}{}: {}, in force from {}",
                        format_html(
                            '<a href="{}">{}</a>',
                            reverse("admin:billing_contract_change", args=[v.pk]),
                            v,
                        )
                        if v.pk != contract.pk
                        else v,
                        " (this page)" if v.pk == contract.pk else "",
                        v.get_status_display().lower(),
                        v.effective_date or v.start_date,
                    ),
                )
                for v in siblings
            ),
        )

    @admin.display(description="who changed what (contract, lines, phases, tiers)")
    def change_log(self, contract: Contract) -> str:
        if not contract.pk:
            return "-"
        return format_html(
            "<table><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        timezone.localtime(e.when).strftime("%Y-%m-%d %H:%M"),
                        e.who,
                        e.what,
                        e.action,
                        "; ".join(e.changes),
                        e.reason,
                    )
                    for e in contract_change_log(contract)
                ),
            ),
        )

    @admin.display(description="workflow")
    def workflow(self, contract: Contract) -> str:
        if not contract.pk:
            return "Saved as a draft; submit it for approval when it is complete."
        notes = []
        if contract.sent_back_reason:
            notes.append(format_html("<strong>Sent back:</strong> {}", contract.sent_back_reason))
        if contract.approved_by:
            notes.append(
                format_html(
                    "Approved by {} on {}",
                    contract.approved_by,
                    timezone.localtime(contract.approved_at).date(),
                )
            )
        if contract.ended_reason:
            notes.append(format_html("<strong>Ended:</strong> {}", contract.ended_reason))
        problems = (
            contract_errors_for(contract, priced=contract_loaded_priced_lines(contract))
            if contract.is_editable
            else []
        )
        if problems:
            notes.append(
                format_html("<strong>To fix before submitting:</strong> {}", "; ".join(problems))
            )
        return format_html_join("", "<div>{}</div>", ((n,) for n in notes)) or "-"

    # --- workflow buttons

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.transition_view)
        currency = self.admin_site.admin_view(self.account_currency_view)
        return [
            path("<int:pk>/transition/<str:name>/", view, name="billing_contract_transition"),
            path(
                "account-currency/<int:pk>/",
                currency,
                name="billing_contract_account_currency",
            ),
            *super().get_urls(),
        ]

    def account_currency_view(self, request: HttpRequest, pk: int) -> JsonResponse:
        """An account's default currency, for the new-contract page to fill in as the person
        picks the account; only accounts the person may write contracts for."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        account = get_object_or_404(accounts_visible_to(cast(User, request.user)), pk=pk)
        return JsonResponse({"currency": account.default_currency})

    def allowed_transitions(self, request: HttpRequest, contract: Contract) -> list[str]:
        Status = Contract.Status
        may_approve = request.user.has_perm(services.APPROVE_CONTRACT)
        by_status = {
            Status.DRAFT: ["submit", "cancel"],
            Status.PENDING_APPROVAL: ["approve", "send_back", "cancel"],
            Status.ACTIVE: ["amend", "terminate"],
        }.get(Contract.Status(contract.status), [])
        return [name for name in by_status if TRANSITIONS[name][1] == "edit" or may_approve]

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        contract = context.get("original")
        if contract is not None:
            context["transitions"] = [
                (
                    TRANSITIONS[name][0],
                    reverse("admin:billing_contract_transition", args=[contract.pk, name]),
                )
                for name in self.allowed_transitions(request, contract)
            ]
        return super().render_change_form(request, context, *args, **kwargs)

    def transition_view(self, request: HttpRequest, pk: int, name: str) -> HttpResponse:
        contract = get_object_or_404(self.get_queryset(request), pk=pk)  # own accounts only
        if name not in self.allowed_transitions(request, contract):
            raise PermissionDenied
        label, _, asks = TRANSITIONS[name]
        form = TransitionForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    result = self._run_transition(request, contract, name, data)
            except (ValidationError, PermissionDenied) as error:
                messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
            else:
                messages.success(
                    request, f"{label}: {result} is {result.get_status_display().lower()}."
                )
                return HttpResponseRedirect(
                    reverse("admin:billing_contract_change", args=[result.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{label}: contract {contract}",
            "contract": contract,
            "form": form,
            "asks": asks or "",
            "label": label,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/billing/contract/transition.html", context)

    def _run_transition(
        self, request: HttpRequest, contract: Contract, name: str, data: dict[str, Any]
    ) -> Contract:
        user = cast(User, request.user)  # admin views run for logged-in staff only
        match name:
            case "submit":
                return services.contract_submit(contract=contract, by=user)
            case "approve":
                return services.contract_approve(contract=contract, by=user)
            case "send_back":
                return services.contract_send_back(
                    contract=contract,
                    by=user,
                    reason=data["reason"],
                )
            case "cancel":
                return services.contract_cancel(
                    contract=contract,
                    by=user,
                    reason=data["reason"],
                )
            case "amend":
                if not data.get("effective_date"):
                    raise ValidationError("Give the date the amendment takes effect.")
                return services.contract_amend(
                    contract=contract,
                    by=user,
                    effective_date=data["effective_date"],
                )
            case "terminate":
                if not data.get("end_date"):
                    raise ValidationError("Give the contract's last day.")
                return services.contract_terminate(
                    contract=contract,
                    by=user,
                    end_date=data["end_date"],
                    reason=data["reason"],
                )
        raise PermissionDenied
