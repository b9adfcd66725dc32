"""The Collections page (failed payments, "Retry payment now", the retries and their answers)
and the Disputes page (open disputes, the evidence form). Thin: the rows are
payments.collections' and payments.disputes', the writes their services'."""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from backoffice.admin_site import ReadOnlyHistoryAdmin
from backoffice.models import User
from billing.money import format_amount
from payments.collections import (
    RETRY_PAYMENT,
    failed_payments,
    payment_retries_visible_to,
    payment_retry_request,
)
from payments.disputes import (
    EVIDENCE_FIELDS,
    SUBMIT_EVIDENCE,
    dispute_evidence_save,
    evidence_sent_for,
    open_dispute,
    open_disputes,
)
from payments.models import DisputeEvidence, PaymentRetry
from stripe_sync.writes import stripe_connected

RECENT = 50  # retries and evidence shown under the lists; the rest in each record's history


def _errors(error: ValidationError) -> str:
    return " ".join(error.messages)


@admin.register(PaymentRetry)
class PaymentRetryAdmin(ReadOnlyHistoryAdmin):
    list_display = ("stripe_invoice_id", "account", "status", "decline_code", "requested_by")
    list_select_related = ("account", "requested_by")
    readonly_fields = (
        "stripe_invoice_id",
        "account",
        "amount_owed",
        "requested_by",
        "reason",
        "requested_at",
        "status",
        "decline_code",
        "failure_message",
        "answered_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[PaymentRetry]:
        return payment_retries_visible_to(cast(User, request.user))

    @admin.display(description="amount due")
    def amount_owed(self, obj: PaymentRetry) -> str:
        return format_amount(obj.amount_due, obj.currency)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("retry/", view(self.retry_view), name="payments_paymentretry_retry"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        user = cast(User, request.user)
        rows = [
            {
                "payment": row,
                "amount": format_amount(row.amount_due, row.currency),
            }
            for row in failed_payments(user)
        ]
        retries = [
            (retry, format_amount(retry.amount_due, retry.currency))
            for retry in self.get_queryset(request).order_by("-id")[:RECENT]
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Collections: failed payments",
            "rows": rows,
            "retries": retries,
            "may_retry": user.has_perm(RETRY_PAYMENT),
            "stripe_connected": stripe_connected(),
            "opts": self.model._meta,
            "retry_url": reverse("admin:payments_paymentretry_retry"),
        }
        return TemplateResponse(request, "admin/payments/collections.html", context)

    def retry_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:payments_paymentretry_changelist"))
        user = cast(User, request.user)
        if not user.has_perm(RETRY_PAYMENT):
            raise PermissionDenied
        invoice_id = request.POST.get("invoice", "")
        try:
            retry = payment_retry_request(
                stripe_invoice_id=invoice_id, by=user, reason=request.POST.get("reason", "")
            )
        except ValidationError as error:
            messages.error(request, f"Invoice {invoice_id}: {_errors(error)}")
        else:
            retry.refresh_from_db()
            if retry.status == PaymentRetry.Status.PENDING:
                messages.success(
                    request, f"Invoice {invoice_id}: the payment is being retried in Stripe."
                )
            elif retry.status == PaymentRetry.Status.PAID:
                messages.success(request, f"Invoice {invoice_id}: paid.")
            else:
                messages.warning(
                    request,
                    f"Invoice {invoice_id}: {retry.get_status_display().lower()}"
                    f"{f' ({retry.decline_code})' if retry.decline_code else ''}: "
                    f"{retry.failure_message}",
                )
        return HttpResponseRedirect(reverse("admin:payments_paymentretry_changelist"))


class EvidenceForm(forms.Form):
    reason = forms.CharField(
        max_length=500, help_text="Why this answer (recorded with it in the history)."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in EVIDENCE_FIELDS:
            self.fields[name] = forms.CharField(
                label=label, required=False, widget=forms.Textarea(attrs={"rows": 2})
            )
        self.order_fields([*(name for name, _ in EVIDENCE_FIELDS), "reason"])


@admin.register(DisputeEvidence)
class DisputeEvidenceAdmin(ReadOnlyHistoryAdmin):
    list_display = ("stripe_dispute_id", "account", "submit", "status", "saved_by", "saved_at")
    list_select_related = ("account", "saved_by")
    readonly_fields = (
        "stripe_dispute_id",
        "account",
        "evidence",
        "submit",
        "saved_by",
        "reason",
        "saved_at",
        "status",
        "error",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[DisputeEvidence]:
        evidence = super().get_queryset(request).select_related("account", "saved_by")
        user = cast(User, request.user)
        if user.has_perm("customers.view_all_accounts"):
            return evidence
        return evidence.filter(account__account_manager=user)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path(
                "dispute/<str:dispute_id>/",
                view(self.evidence_view),
                name="payments_disputeevidence_answer",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        user = cast(User, request.user)
        disputes = open_disputes(user)
        sent = evidence_sent_for([d.stripe_dispute_id for d in disputes])
        context = {
            **self.admin_site.each_context(request),
            "title": "Disputes",
            "rows": [
                {
                    "dispute": d,
                    "amount": format_amount(d.amount, d.currency),
                    "ours": sent.get(d.stripe_dispute_id),
                    "url": reverse(
                        "admin:payments_disputeevidence_answer", args=[d.stripe_dispute_id]
                    ),
                }
                for d in disputes
            ],
            "recent": self.get_queryset(request).order_by("-id")[:RECENT],
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/payments/disputes.html", context)

    def evidence_view(self, request: HttpRequest, dispute_id: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        user = cast(User, request.user)
        dispute = open_dispute(user, dispute_id)
        if dispute is None:
            raise Http404("No open dispute of yours with this id.")
        may_answer = user.has_perm(SUBMIT_EVIDENCE)
        form = EvidenceForm(
            request.POST if request.method == "POST" else None, initial=dispute.evidence
        )
        if request.method == "POST":
            if not may_answer:
                raise PermissionDenied
            if form.is_valid():
                data = form.cleaned_data
                try:
                    record = dispute_evidence_save(
                        stripe_dispute_id=dispute_id,
                        by=user,
                        evidence={name: data[name] for name, _ in EVIDENCE_FIELDS},
                        submit="submit" in request.POST,
                        reason=data["reason"],
                    )
                except ValidationError as error:
                    form.add_error(None, error)
                else:
                    record.refresh_from_db()
                    if record.status == DisputeEvidence.Status.REFUSED:
                        messages.error(request, f"Stripe refused the evidence: {record.error}")
                    elif record.status == DisputeEvidence.Status.PENDING:
                        messages.success(
                            request,
                            f"Evidence for {dispute_id} is being sent to Stripe; its answer "
                            "shows below.",
                        )
                    else:
                        verb = "submitted" if record.submit else "saved as a draft"
                        messages.success(request, f"Evidence for {dispute_id} {verb}.")
                    return HttpResponseRedirect(
                        reverse("admin:payments_disputeevidence_changelist")
                    )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Dispute {dispute_id}",
            "dispute": dispute,
            "amount": format_amount(dispute.amount, dispute.currency),
            "form": form,
            "may_answer": may_answer and dispute.needs_response and not dispute.past_due,
            "history": DisputeEvidence.objects.filter(stripe_dispute_id=dispute_id)
            .select_related("saved_by")
            .order_by("-id"),
            "opts": self.model._meta,
            "list_url": reverse("admin:payments_disputeevidence_changelist"),
        }
        return TemplateResponse(request, "admin/payments/dispute_evidence.html", context)
