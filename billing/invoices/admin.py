"""The invoice review queue and the invoice page: where finance decides what goes out."""

from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from djstripe.models import Invoice, LineItem, TaxRate

from backoffice.admin_site import BackofficeAdmin, ReadOnlyAdmin
from billing.contracts.models import Contract
from billing.invoices import services as reviews
from billing.invoices.checks import (
    ContractExpectation,
    DraftInvoice,
    Rule,
    UsageLegs,
    compare_lines,
    draft_from_stripe,
    tax_amounts,
)
from billing.invoices.models import InvoiceApprovalLimit, InvoiceReview
from billing.invoices.selectors import invoice_review_currencies
from billing.invoices.tasks import invoice_review_task
from billing.money import format_amount, format_minor
from customers.models import Account
from stripe_sync.admin import stripe_writes_table
from stripe_sync.writes import stripe_writes_of

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
}


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


def _ago(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h"


@admin.register(InvoiceReview)
class InvoiceReviewAdmin(ReadOnlyAdmin, BackofficeAdmin):
    index_section = "Invoice review"
    change_form_template = "admin/billing/invoicereview/change_form.html"
    list_display = (
        "stripe_invoice_id",
        "status",
        "flags_summary",
        "amount_shown",
        "account",
        "account_manager",
        "age",
        "finalizes_in",
    )
    list_select_related = ("account", "account__account_manager", "contract")
    list_filter = (
        "status",
        FlagKindFilter,
        CurrencyFilter,
        "account__account_manager",
        AmountFilter,
    )
    search_fields = ("=stripe_invoice_id", "account__legal_name", "contract__number")
    search_help_text = "An invoice id (in_...), or part of a customer's name or a contract number."
    ordering = ("stripe_created_at", "id")  # oldest first
    actions = ("approve_clean", "rerun_checks")
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
        return format_amount(review.amount, review.currency) if review.currency else "-"

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

    def _expected(self, review: InvoiceReview) -> tuple[DraftInvoice, ContractExpectation | None]:
        """The draft as the checks read it, and what its contract expects for its period."""

        def read() -> tuple[DraftInvoice, ContractExpectation | None]:
            draft = draft_from_stripe(*self._invoice(review))
            if not (review.contract and draft.period):
                return draft, None
            return draft, reviews.contract_expectation(review.contract, draft.period)

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
        if expected is None:
            return "No contract covers this period: there is nothing to compare with."
        names = _tax_rate_names(
            [*expected.tax_rate_ids, *(r for x in draft.lines for r in x.tax_rate_ids)]
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
            expected.contract,
            ", ".join(f"{m} {q:,} units recorded" for m, q in sorted(expected.usage.items()))
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
        _, want = self._expected(review)
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

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(self.decide_view)
        return [
            path("<int:pk>/decide/<str:action>/", view, name="billing_invoicereview_decide"),
            *super().get_urls(),
        ]

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        review = context.get("original")
        if review is not None and request.user.has_perm(reviews.APPROVE_INVOICE):
            # The true-up is offered where the checks found one missing.
            owes_true_up = f",{Rule.MINIMUM_COMMIT}," in review.flag_rules
            context["decisions"] = [
                (label, reverse("admin:billing_invoicereview_decide", args=[review.pk, name]))
                for name, label in self.ACTIONS.items()
                if name != "true_up" or owes_true_up
            ]
            context["decision_form"] = DecisionForm()
        return super().render_change_form(request, context, *args, **kwargs)

    def decide_view(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        review = get_object_or_404(self.get_queryset(request), pk=pk)
        if action not in self.ACTIONS or request.method != "POST":
            raise PermissionDenied
        text = DecisionForm(request.POST).data.get("text", "")
        try:
            with transaction.atomic():
                self._decide(request, review, action, str(text))
        except (ValidationError, PermissionDenied) as error:
            messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
        else:
            messages.success(request, f"{self.ACTIONS[action]}: {review.stripe_invoice_id}.")
        return HttpResponseRedirect(reverse("admin:billing_invoicereview_change", args=[pk]))

    def _decide(self, request: HttpRequest, review: InvoiceReview, action: str, text: str) -> None:
        user = request.user
        if action == "approve":
            reviews.invoice_approve(review=review, by=user, justification=text)
        elif action == "hold":
            reviews.invoice_hold(review=review, by=user, note=text)
        elif action == "true_up":
            reviews.invoice_true_up_add(review=review, by=user)
        elif action == "recheck":
            transaction.on_commit(lambda: invoice_review_task.delay(review.stripe_invoice_id))
        else:
            reviews.invoice_decision_record(review=review, by=user, action=action, why=text)

    @admin.action(description="Approve the selected clean drafts", permissions=["approve_invoice"])
    def approve_clean(self, request: HttpRequest, queryset: QuerySet[InvoiceReview]) -> None:
        # Counted before approving: the ones approved below are no longer clean.
        waiting = list(
            queryset.filter(
                status__in=[
                    InvoiceReview.Status.FLAGGED,
                    InvoiceReview.Status.HELD,
                    InvoiceReview.Status.AWAITING_SECOND,
                ]
            ).values_list("stripe_invoice_id", flat=True)
        )
        done, refused = 0, []
        for review in queryset.filter(status=InvoiceReview.Status.CLEAN):
            try:
                with transaction.atomic():
                    reviews.invoice_approve(review=review, by=request.user)
                done += 1
            except (ValidationError, PermissionDenied) as error:
                why = " ".join(getattr(error, "messages", [str(error)]))
                refused.append(f"{review.stripe_invoice_id}: {why}")
        message = f"{done} clean draft(s) approved; {len(waiting)} not clean left for a person"
        if waiting:
            message += (
                f" ({', '.join(waiting[:10])}{', ...' if len(waiting) > 10 else ''}: open each "
                "to approve it with a justification, or hold it)"
            )
        self.message_user(request, message + ".", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.ERROR)

    @admin.action(description="Re-run the checks", permissions=["approve_invoice"])
    def rerun_checks(self, request: HttpRequest, queryset: QuerySet[InvoiceReview]) -> None:
        ids = list(queryset.values_list("stripe_invoice_id", flat=True))
        for stripe_id in ids:
            transaction.on_commit(lambda s=stripe_id: invoice_review_task.delay(s))  # type: ignore[misc]
        self.message_user(request, f"Checks queued for {len(ids)} invoice(s).")


@admin.register(InvoiceApprovalLimit)
class InvoiceApprovalLimitAdmin(BackofficeAdmin):
    index_section = "Invoice review"
    list_display = ("currency", "auto_approve_below", "second_approver_above")


# --- The Stripe mirror's invoice list, as finance reads it


@admin.display(description="status")
def mirrored_invoice_status(invoice: Any) -> str:
    return str(invoice.stripe_data.get("status") or "-")


@admin.display(description="total")
def mirrored_invoice_total(invoice: Any) -> str:
    """The total as money (Stripe sends minor units: 2,975.00 EUR, not 297500)."""
    data = invoice.stripe_data
    currency, total = str(data.get("currency") or "").upper(), data.get("total")
    return format_minor(int(total), currency) if currency and total is not None else "-"


# dj-stripe's invoice list shows `paid`, which reads stripe_data["paid"]: Stripe's API no longer
# sends it (our pinned version included), so the list answered a server error.
admin.site._registry[Invoice].list_display = (
    "id",
    "number",
    "customer",
    mirrored_invoice_status,
    mirrored_invoice_total,
    "created",
)
