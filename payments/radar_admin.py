"""The Radar queue page, the decisions taken on it, and the limits above which a second person
approves. Thin: the queue and the decisions are payments.radar's."""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from backoffice.admin_site import BackofficeAdmin, PageAdmin, ReadOnlyHistoryAdmin
from billing.money import format_money
from payments import radar
from payments.models import RadarApprovalLimit, RadarDecision, RadarQueue
from stripe_sync.admin import stripe_writes_table
from stripe_sync.writes import stripe_connected, stripe_writes_of


@admin.register(RadarQueue)
class RadarQueueAdmin(PageAdmin):
    """No records: its list is the Radar queue page."""

    page_permission = radar.VIEW_RADAR_QUEUE

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view
        return [
            path("", view(self.queue_view), name="payments_radarqueue_changelist"),
            path("decide/", view(self.decide_view), name="payments_radarqueue_decide"),
            path("second/<int:pk>/", view(self.second_view), name="payments_radarqueue_second"),
        ]

    def queue_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        user: Any = request.user
        may_decide = user.has_perm(radar.DECIDE_RADAR)
        sees_charges = user.has_perm("djstripe.view_charge")
        now = timezone.now()
        rows = [
            {
                "item": item,
                "amount": format_money(item.amount) if item.amount is not None else "-",
                "age": item.age(now),
                "account_url": reverse("admin:customers_account_change", args=[item.account.pk])
                if item.account
                else "",
                "charge_url": reverse("admin:djstripe_charge_change", args=[item.charge_pk])
                if sees_charges and item.charge_pk
                else "",
                "kinds": [(k, radar.RadarDecision.Kind(k).label) for k in item.kinds]
                if may_decide
                else [],
                "second_url": reverse("admin:payments_radarqueue_second", args=[item.decision.pk])
                if may_decide
                and item.decision is not None
                and item.decision.status == RadarDecision.Status.AWAITING_SECOND
                and item.decision.requested_by_id != user.pk
                else "",
            }
            for item in radar.radar_queue(user)
        ]
        if not stripe_connected() and may_decide:
            messages.warning(
                request,
                "No Stripe account is connected (STRIPE_SECRET_KEY is not set): decisions are "
                "recorded here, but nothing is sent to Stripe.",
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Radar queue",
            "rows": rows,
            "may_decide": may_decide,
            "decide_url": reverse("admin:payments_radarqueue_decide"),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/payments/radar_queue.html", context)

    def _back(self) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:payments_radarqueue_changelist"))

    def decide_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or not request.user.has_perm(radar.DECIDE_RADAR):
            raise PermissionDenied
        stripe_id = str(request.POST.get("stripe_id") or "")
        try:
            decision = radar.radar_decision_request(
                stripe_id=stripe_id,
                kind=str(request.POST.get("kind") or ""),
                reason=str(request.POST.get("reason") or ""),
                by=request.user,  # type: ignore[arg-type]
            )
        except (ValidationError, PermissionDenied) as error:
            messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
        else:
            waits = decision.status == RadarDecision.Status.AWAITING_SECOND
            messages.success(
                request,
                f"{decision.get_kind_display()}: {stripe_id} ({decision.amount_money}). "
                + (
                    "Above the limit: another finance person approves it before it is sent."
                    if waits
                    else "Sent to Stripe."
                ),
            )
        return self._back()

    def second_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if request.method != "POST" or not request.user.has_perm(radar.DECIDE_RADAR):
            raise PermissionDenied
        decision = get_object_or_404(RadarDecision, pk=pk)
        try:
            radar.radar_decision_approve(decision=decision, by=request.user)  # type: ignore[arg-type]
        except (ValidationError, PermissionDenied) as error:
            messages.error(request, " ".join(getattr(error, "messages", [str(error)])))
        else:
            messages.success(request, f"Approved as second approver: {decision}. Sent to Stripe.")
        return self._back()


@admin.register(RadarDecision)
class RadarDecisionAdmin(ReadOnlyHistoryAdmin):
    """Read only: decisions are taken on the Radar queue."""

    list_display = (
        "stripe_object_id",
        "kind",
        "amount_shown",
        "account",
        "status",
        "requested_by",
        "second_approved_by",
        "requested_at",
    )
    list_select_related = ("account", "requested_by", "second_approved_by")
    list_filter = ("status", "kind", "source")
    search_fields = ("=stripe_object_id", "=stripe_charge_id", "account__name")
    readonly_fields = (
        "source",
        "stripe_object_id",
        "stripe_charge_id",
        "account",
        "amount_shown",
        "kind",
        "reason",
        "status",
        "requested_by",
        "requested_at",
        "second_approved_by",
        "second_approved_at",
        "done_at",
        "stripe_result_id",
        "stripe_error",
        "stripe_writes",
    )
    fields = readonly_fields
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[RadarDecision]:
        return radar.radar_decisions_visible_to(request.user).select_related(  # type: ignore[arg-type]
            "account", "requested_by", "second_approved_by"
        )

    @admin.display(description="amount", ordering="amount")
    def amount_shown(self, decision: RadarDecision) -> str:
        return decision.amount_money

    @admin.display(description="requests to Stripe")
    def stripe_writes(self, decision: RadarDecision) -> str:
        return stripe_writes_table(stripe_writes_of(decision))


@admin.register(RadarApprovalLimit)
class RadarApprovalLimitAdmin(BackofficeAdmin):
    list_display = ("currency", "second_approver_above_money")

    @admin.display(description="second approver above", ordering="second_approver_above")
    def second_approver_above_money(self, limit: RadarApprovalLimit) -> str:
        return format_html("{}", format_money(limit.second_approver_above))
