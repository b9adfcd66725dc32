"""The invoice review queue and the invoice page: where finance decides what goes out."""

import csv
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from djstripe.models import Invoice, LineItem, TaxRate

from backoffice.admin_site import BackofficeAdmin, ReadOnlyAdmin
from billing.contracts.models import Contract
from billing.invoices import credit_notes
from billing.invoices import services as reviews
from billing.invoices.checks import (
    ContractExpectation,
    DraftInvoice,
    Rule,
    UsageLegs,
    compare_lines,
    draft_from_stripe,
    main_expectation,
    tax_amounts,
)
from billing.invoices.models import CreditNote, InvoiceApprovalLimit, InvoiceReview
from billing.invoices.selectors import (
    AWAITING_DECISION,
    invoice_expectations,
    invoice_review_currencies,
    invoice_review_totals,
)
from billing.invoices.tasks import invoice_review_task
from billing.money import format_amount, format_minor, format_money, quantize
from customers.models import Account
from file_imports.cells import neutralised
from stripe_sync.admin import stripe_writes_table
from stripe_sync.outbox import enqueue
from stripe_sync.writes import stripe_connected, stripe_writes_of

T = TypeVar("T")

RULE_LABELS = {
    Rule.NO_CONTRACT: "no contract",
    Rule.CURRENCY: "currency",
    Rule.UNIT_PRICE: "unit price",
    Rule.QUANTITY: "quantity",
    Rule.LINE_AMOUNT: "line amount",
    Rule.UNEXPLAINED_LINE: "line not in contract",
    Rule.MISSING_CHARGE: "charge missing",
    Rule.MINIMUM_COMMIT: "true-up missing",
    Rule.TOTAL: "total",
    Rule.TAX: "tax",
    Rule.COLLECTION_METHOD: "collection method",
    Rule.DUE_DATE: "due date",
    Rule.DUPLICATE: "duplicate",
    Rule.USAGE_NOT_RECORDED: "usage not recorded",
    Rule.USAGE_METER_MISMATCH: "usage vs Stripe's meter",
    Rule.BILLING_PERIOD: "not a billing period",
    Rule.AFTER_CONTRACT_END: "after the contract ended",
    Rule.BEFORE_CONTRACT_START: "before the contract starts",
    Rule.DISCOUNT: "discount not granted",
    Rule.TAX_AMOUNT: "tax amount",
    Rule.INVOICE_TOTALS: "total or amount due",
    Rule.AUTOMATIC_TAX: "Stripe Tax off",
    Rule.TAXABILITY: "taxability",
    Rule.EXEMPTION_EVIDENCE: "exemption evidence",
}


class DecisionFilter(admin.SimpleListFilter):
    """The queue opens on the drafts that need a decision; every status, and all of them, are a
    click away. A search looks through all of them (an invoice id is typed to find it)."""

    title = "status"
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(self.ALL, "All"), *InvoiceReview.Status.choices]

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Needs a decision",
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == self.ALL:
            return queryset
        if value:
            return queryset.filter(status=value)
        if request.GET.get("q") or any(k.startswith("status__") for k in request.GET):
            return queryset
        return queryset.filter(status__in=AWAITING_DECISION)


class FlagKindFilter(admin.SimpleListFilter):
    title = "flag"
    parameter_name = "flag"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(RULE_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(flag_rules__contains=f",{value},") if value else queryset


class CurrencyFilter(admin.SimpleListFilter):
    title = "currency"
    parameter_name = "currency"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(c, c) for c in invoice_review_currencies()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(currency=value) if value else queryset


class AmountFilter(admin.SimpleListFilter):
    title = "amount (in its currency)"
    parameter_name = "amount"
    BANDS = {
        "lt1k": (None, Decimal(1000)),
        "1k-10k": (Decimal(1000), Decimal(10000)),
        "10k-100k": (Decimal(10000), Decimal(100000)),
        "gt100k": (Decimal(100000), None),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("lt1k", "under 1,000"),
            ("1k-10k", "1,000 to 10,000"),
            ("10k-100k", "10,000 to 100,000"),
            ("gt100k", "over 100,000"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        low, high = self.BANDS.get(self.value() or "", (None, None))
        if low is not None:
            queryset = queryset.filter(amount__gte=low)
        if high is not None:
            queryset = queryset.filter(amount__lt=high)
        return queryset


class _Previewed(Exception):
    """A preview was shown: nothing was decided."""


def _decimal(value: Any) -> Decimal:
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():  # "abc", "NaN", "Infinity"
        raise ValidationError(f"'{value}' is not an amount.")
    return number


class DecisionForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), required=False)


def _tax_rate_names(rate_ids: Sequence[str]) -> dict[str, str]:
    """Stripe tax rate ids as people know them: "VAT DE 19% (added)"."""
    names = {}
    for rate in TaxRate.objects.filter(id__in=set(rate_ids) - {""}):
        data = rate.stripe_data
        percentage = Decimal(str(data.get("percentage", 0))).normalize()
        how = "included" if data.get("inclusive") else "added"
        names[rate.id] = f"{data.get('display_name') or rate.id} {percentage:f}% ({how})"
    return names


def _once_per_page(review: InvoiceReview, name: str, read: Callable[[], T]) -> T:
    """What the invoice page's sections share, read once: the admin renders them one by one
    with the same review object."""
    cache = review.__dict__.setdefault("_on_page", {})
    if name not in cache:
        cache[name] = read()
    return cast(T, cache[name])


EXPORT_COLUMNS = [
    "invoice",
    "status",
    "flags",
    "currency",
    "amount before tax",
    "customer",
    "customer reference",
    "contract",
    "period start",
    "period end",
    "account manager",
    "created in Stripe",
]


def period_text(review: InvoiceReview) -> str:
    if not review.period_start:
        return "-"
    return f"{review.period_start} to {review.period_end or '?'}"


def _ago(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h"


@admin.register(InvoiceReview)
class InvoiceReviewAdmin(ReadOnlyAdmin, BackofficeAdmin):
    index_section = "Invoice review"
    change_form_template = "admin/billing/invoicereview/change_form.html"
    change_list_template = "admin/billing/invoicereview/change_list.html"
    list_display = (
        "stripe_invoice_id",
        "status",
        "flags_summary",
        "amount_shown",
        "account",
        "contract_shown",
        "period",
        "account_manager",
        "age",
        "finalizes_in",
    )
    list_select_related = ("account", "account__account_manager", "contract")
    list_filter = (
        DecisionFilter,
        FlagKindFilter,
        CurrencyFilter,
        "account__account_manager",
        AmountFilter,
    )
    search_fields = ("=stripe_invoice_id", "account__legal_name", "contract__number")
    search_help_text = "An invoice id (in_...), or part of a customer's name or a contract number."
    ordering = ("stripe_created_at", "id")  # oldest first
    actions = ("approve_clean", "void_finalized", "rerun_checks")
    show_full_result_count = False
    readonly_fields = (
        "summary",
        "flags_table",
        "lines_side_by_side",
        "usage_three_ways",
        "tax_breakdown",
        "decisions",
        "stripe_writes",
    )
    fields = readonly_fields

    def has_approve_invoice_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(reviews.APPROVE_INVOICE)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[InvoiceReview], search_term: str
    ) -> tuple[QuerySet[InvoiceReview], bool]:
        # Customers and contracts are looked up first (small tables), then the reviews by
        # their indexed keys: Django's own search reads every review at 100,000 of them.
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.startswith("in_"):
            return queryset.filter(stripe_invoice_id=term), False
        accounts = list(
            Account.objects.filter(legal_name__icontains=term).values_list("pk", flat=True)
        )
        contracts = list(
            Contract.objects.filter(number__icontains=term).values_list("pk", flat=True)
        )
        return queryset.filter(Q(account_id__in=accounts) | Q(contract_id__in=contracts)), False

    # --- the queue's columns

    @admin.display(description="flags")
    def flags_summary(self, review: InvoiceReview) -> str:
        if not review.flag_count:
            return "clean"
        kinds = [RULE_LABELS.get(r, r) for r in review.flag_rules.strip(",").split(",") if r]
        return f"{review.flag_count}: {', '.join(kinds)}"

    @admin.display(description="amount", ordering="amount")
    def amount_shown(self, review: InvoiceReview) -> str:
        return review.amount_money

    @admin.display(description="contract", ordering="contract__number")
    def contract_shown(self, review: InvoiceReview) -> str:
        if review.contract is None:
            return "-"
        return f"{review.contract.number} v{review.contract.version}"

    @admin.display(description="period", ordering="period_start")
    def period(self, review: InvoiceReview) -> str:
        return period_text(review)

    @admin.display(description="account manager")
    def account_manager(self, review: InvoiceReview) -> str:
        manager = review.account.account_manager if review.account else None
        return manager.get_username() if manager else "-"

    @admin.display(description="age", ordering="stripe_created_at")
    def age(self, review: InvoiceReview) -> str:
        if not review.stripe_created_at:
            return "-"
        # Never negative, even for a draft stamped a little ahead of our clock.
        return _ago(max(timedelta(0), timezone.now() - review.stripe_created_at))

    @admin.display(description="Stripe finalizes it in")
    def finalizes_in(self, review: InvoiceReview) -> str:
        if review.status in reviews.ENDED:
            return "-"
        if review.held_in_stripe or not review.finalizes_at:
            return "never: held"
        left = review.finalizes_at - timezone.now()
        return "any moment" if left.total_seconds() <= 0 else _ago(left)

    # --- the invoice page

    def _invoice(self, review: InvoiceReview) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return _once_per_page(review, "invoice", lambda: self._invoice_read(review))

    def _expected(self, review: InvoiceReview) -> tuple[DraftInvoice, list[ContractExpectation]]:
        """The draft as the checks read it, and what its contract versions expect of it."""

        def read() -> tuple[DraftInvoice, list[ContractExpectation]]:
            draft = draft_from_stripe(*self._invoice(review))
            return draft, invoice_expectations(review.account, draft)

        return _once_per_page(review, "expected", read)

    def _invoice_read(self, review: InvoiceReview) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        invoice = Invoice.objects.filter(id=review.stripe_invoice_id).first()
        data = invoice.stripe_data if invoice else {"id": review.stripe_invoice_id}
        lines = [
            line.stripe_data
            for line in LineItem.objects.filter(stripe_data__invoice=review.stripe_invoice_id)
        ]
        return data, lines

    @admin.display(description="invoice")
    def summary(self, review: InvoiceReview) -> str:
        data, _ = self._invoice(review)
        currency = str(data.get("currency") or review.currency).upper()
        # Stripe sends these in minor units: shown as money, 2,975.00 EUR rather than 297500.
        paid, due = (
            (format_minor(int(data.get(k) or 0), currency) for k in ("amount_paid", "amount_due"))
            if currency
            else ("?", "?")
        )
        contract = (
            format_html(
                '<a href="{}">{} v{}</a>',
                reverse("admin:billing_contract_change", args=[review.contract.pk]),
                review.contract.number,
                review.contract.version,
            )
            if review.contract
            else "no contract"
        )
        links = format_html_join(
            " · ",
            '<a href="{}" target="_blank" rel="noopener">{}</a>',
            (
                (url, label)
                for url, label in (
                    (
                        f"https://dashboard.stripe.com/{'' if data.get('livemode') else 'test/'}"
                        f"invoices/{review.stripe_invoice_id}",
                        "Stripe",
                    ),
                    (data.get("hosted_invoice_url"), "invoice page"),
                    (data.get("invoice_pdf"), "PDF"),
                )
                if url
            ),
        )
        return format_html(
            "{} · {} · contract {} · period {} to {} · Stripe status: {} (paid {} of {}) · {}",
            review.account or "unknown customer",
            self.amount_shown(review),
            contract,
            review.period_start or "?",
            review.period_end or "?",
            data.get("status", "?"),
            paid,
            due,
            links,
        )

    @admin.display(description="what the checks found")
    def flags_table(self, review: InvoiceReview) -> str:
        if not review.flags:
            return "Clean: every check passed."
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td class="errornote">{}</td><td>{}</td><td>{}</td></tr>',
            (
                (RULE_LABELS.get(f["rule"], f["rule"]), f["message"], f["expected"], f["actual"])
                for f in review.flags
            ),
        )
        return format_html(
            "<table><thead><tr><th>rule</th><th>what</th><th>contract says</th>"
            "<th>invoice says</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Stripe's lines and the contract's")
    def lines_side_by_side(self, review: InvoiceReview) -> str:
        draft, expected = self._expected(review)
        if not expected:
            return "No contract covers this period: there is nothing to compare with."
        names = _tax_rate_names(
            [
                *(r for e in expected for r in e.tax_rate_ids),
                *(r for x in draft.lines for r in x.tax_rate_ids),
            ]
        )

        rows = format_html_join(
            "",
            "<tr><td>{}<br><small>{} to {} · {}</small></td>{}</tr>",
            (
                (
                    row.description or "(no description)",
                    row.start,
                    row.end,
                    row.key or "no contract line",
                    format_html_join(
                        "",
                        '<td class="{}">{}</td>',
                        (
                            ("review-diff" if differs else "", value)
                            for billed, wanted, differs in zip(
                                row.billed, row.expected, row.differences(), strict=True
                            )
                            for value in (billed, wanted)
                        ),
                    ),
                )
                for row in compare_lines(draft, expected, names)
            ),
        )
        return format_html(
            "<table><thead><tr><th rowspan=2>charge</th><th colspan=2>quantity</th>"
            "<th colspan=2>unit price</th><th colspan=2>amount</th><th colspan=2>tax</th></tr>"
            "<tr><th>Stripe</th><th>contract</th><th>Stripe</th><th>contract</th><th>Stripe</th>"
            "<th>contract</th><th>Stripe</th><th>contract</th></tr></thead><tbody>{}</tbody>"
            "</table><p>Differences are highlighted. Contract {}; the usage it expects: {}.</p>",
            rows,
            " and ".join(e.contract for e in expected),
            ", ".join(
                f"{legs['metric']} {legs['recorded']:,} units recorded for {legs['period']}"
                for legs in review.usage_check
                if legs.get("recorded") is not None
            )
            or "none recorded",
        )

    @admin.display(description="usage: recorded, in Stripe's meter, billed")
    def usage_three_ways(self, review: InvoiceReview) -> str:
        if not review.usage_check:
            return "The contract bills no usage in this period."

        def figure(value: int | None, unknown: str) -> str:
            return unknown if value is None else f"{value:,}"

        rows = format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="{}">{}</td></tr>',
            (
                (
                    legs.metric,
                    figure(legs.recorded, "not recorded"),
                    figure(legs.meter, "not read (no Stripe account)"),
                    figure(legs.billed, ""),
                    "errornote" if legs.disagreement() else "",
                    legs.disagreement() or "agree",
                )
                for legs in (UsageLegs(**row) for row in review.usage_check)
            ),
        )
        return format_html(
            "<table><thead><tr><th>metric</th><th>recorded by us</th><th>Stripe's meter</th>"
            "<th>billed on the draft</th><th></th></tr></thead><tbody>{}</tbody></table>"
            "<p>As at the last check ({}).</p>",
            rows,
            f"{review.checked_at:%Y-%m-%d %H:%M}" if review.checked_at else "never",
        )

    @admin.display(description="tax")
    def tax_breakdown(self, review: InvoiceReview) -> str:
        data, lines = self._invoice(review)
        currency = str(data.get("currency") or review.currency).upper()
        if not currency:
            return "-"
        amounts = tax_amounts(data, lines)
        names = _tax_rate_names([t.rate_id for t in amounts])

        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    names.get(t.rate_id, t.rate_id) or "Stripe Tax",
                    "included" if t.inclusive else "added",
                    t.reason.replace("_", " ") or "-",
                    format_minor(t.taxable, currency),
                    format_minor(t.amount, currency),
                )
                for t in amounts
            ),
        ) or mark_safe("<tr><td colspan=5>No tax on this invoice.</td></tr>")
        subtotal = int(data.get("subtotal") or 0)
        tax = sum(t.amount for t in amounts if not t.inclusive)
        total = int(data.get("total") or subtotal + tax)
        expected = "no contract"
        draft, versions = self._expected(review)
        want = main_expectation(draft, versions)
        if want is not None:
            wanted = _tax_rate_names(list(want.tax_rate_ids))
            expected = "; ".join(
                part
                for part in (
                    ", ".join(wanted.get(i, i) for i in want.tax_rate_ids),
                    want.tax_note,
                )
                if part
            )
        return format_html(
            "<table><thead><tr><th>rate</th><th>to the price</th><th>why</th>"
            "<th>taxable</th><th>tax</th></tr></thead><tbody>{}</tbody><tfoot>"
            "<tr><td colspan=4>before tax</td><td>{}</td></tr>"
            "<tr><td colspan=4>tax added</td><td>{}</td></tr>"
            "<tr><th colspan=4>total</th><th>{}</th></tr></tfoot></table>"
            "<p>The tax settings say: {}.</p>",
            rows,
            format_minor(subtotal, currency),
            format_minor(tax, currency),
            format_minor(total, currency),
            expected,
        )

    @admin.display(description="decisions")
    def decisions(self, review: InvoiceReview) -> str:
        parts = []
        if review.approved_by:
            when = f"{review.approved_at:%Y-%m-%d %H:%M}" if review.approved_at else ""
            parts.append(f"approved by {review.approved_by} on {when}")
        if review.second_approved_by:
            when = (
                f"{review.second_approved_at:%Y-%m-%d %H:%M}" if review.second_approved_at else ""
            )
            parts.append(f"second approval by {review.second_approved_by} on {when}")
        if review.justification:
            parts.append(f"justification: {review.justification}")
        if review.note:
            parts.append(f"note: {review.note}")
        return "; ".join(parts) or "none yet"

    @admin.display(description="sent to Stripe")
    def stripe_writes(self, review: InvoiceReview) -> str:
        """Holding, finalizing, voiding...: each request to Stripe and how it went."""
        return stripe_writes_table(stripe_writes_of(review))

    # --- deciding

    ACTIONS = {
        "approve": "Approve and finalize",
        "hold": "Hold with a note",
        "void": "Void",
        "mark_uncollectible": "Mark uncollectible",
        "send": "Send to the customer",
        "recheck": "Re-run the checks",
        "true_up": "Add the minimum-commit true-up",
    }
    # Changes to a held draft, offered with what each changes (not in the list above).
    EDITS = {
        "correct": "Correct the draft",
        "custom_fields": "Set the PO and contract numbers",
        "credit_note": "Credit note",
        "credit_approve": "Credit note approved",
    }
    # The actions that take a text, and what it is.
    ACTION_TEXTS = {
        "approve": "Justification (needed when flagged)",
        "hold": "Why it is held",
        "void": "Why it is voided",
        "mark_uncollectible": "Why it is uncollectible",
        "send": "Justification (sending a draft finalizes it)",
    }

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.decide_view)
        export = self.admin_site.admin_view(self.export_view)
        return [
            path("<int:pk>/decide/<str:action>/", view, name="billing_invoicereview_decide"),
            path("export/", export, name="billing_invoicereview_export"),
            *super().get_urls(),
        ]

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        review = context.get("original")
        if review is not None and request.user.has_perm(reviews.APPROVE_INVOICE):
            # Only what Stripe allows for the invoice's status; the true-up where the checks
            # found one missing.
            status = str(self._invoice(review)[0].get("status") or "draft")
            allowed = reviews.invoice_actions_allowed(review, status)
            owes_true_up = f",{Rule.MINIMUM_COMMIT}," in review.flag_rules
            context["decisions"] = [
                (
                    name,
                    label,
                    reverse("admin:billing_invoicereview_decide", args=[review.pk, name]),
                    self.ACTION_TEXTS.get(name, ""),
                )
                for name, label in self.ACTIONS.items()
                if name in allowed and (name != "true_up" or owes_true_up)
            ]
            context["stripe_status"] = reviews.STATUS_WORDS.get(status, status)
            if "credit_note" in allowed:
                context["credit_lines"] = [
                    (
                        line,
                        format_minor(line.billed, review.currency),
                        format_minor(line.billed - line.credited_before, review.currency),
                    )
                    for line in credit_notes.creditable_lines(review, self._invoice(review)[1])
                ]
                context["credit_reasons"] = CreditNote.Reason.choices
                context["credit_url"] = reverse(
                    "admin:billing_invoicereview_decide", args=[review.pk, "credit_note"]
                )
        if review is not None:
            context["credit_notes"] = [
                (
                    note,
                    reverse(
                        "admin:billing_invoicereview_decide", args=[review.pk, "credit_approve"]
                    )
                    if note.status == CreditNote.Status.AWAITING_SECOND
                    else "",
                )
                for note in credit_notes.credit_notes_of(review.stripe_invoice_id).select_related(
                    "requested_by", "second_approved_by"
                )
            ]
            if "edit" in allowed:
                decide = reverse("admin:billing_invoicereview_decide", args=[review.pk, "correct"])
                context["corrections"] = [
                    (kind, target, label, decide)
                    for kind, target, label in reviews.draft_corrections(*self._expected(review))
                ]
                context["custom_fields_url"] = reverse(
                    "admin:billing_invoicereview_decide", args=[review.pk, "custom_fields"]
                )
                context["po_number"] = review.contract.po_number if review.contract else ""
        return super().render_change_form(request, context, *args, **kwargs)

    def _warn_without_stripe(self, request: HttpRequest) -> None:
        if not stripe_connected():
            messages.warning(
                request,
                "No Stripe account is connected (STRIPE_SECRET_KEY is not set): decisions are "
                "recorded here, but nothing is sent to Stripe, so no invoice is finalized, "
                "voided or sent.",
            )

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "GET":
            self._warn_without_stripe(request)
        return super().changeform_view(request, *args, **kwargs)

    def changelist_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "GET":
            self._warn_without_stripe(request)
        response = super().changelist_view(request, *args, **kwargs)
        context = getattr(response, "context_data", None)
        if isinstance(response, TemplateResponse) and context and "cl" in context:
            # What the list shows, whole (not one page of it), per currency: never one sum.
            context["totals"] = [
                (total, format_amount(total.amount, total.currency))
                for total in invoice_review_totals(context["cl"].queryset)
            ]
            context["export_url"] = (
                reverse("admin:billing_invoicereview_export") + "?" + request.GET.urlencode()
            )
        return response

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The list as shown (its filters and search), every row, as CSV for a spreadsheet."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        reviews = changelist.get_queryset(request).select_related(
            "account", "account__account_manager", "contract"
        )
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="invoice-review.csv"'
        writer = csv.writer(response)
        writer.writerow(EXPORT_COLUMNS)
        for review in reviews.iterator(chunk_size=2000):
            writer.writerow([neutralised(str(cell)) for cell in self._export_row(review)])
        return response

    def _export_row(self, review: InvoiceReview) -> list[Any]:
        return [
            review.stripe_invoice_id,
            review.get_status_display(),
            self.flags_summary(review),
            review.currency,
            # A number a spreadsheet adds up, in the currency's precision; its currency beside.
            quantize(review.amount.amount, review.currency) if review.currency else review.amount,
            review.account or "",
            review.account.external_ref if review.account else "",
            self.contract_shown(review),
            review.period_start or "",
            review.period_end or "",
            self.account_manager(review),
            review.stripe_created_at.date() if review.stripe_created_at else "",
        ]

    def decide_view(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        review = get_object_or_404(self.get_queryset(request), pk=pk)
        if action not in self.ACTIONS | self.EDITS or request.method != "POST":
            raise PermissionDenied
        text = DecisionForm(request.POST).data.get("text", "")
        try:
            with transaction.atomic():
                self._decide(request, review, action, str(text))
        except _Previewed:
            pass
        except (ValidationError, PermissionDenied) as error:
            messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
        else:
            done = (self.ACTIONS | self.EDITS)[action]
            messages.success(
                request,
                f"{done}: {review.stripe_invoice_id}."
                + {
                    "correct": " Sent to Stripe; the checks run again once Stripe answers.",
                    "custom_fields": " Sent to Stripe.",
                    "credit_note": " Recorded; it is issued in Stripe once approved.",
                }.get(action, ""),
            )
        return HttpResponseRedirect(reverse("admin:billing_invoicereview_change", args=[pk]))

    def _decide(self, request: HttpRequest, review: InvoiceReview, action: str, text: str) -> None:
        user = request.user
        if action == "approve":
            reviews.invoice_approve(review=review, by=user, justification=text)
        elif action == "hold":
            reviews.invoice_hold(review=review, by=user, note=text)
        elif action == "true_up":
            reviews.invoice_true_up_add(review=review, by=user)
        elif action == "correct":
            if request.POST.get("charge"):
                reviews.invoice_charge_add(
                    review=review, by=user, line_key=str(request.POST["charge"])
                )
            else:
                reviews.invoice_line_correct(
                    review=review, by=user, line_id=str(request.POST.get("line") or "")
                )
        elif action == "credit_note":
            amounts = {
                name.removeprefix("credit-"): _decimal(value)
                for name, value in request.POST.items()
                if name.startswith("credit-") and str(value).strip()
            }
            reason, memo = (
                str(request.POST.get("reason") or ""),
                str(request.POST.get("memo") or ""),
            )
            if request.POST.get("preview"):
                preview = credit_notes.credit_note_preview(
                    review=review, amounts=amounts, reason=reason, memo=memo
                )
                messages.info(
                    request,
                    f"Preview (nothing sent): a credit note of {preview.money(preview.amount)}"
                    + (
                        f" and {preview.money(preview.tax)} of tax, "
                        f"{preview.money(preview.total)} in all"
                        if preview.tax
                        else ""
                    )
                    + ": "
                    + "; ".join(
                        f"'{x.description}' {preview.money(x.amount)}" for x in preview.lines
                    )
                    + f". Credited on this invoice after it: "
                    f"{preview.money(preview.credited_before + preview.total)} of "
                    f"{preview.money(preview.invoice_total)}.",
                )
                raise _Previewed
            note = credit_notes.credit_note_request(
                review=review, by=user, amounts=amounts, reason=reason, memo=memo
            )
            if note.status == CreditNote.Status.AWAITING_SECOND:
                messages.warning(
                    request,
                    f"The credit note of {note.amount_money} is above the limit: another "
                    "finance person approves it before it is issued.",
                )
        elif action == "credit_approve":
            asked = str(request.POST.get("note") or "")
            if not asked.isdigit():
                raise ValidationError(f"No credit note {asked!r} on this invoice.")
            note = get_object_or_404(
                credit_notes.credit_notes_of(review.stripe_invoice_id), pk=int(asked)
            )
            credit_notes.credit_note_approve(note=note, by=user)
        elif action == "custom_fields":
            reviews.invoice_custom_fields_set(review=review, by=user, po_number=text)
        elif action == "recheck":
            enqueue(invoice_review_task, review.stripe_invoice_id)
        else:
            reviews.invoice_decision_record(review=review, by=user, action=action, why=text)

    def _confirmation(
        self,
        request: HttpRequest,
        queryset: QuerySet[InvoiceReview],
        *,
        action: str,
        title: str,
        will: list[InvoiceReview],
        left: list[tuple[InvoiceReview, str]],
        reason_label: str = "",
    ) -> HttpResponse:
        """The page that lists what a bulk action will do, and what it leaves, before it
        does anything."""
        return TemplateResponse(
            request,
            "admin/billing/invoicereview/confirm_bulk.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.model._meta,
                "action": action,
                "will": will,
                "left": left,
                "selected": [str(pk) for pk in queryset.values_list("pk", flat=True)],
                "reason_label": reason_label,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Approve the selected clean drafts", permissions=["approve_invoice"])
    def approve_clean(
        self, request: HttpRequest, queryset: QuerySet[InvoiceReview]
    ) -> HttpResponse | None:
        chosen = list(queryset.select_related("account").order_by("stripe_created_at", "pk"))
        clean = [r for r in chosen if r.status == InvoiceReview.Status.CLEAN]
        # Left for a person: a flag, a hold or a second approval waits on them.
        waiting = [
            (r, f"{r.get_status_display()}: open it to decide")
            for r in chosen
            if r.status
            in (
                InvoiceReview.Status.FLAGGED,
                InvoiceReview.Status.HELD,
                InvoiceReview.Status.AWAITING_SECOND,
            )
        ]
        if request.POST.get("confirm") != "yes":
            decided = [
                (r, f"{r.get_status_display()} already")
                for r in chosen
                if r not in clean and r.status not in {w.status for w, _ in waiting}
            ]
            return self._confirmation(
                request,
                queryset,
                action="approve_clean",
                title=f"Approve and finalize {len(clean)} clean draft(s)?",
                will=clean,
                left=waiting + decided,
            )
        done, refused = 0, []
        for review in clean:
            try:
                with transaction.atomic():
                    reviews.invoice_approve(review=review, by=request.user)
                done += 1
            except (ValidationError, PermissionDenied) as error:
                why = " ".join(getattr(error, "messages", [str(error)]))
                refused.append(f"{review.stripe_invoice_id}: {why}")
        message = f"{done} clean draft(s) approved; {len(waiting)} not clean left for a person"
        if waiting:
            names = [r.stripe_invoice_id for r, _ in waiting]
            message += (
                f" ({', '.join(names[:10])}{', ...' if len(names) > 10 else ''}: open each "
                "to approve it with a justification, or hold it)"
            )
        self.message_user(request, message + ".", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)
        return None

    @admin.action(
        description="Void the selected finalized invoices", permissions=["approve_invoice"]
    )
    def void_finalized(
        self, request: HttpRequest, queryset: QuerySet[InvoiceReview]
    ) -> HttpResponse | None:
        chosen = list(queryset.select_related("account").order_by("stripe_created_at", "pk"))
        status = {
            i: str(data.get("status") or "draft")
            for i, data in Invoice.objects.filter(
                id__in=[r.stripe_invoice_id for r in chosen]
            ).values_list("id", "stripe_data")
        }

        def stripe_says(review: InvoiceReview) -> str:
            return status.get(review.stripe_invoice_id, "draft")

        voidable = [
            r for r in chosen if "void" in reviews.invoice_actions_allowed(r, stripe_says(r))
        ]
        left = [
            (
                r,
                f"{reviews.STATUS_WORDS.get(stripe_says(r), stripe_says(r))}: Stripe voids only "
                "finalized invoices",
            )
            for r in chosen
            if r not in voidable
        ]
        reason = str(request.POST.get("reason") or "").strip()
        if request.POST.get("confirm") != "yes" or not reason:
            if request.POST.get("confirm") == "yes":
                self.message_user(request, "Say why the invoices are voided.", messages.ERROR)
            return self._confirmation(
                request,
                queryset,
                action="void_finalized",
                title=f"Void {len(voidable)} finalized invoice(s)?",
                will=voidable,
                left=left,
                reason_label="Why they are voided (kept in each invoice's history)",
            )
        done, refused = 0, []
        for review in voidable:
            try:
                with transaction.atomic():
                    reviews.invoice_decision_record(
                        review=review, by=request.user, action="void", why=reason
                    )
                done += 1
            except (ValidationError, PermissionDenied) as error:
                why = " ".join(getattr(error, "messages", [str(error)]))
                refused.append(f"{review.stripe_invoice_id}: {why}")
        self.message_user(
            request,
            f"{done} invoice(s) to be voided in Stripe; {len(left)} left as they are.",
            messages.SUCCESS,
        )
        for line in refused:
            self.message_user(request, line, messages.ERROR)
        return None

    @admin.action(description="Re-run the checks", permissions=["approve_invoice"])
    def rerun_checks(self, request: HttpRequest, queryset: QuerySet[InvoiceReview]) -> None:
        ids = list(queryset.values_list("stripe_invoice_id", flat=True))
        for stripe_id in ids:
            enqueue(invoice_review_task, stripe_id)
        self.message_user(request, f"Checks queued for {len(ids)} invoice(s).")


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin, BackofficeAdmin):
    """Every credit note, as asked, approved and issued; made from the invoice's page."""

    index_section = "Invoice review"
    list_display = (
        "requested_at",
        "number",
        "stripe_invoice_id",
        "account",
        "amount_money",
        "total_money",
        "reason",
        "status",
        "asked_by",
    )
    list_filter = ("status", "source", "reason", "currency")
    search_fields = ("number", "stripe_invoice_id", "stripe_credit_note_id", "account__legal_name")
    list_select_related = ("account", "requested_by")
    fields = (
        "number",
        "stripe_credit_note_id",
        "stripe_invoice_id",
        "account",
        "source",
        "status",
        "before_tax",
        "with_tax",
        "credited_lines",
        "reason",
        "memo",
        "asked",
        "requested_at",
        "second_approved_by",
        "second_approved_at",
        "issued_at",
    )
    readonly_fields = fields

    @admin.display(description="before tax")
    def before_tax(self, note: CreditNote) -> str:
        return note.amount_money

    @admin.display(description="with tax")
    def with_tax(self, note: CreditNote) -> str:
        return note.total_money

    @admin.display(description="asked by")
    def asked(self, note: CreditNote) -> str:
        return note.asked_by

    @admin.display(description="lines credited")
    def credited_lines(self, note: CreditNote) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    line.get("description") or line.get("invoice_line_item") or "-",
                    format_minor(int(line.get("amount") or 0), note.currency),
                    format_minor(int(line.get("tax") or 0), note.currency)
                    if "tax" in line
                    else "-",
                )
                for line in note.lines
            ),
        )
        return format_html(
            "<table><thead><tr><th>line</th><th>before tax</th><th>tax</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )


_AccountAdmin = type(admin.site._registry[Account])  # billing.contracts' account page


class AccountWithCreditNotesAdmin(_AccountAdmin):  # type: ignore[valid-type,misc]
    """The account page, with the credit notes issued to the account (a read-only section:
    whoever sees the account sees what it was credited)."""

    readonly_fields = (*_AccountAdmin.readonly_fields, "credit_notes_issued")
    fieldsets = (
        *(_AccountAdmin.fieldsets or ()),
        ("Credit notes", {"fields": ("credit_notes_issued",)}),
    )

    @admin.display(description="credit notes")
    def credit_notes_issued(self, account: Account) -> str:
        if account.pk is None:
            return "-"
        notes = CreditNote.objects.filter(account=account).select_related("requested_by")
        rows = format_html_join(
            "",
            "<tr>" + "<td>{}</td>" * 8 + "</tr>",
            (
                (
                    (note.issued_at or note.requested_at).date(),
                    note.number or "-",
                    note.stripe_invoice_id,
                    note.amount_money,
                    note.total_money,
                    note.get_reason_display() or "-",
                    note.get_status_display(),
                    note.asked_by,
                )
                for note in notes
            ),
        )
        if not rows:
            return "None."
        return format_html(
            "<table><thead><tr><th>date</th><th>number</th><th>invoice</th><th>before tax</th>"
            "<th>with tax</th><th>reason</th><th>status</th><th>asked by</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )


admin.site.unregister(Account)
admin.site.register(Account, AccountWithCreditNotesAdmin)


@admin.register(InvoiceApprovalLimit)
class InvoiceApprovalLimitAdmin(BackofficeAdmin):
    index_section = "Invoice review"
    list_display = ("currency", "auto_approve_below_money", "second_approver_above_money")

    @admin.display(description="approved automatically below", ordering="auto_approve_below")
    def auto_approve_below_money(self, limit: InvoiceApprovalLimit) -> str:
        if limit.auto_approve_below is None:
            return "never (a person approves)"
        return format_money(limit.auto_approve_below)

    @admin.display(description="second approver above", ordering="second_approver_above")
    def second_approver_above_money(self, limit: InvoiceApprovalLimit) -> str:
        if limit.second_approver_above is None:
            return "never (one approver)"
        return format_money(limit.second_approver_above)
